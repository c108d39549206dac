"""GET /health (open, no secrets), bearer auth on every /api/v1 route, and the API docs."""

from __future__ import annotations

import re
import socket
from typing import Any

import fastapi.routing
import httpx
import pytest

from oms_api import __version__
from tests.oms import OMS, TOKEN

# Values for path parameters when calling a route without knowing it in advance.
PATH_SAMPLES = {"trade_id": "1", "name": "main", "symbol": "AAPL"}
KNOWN_ROUTES = {
    ("POST", "/api/v1/trade"),
    ("POST", "/api/v1/trades/{trade_id}/cancel"),
    ("GET", "/api/v1/trades"),
    ("GET", "/api/v1/trades/{trade_id}"),
    ("GET", "/api/v1/portfolios"),
    ("POST", "/api/v1/portfolios"),
    ("PATCH", "/api/v1/portfolios/{name}"),
    ("GET", "/api/v1/portfolio/{name}"),
    ("GET", "/api/v1/account"),
    ("GET", "/api/v1/positions"),
    ("GET", "/api/v1/positions/by-portfolio"),
    ("GET", "/api/v1/quote/{symbol}"),
    ("GET", "/api/v1/market-status"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/alerts"),
    ("POST", "/api/v1/audit/refusals"),
    ("GET", "/api/v1/trading-state"),
    ("POST", "/api/v1/halt"),
    ("POST", "/api/v1/resume"),
    ("POST", "/api/v1/emergency-stop"),
    ("GET", "/api/v1/emergency-stops/{stop_id}"),
    ("GET", "/api/v1/emergency-stops"),
    ("POST", "/api/v1/positions/{symbol}/close"),
    ("POST", "/api/v1/portfolios/{name}/stop"),
    ("GET", "/api/v1/status"),
}
# Bodies that would do something if auth let them through.
BODIES = {
    "/api/v1/trade": {"portfolio": "main", "symbol": "AAPL", "side": "buy", "qty": "1"},
    "/api/v1/portfolios": {"name": "intruder"},
    "/api/v1/portfolios/{name}": {"status": "paused"},
    "/api/v1/audit/refusals": {"actor": "U0INTRUDER", "action": "/trade", "reason": "x"},
    "/api/v1/halt": {"reason": "intruder"},
    "/api/v1/resume": {"reason": "intruder"},
    "/api/v1/emergency-stop": {"reason": "intruder"},
    "/api/v1/positions/{symbol}/close": {"whole_account": True, "reason": "intruder"},
    "/api/v1/portfolios/{name}/stop": {"reason": "intruder"},
}


def _api_routes(oms: OMS) -> list[tuple[str, str]]:
    """Every (method, path) the app serves under /api/v1, however routers were included."""
    app = oms.client.app
    # FastAPI >= 0.165 keeps included routers as lazy entries in app.routes; its public
    # iter_route_contexts flattens them (older versions list every APIRoute directly).
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = list(flatten(app.routes)) if flatten is not None else list(app.routes)
    found = []
    for route in routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if path and methods and path.startswith("/api/v1"):
            found.extend((method, path) for method in sorted(methods))
    return sorted(found)


def _fill_path(path: str) -> str:
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: PATH_SAMPLES.get(m.group(1), "x"), path)


def _assert_error_shape(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------- /health
def test_health_needs_no_token_and_reports_every_dependency(oms):
    response = oms.client.get("/health")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["broker_last_ok_at"] is not None  # the broker was asked at start-up
    del body["broker_last_ok_at"]
    assert body == {
        "status": "ok",
        "database": "ok",
        "alpaca_connected": True,
        "stream_connected": True,
        "mode": "SIMULATOR",
        "version": __version__,
        "broker_host": "127.0.0.1",
        "broker_allowed_by_setting": False,
        "broker_problem": None,
    }
    for secret in (TOKEN, oms.sim.key_id, oms.sim.secret_key):
        assert secret not in response.text


def test_health_reports_a_broker_that_fails(oms):
    oms.sim.control.add_fault("*", "status", status=503, count=None)
    # The OMS learns it from its own traffic (or its probe), not from the health request.
    assert oms.get("/account").status_code == 503

    response = oms.client.get("/health")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["alpaca_connected"] is False
    assert body["status"] == "degraded"
    assert body["database"] == "ok"
    assert "503" in body["broker_problem"]


def test_health_never_spends_the_broker_budget(oms_factory):
    """200 unauthenticated /health calls in a row cost no broker request, and the trade
    right after them goes through (they used to exhaust the budget: 503)."""
    with oms_factory(broker_requests_per_minute=20, broker_burst=5) as oms:
        oms.create_portfolio("main")
        oms.sim.control.reset_counters()
        for _ in range(200):
            assert oms.client.get("/health").status_code == 200
        assert oms.sim.control.counters() == {}

        response = oms.trade(symbol="AAPL", qty="1")
        assert response.status_code == 201, response.text


def test_health_reports_a_broker_that_is_not_there(oms_factory):
    url = f"http://127.0.0.1:{_closed_port()}"
    with oms_factory(alpaca_base_url=url, stream_enabled=False, background=False) as oms:
        response = oms.client.get("/health")

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["alpaca_connected"], body["stream_connected"]) == (False, False)
    assert body["mode"] == "SIMULATOR"
    assert oms.sim.key_id not in response.text and TOKEN not in response.text


# ---------------------------------------------------------------------- auth
def test_route_enumeration_finds_the_whole_api(oms):
    # The auth test below walks whatever the app serves, so a route added later is covered
    # without touching it; this guards the walk itself against finding too little.
    assert set(_api_routes(oms)) >= KNOWN_ROUTES


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer "},
    ],
    ids=["none", "wrong", "longer", "basic-scheme", "no-scheme", "empty"],
)
def test_every_api_route_refuses_a_missing_or_wrong_token(oms, headers: dict[str, str]):
    routes = _api_routes(oms)
    assert len(routes) >= len(KNOWN_ROUTES)
    oms.sim.control.reset_counters()

    for method, path in routes:
        response = oms.client.request(
            method, _fill_path(path), headers=headers, json=BODIES.get(path)
        )
        assert response.status_code == 401, (method, path, response.text)
        _assert_error_shape(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == "Bearer"

    assert oms.sim.control.counters() == {}
    # Nothing was written either.
    assert [p["name"] for p in oms.get("/portfolios").json()] == ["main"]
    assert oms.get("/trades").json()["trades"] == []
    # The audit trail holds only the creation of "main".
    assert [e["action"] for e in oms.get("/audit").json()["entries"]] == ["portfolio_create"]


# ---------------------------------------------------------------------- docs
def test_openapi_docs_load(oms):
    docs = oms.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()

    spec: dict[str, Any] = oms.client.get("/openapi.json").json()
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert documented >= KNOWN_ROUTES
    assert ("GET", "/health") in documented
    trade_body = spec["paths"]["/api/v1/trade"]["post"]["requestBody"]
    schema = trade_body["content"]["application/json"]["schema"]
    schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    assert {"symbol", "side", "qty", "notional"} <= set(schema["properties"])
    assert any(s.get("scheme") == "bearer" for s in spec["components"]["securitySchemes"].values())
