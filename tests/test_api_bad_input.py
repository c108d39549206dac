"""Bad input anywhere in the OMS HTTP API (bodies, paths, query strings, headers): a 4xx in the
one error shape naming what is wrong, nothing written, nothing sent to the broker, never a 500.
POST /trade's body rules have their own table in test_trade_validation.py."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from oms_api.api.middleware import MAX_BODY_BYTES
from tests.oms import OMS

MAX_ID = 2**31 - 1  # trade ids are INTEGER: PostgreSQL's int4
TABLES = (
    "orders",
    "order_events",
    "fills",
    "portfolios",
    "trading_state",
    "emergency_stops",
    "alerts",
    "portfolio_limits",
)  # not audit_log: a refused attempt at a known action is recorded there, by design
# (method, path, a valid JSON body) for every route that takes a body.
BODY_ROUTES = [
    pytest.param(
        "POST",
        "/trade",
        {"portfolio": "main", "symbol": "AAPL", "side": "buy", "qty": "1"},
        id="post_trade",
    ),
    pytest.param("POST", "/portfolios", {"name": "fresh"}, id="post_portfolios"),
    pytest.param("PATCH", "/portfolios/main", {"status": "paused"}, id="patch_portfolio"),
    pytest.param("POST", "/halt", {"reason": "x"}, id="post_halt"),
    pytest.param("POST", "/resume", {"reason": "x"}, id="post_resume"),
    pytest.param("POST", "/emergency-stop", {"reason": "x"}, id="post_emergency_stop"),
    pytest.param(
        "POST",
        "/positions/AAPL/close",
        {"portfolio": "main", "reason": "x"},
        id="post_position_close",
    ),
    pytest.param("POST", "/portfolios/main/stop", {"reason": "x"}, id="post_portfolio_stop"),
    pytest.param("PUT", "/portfolios/main/limits", {"max_order_notional": "100"}, id="put_limits"),
]


@pytest.fixture
def oms(oms_factory: Any) -> Iterator[OMS]:
    """The OMS without its trade stream, a portfolio "main", and the broker's counters at 0."""
    with oms_factory(stream_enabled=False, background=False) as running:
        running.create_portfolio("main")
        running.sim.control.reset_counters()
        yield running


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table: connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            for table in TABLES
        }


def refused(response: httpx.Response, status: int, code: str, *fragments: str) -> dict[str, Any]:
    """The response is the one error shape with this status and code, and its message says
    each fragment; returns the error."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    error = body["error"]
    assert error["code"] == code, error
    for fragment in fragments:
        assert fragment.lower() in error["message"].lower(), error["message"]
    return error


class Untouched:
    """Asserts, on leaving, that no row was written and the broker was asked nothing."""

    def __init__(self, oms: OMS, engine: Engine) -> None:
        self.oms, self.engine = oms, engine

    def __enter__(self) -> Untouched:
        self.before = row_counts(self.engine)
        self.portfolios = self.oms.get("/portfolios").json()  # prices the books: one broker call
        self.oms.sim.control.reset_counters()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            return
        asked = self.oms.sim.control.counters()  # before the look below (it prices the books)
        assert row_counts(self.engine) == self.before
        assert self.oms.get("/portfolios").json() == self.portfolios  # nothing updated either
        assert asked == {}


def send(
    oms: OMS, method: str, path: str, content: bytes, headers: dict[str, Any] | None = None
) -> httpx.Response:
    """Raw bytes as a JSON body (unless `headers` says otherwise)."""
    return oms.client.request(
        method,
        f"/api/v1{path}",
        content=content,
        headers={**oms.headers, "Content-Type": "application/json", **(headers or {})},
    )


def buy(oms: OMS, symbol: str = "AAPL") -> dict[str, Any]:
    response = oms.trade(symbol=symbol, qty="1")
    assert response.status_code == 201, response.text
    return response.json()


# ------------------------------------------------ 1. dates that overflow once made UTC
@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("since", "0001-01-01T00:00:00+14:00"),
        ("until", "0001-01-01T00:00:00+14:00"),
        ("since", "9999-12-31T23:59:59-14:00"),
        ("until", "9999-12-31T23:59:59-14:00"),
    ],
)
def test_trade_list_time_that_overflows_in_utc_is_422_naming_it(
    oms: OMS, db_engine: Engine, param: str, value: str
) -> None:
    with Untouched(oms, db_engine):
        error = refused(
            oms.get("/trades", params={param: value}), 422, "malformed_request", f"{param}:"
        )
    assert "out of range" in error["message"]


def test_trade_list_accepts_the_extreme_times_that_fit(oms: OMS) -> None:
    buy(oms)
    extremes = {"since": "0001-01-01T00:00:00", "until": "9999-12-31T23:59:59+00:00"}
    assert len(oms.get("/trades", params=extremes).json()["trades"]) == 1


# ------------------------------------------------ 1. ids and cursors beyond the id range
@pytest.mark.parametrize("trade_id", [0, -1, 2**31, 2**63, 2**64, 10**30])
def test_trade_id_outside_1_to_2_31_minus_1_is_422_on_show_and_cancel(
    oms: OMS, db_engine: Engine, trade_id: int
) -> None:
    with Untouched(oms, db_engine):
        for response in (
            oms.get(f"/trades/{trade_id}"),
            oms.post(f"/trades/{trade_id}/cancel"),
        ):
            error = refused(response, 422, "malformed_request", "trade_id:")
            assert (
                str(MAX_ID) in error["message"]
                or "greater than or equal to 1" in (error["message"])
            )


def test_largest_trade_id_is_an_ordinary_unknown_trade(oms: OMS, db_engine: Engine) -> None:
    with Untouched(oms, db_engine):
        refused(oms.get(f"/trades/{MAX_ID}"), 404, "trade_not_found", str(MAX_ID))
        refused(oms.post(f"/trades/{MAX_ID}/cancel"), 404, "trade_not_found", str(MAX_ID))


def _cursor(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "payload",
    [
        f"id:{2**31}",
        f"id:{2**63}",
        f"id:{2**64}",
        "id:0",
        "id:-1",
        "id:+5",
        "id:1_0",
        "id: 5",
        "id:\u0665",  # ARABIC-INDIC DIGIT FIVE: int() would take it
        "id:",
        "ID:5",
    ],
)
def test_cursor_beyond_the_id_range_or_not_handed_out_is_400_invalid_cursor(
    oms: OMS, db_engine: Engine, payload: str
) -> None:
    with Untouched(oms, db_engine):
        refused(
            oms.get("/trades", params={"cursor": _cursor(payload)}),
            400,
            "invalid_cursor",
            "cursor",
        )


def test_cursor_at_the_largest_id_lists_every_trade(oms: OMS) -> None:
    placed = buy(oms)
    page = oms.get("/trades", params={"cursor": _cursor(f"id:{MAX_ID}")}).json()
    assert [t["id"] for t in page["trades"]] == [placed["id"]]


# ------------------------------------------------ 1. NUL in paths, query strings and bodies
@pytest.mark.parametrize(
    ("method", "path", "params", "body", "field"),
    [
        pytest.param("GET", "/trades", {"portfolio": "ma\0in"}, None, "portfolio", id="trades_pf"),
        pytest.param("GET", "/trades", {"symbol": "AA\0PL"}, None, "symbol", id="trades_symbol"),
        pytest.param("GET", "/trades", {"cursor": "aWQ6\0MQ"}, None, "cursor", id="cursor"),
        pytest.param("GET", "/quote/AA%00PL", None, None, "symbol", id="quote"),
        pytest.param("GET", "/portfolio/ma%00in", None, None, "name", id="portfolio_view"),
        pytest.param(
            "PATCH", "/portfolios/ma%00in", None, {"status": "paused"}, "name", id="patch_name"
        ),
        pytest.param("POST", "/portfolios", None, {"name": "ne\0w"}, "name", id="create_name"),
    ],
)
def test_nul_character_in_a_parameter_or_portfolio_name_is_422_naming_it(
    oms: OMS,
    db_engine: Engine,
    method: str,
    path: str,
    params: dict[str, str] | None,
    body: dict[str, Any] | None,
    field: str,
) -> None:
    with Untouched(oms, db_engine):
        response = oms.client.request(
            method, f"/api/v1{path}", params=params, json=body, headers=oms.headers
        )
        refused(response, 422, "malformed_request", f"{field}:")


# ------------------------------------------------ 1. JSON nested too deeply
@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES)
def test_json_nested_too_deeply_is_422_on_every_body_route(
    oms: OMS, db_engine: Engine, method: str, path: str, body: dict[str, Any]
) -> None:
    depth = 30_000  # 60 KB: within the size limit, far past what the parser can recurse
    deep = b'{"x": ' + b"[" * depth + b"]" * depth + b"}"
    assert len(deep) <= MAX_BODY_BYTES
    with Untouched(oms, db_engine):
        refused(send(oms, method, path, deep), 422, "malformed_request", "nested too deeply")


@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES)
def test_json_nested_100000_deep_is_refused_for_its_size_before_parsing(
    oms: OMS, db_engine: Engine, method: str, path: str, body: dict[str, Any]
) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with Untouched(oms, db_engine):
        refused(send(oms, method, path, deep), 413, "payload_too_large")


# ------------------------------------------------ 2. non-ASCII that upper-cases to a ticker
@pytest.mark.parametrize("symbol", ["m\u017fft", "\u0131bm", "aapl\u200b", "\uff21\uff21PL"])
def test_quote_of_a_non_ascii_symbol_is_refused_without_asking_the_broker(
    oms: OMS, db_engine: Engine, symbol: str
) -> None:
    # U+017F long s upper-cases to S (MSFT), U+0131 dotless i to I (IBM); fullwidth A.
    with Untouched(oms, db_engine):
        refused(oms.get(f"/quote/{symbol}"), 400, "invalid_symbol", "1-5 letters A-Z")


def test_trade_list_symbol_filter_refuses_non_ascii_instead_of_matching_msft(
    oms: OMS, db_engine: Engine
) -> None:
    buy(oms, "MSFT")
    assert len(oms.get("/trades", params={"symbol": "msft"}).json()["trades"]) == 1
    with Untouched(oms, db_engine):
        refused(
            oms.get("/trades", params={"symbol": "m\u017fft"}),
            400,
            "invalid_symbol",
            "symbol",
            "1-5 letters A-Z",
        )


def test_portfolio_named_with_a_kelvin_sign_is_not_created_as_its_ascii_lookalike(
    oms: OMS, db_engine: Engine
) -> None:
    # U+212A KELVIN SIGN lower-cases to an ASCII k.
    with Untouched(oms, db_engine):
        refused(oms.post("/portfolios", {"name": "\u212aelvin"}), 422, "malformed_request", "name")
    oms.create_portfolio("kelvin")
    with Untouched(oms, db_engine):
        refused(oms.get("/portfolio/\u212aelvin"), 404, "portfolio_not_found")
        refused(
            oms.patch("/portfolios/\u212aelvin", {"status": "paused"}), 404, "portfolio_not_found"
        )
        trade = {"portfolio": "\u212aelvin", "symbol": "AAPL", "side": "buy", "qty": "1"}
        refused(oms.post("/trade", trade), 422, "malformed_request", "portfolio:")
    assert oms.trade(portfolio="kelvin", symbol="AAPL", qty="1").status_code == 201
    assert len(oms.get("/trades", params={"portfolio": "KELVIN"}).json()["trades"]) == 1
    assert oms.get("/trades", params={"portfolio": "\u212aelvin"}).json()["trades"] == []


# ------------------------------------------------ 3. Idempotency-Key
@pytest.mark.parametrize(
    "key",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b" ", id="a_space"),
        pytest.param(b"two words", id="inner_space"),
        pytest.param(b"tab\there", id="tab"),
        pytest.param(b"bell\x07", id="control_character"),
        pytest.param(b"del\x7f", id="delete"),
        pytest.param("cl\u00e9".encode(), id="utf8_non_ascii"),
        pytest.param(b"cl\xe9", id="latin1_non_ascii"),
        pytest.param(b"k" * 201, id="201_characters"),
    ],
)
def test_bad_idempotency_key_is_422_and_places_nothing(
    oms: OMS, db_engine: Engine, key: bytes
) -> None:
    body = json.dumps({"portfolio": "main", "symbol": "AAPL", "side": "buy", "qty": "1"})
    with Untouched(oms, db_engine):
        response = send(oms, "POST", "/trade", body.encode(), {"Idempotency-Key": key})
        error = refused(
            response, 422, "malformed_request", "Idempotency-Key:", "1-200 visible ASCII"
        )
    assert error["details"]["problems"][0]["field"] == "Idempotency-Key"


def test_two_idempotency_key_headers_are_422(oms: OMS, db_engine: Engine) -> None:
    body = {"portfolio": "main", "symbol": "AAPL", "side": "buy", "qty": "1"}
    headers = [*oms.headers.items(), ("Idempotency-Key", "first"), ("Idempotency-Key", "second")]
    with Untouched(oms, db_engine):
        response = oms.client.post("/api/v1/trade", json=body, headers=headers)
        refused(response, 422, "malformed_request", "Idempotency-Key")


def test_idempotency_key_of_200_visible_ascii_characters_is_used(oms: OMS) -> None:
    visible = "".join(chr(c) for c in range(0x21, 0x7F))  # every printable but space
    key = (visible * 3)[:200]
    first = oms.trade(idempotency_key=key, symbol="AAPL", qty="1")
    again = oms.trade(idempotency_key=key, symbol="AAPL", qty="1")
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"] is True
    assert oms.sim.control.counters().get("POST /v2/orders") == 1


# ------------------------------------------------ 4. bodies that are not JSON
@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/+json",
        "text/json",
    ],
)
@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES)
def test_body_that_is_not_declared_json_is_415(
    oms: OMS,
    db_engine: Engine,
    method: str,
    path: str,
    body: dict[str, Any],
    content_type: str | None,
) -> None:
    headers = dict(oms.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    with Untouched(oms, db_engine):
        response = oms.client.request(
            method, f"/api/v1{path}", content=json.dumps(body).encode(), headers=headers
        )
        refused(response, 415, "unsupported_media_type", "application/json")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        "application/merge-patch+json",
        "application/vnd.api+json",
    ],
)
def test_json_media_types_are_accepted(oms: OMS, content_type: str) -> None:
    headers = {"Content-Type": content_type}
    response = send(oms, "POST", "/portfolios", b'{"name": "fresh"}', headers)
    assert response.status_code == 201, response.text
    changed = send(oms, "PATCH", "/portfolios/fresh", b'{"status": "paused"}', headers)
    assert changed.json()["status"] == "paused", changed.text


def test_trade_with_charset_in_content_type_is_placed(oms: OMS) -> None:
    body = b'{"portfolio": "main", "symbol": "AAPL", "side": "buy", "qty": "1"}'
    response = send(
        oms, "POST", "/trade", body, {"Content-Type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 201, response.text


# ------------------------------------------------ 5. body size limit
@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES)
def test_body_over_64_kib_is_413(
    oms: OMS, db_engine: Engine, method: str, path: str, body: dict[str, Any]
) -> None:
    # Valid JSON, padded with whitespace: refused for its size alone.
    raw = json.dumps(body).encode()
    padded = raw + b" " * (MAX_BODY_BYTES + 1 - len(raw))
    with Untouched(oms, db_engine):
        error = refused(send(oms, method, path, padded), 413, "payload_too_large", "65536 bytes")
    assert error["details"] == {"max_bytes": MAX_BODY_BYTES}


@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES)
def test_chunked_body_over_64_kib_is_413(
    oms: OMS, db_engine: Engine, method: str, path: str, body: dict[str, Any]
) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield json.dumps(body).encode()
        for _ in range(100):
            yield b" " * 16384

    with Untouched(oms, db_engine):
        response = oms.client.request(
            method,
            f"/api/v1{path}",
            content=chunks(),
            headers={**oms.headers, "Content-Type": "application/json"},
        )
        refused(response, 413, "payload_too_large")


def test_body_of_exactly_64_kib_is_read(oms: OMS) -> None:
    raw = b'{"name": "big"}'
    response = send(oms, "POST", "/portfolios", raw + b" " * (MAX_BODY_BYTES - len(raw)))
    assert response.status_code == 201, response.text


def _call_asgi(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], receive: Any):
    """Calls the app as a server would; returns (status, body)."""
    sent: list[dict[str, Any]] = []

    async def send_(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send_))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body)


def test_declared_content_length_over_the_limit_is_413_before_reading_anything(
    oms: OMS, db_engine: Engine
) -> None:
    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    headers = [
        (b"authorization", oms.headers["Authorization"].encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(10 * 1024 * 1024).encode()),
    ]
    with Untouched(oms, db_engine):
        for method, path in (("POST", "/api/v1/trade"), ("POST", "/api/v1/trades/1/cancel")):
            status, body = _call_asgi(oms.client.app, method, path, headers, receive)
            assert (status, body["error"]["code"]) == (413, "payload_too_large"), body


def test_chunked_body_is_read_no_further_than_the_limit(oms: OMS, db_engine: Engine) -> None:
    chunk, sent_chunks = 16 * 1024, 0

    async def receive() -> dict[str, Any]:  # a 10 MB body, 16 KiB at a time
        nonlocal sent_chunks
        sent_chunks += 1
        return {"type": "http.request", "body": b" " * chunk, "more_body": sent_chunks < 640}

    headers = [
        (b"authorization", oms.headers["Authorization"].encode()),
        (b"content-type", b"application/json"),
    ]
    with Untouched(oms, db_engine):
        status, body = _call_asgi(oms.client.app, "POST", "/api/v1/trade", headers, receive)
    assert (status, body["error"]["code"]) == (413, "payload_too_large"), body
    assert sent_chunks == MAX_BODY_BYTES // chunk + 1  # the chunk that crossed the limit


# ------------------------------------------------ 6. unknown fields in portfolio bodies
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"allocated_capital": "5000", "colour": "red"}, "colour"),
        ({"name": "renamed"}, "name"),
        ({"status": "paused", "allocated_capitol": "1"}, "allocated_capitol"),
    ],
)
def test_portfolio_update_with_an_unknown_field_is_422_and_changes_nothing(
    oms: OMS, db_engine: Engine, body: dict[str, Any], field: str
) -> None:
    with Untouched(oms, db_engine):
        error = refused(oms.patch("/portfolios/main", body), 422, "malformed_request", field)
    assert "extra inputs are not permitted" in error["message"].lower()
    [main] = oms.get("/portfolios").json()
    assert (Decimal(main["allocated_capital"]), main["status"]) == (Decimal(10000), "active")


def test_portfolio_create_with_an_unknown_field_is_422_and_creates_nothing(
    oms: OMS, db_engine: Engine
) -> None:
    with Untouched(oms, db_engine):
        body = {"name": "fresh", "status": "paused"}
        refused(oms.post("/portfolios", body), 422, "malformed_request", "status")
    assert [p["name"] for p in oms.get("/portfolios").json()] == ["main"]


# ------------------------------------------------ the trading controls' own fields
@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/halt", {"reason": "x" * 501}, 422, "malformed_request"),
        ("POST", "/halt", {"reason": "bad\u0000reason"}, 422, "malformed_request"),
        ("POST", "/halt", {"reason": 12}, 422, "malformed_request"),
        ("POST", "/halt", {"reason": "   "}, 422, "malformed_request"),
        ("POST", "/resume", {"reason": "x", "requested_by": "U" * 101}, 422, "malformed_request"),
        ("POST", "/emergency-stop", {"reason": ["x"]}, 422, "malformed_request"),
        (
            "POST",
            "/emergency-stop",
            {"reason": "x", "channel_id": "#desk"},
            422,
            "malformed_request",
        ),
        (
            "POST",
            "/positions/m\u017fft/close",
            {"portfolio": "main", "reason": "x"},
            400,
            "invalid_symbol",
        ),
        ("POST", "/positions/AAPL/close", {"reason": "x"}, 422, "malformed_request"),
        (
            "POST",
            "/positions/AAPL/close",
            {"portfolio": "main", "whole_account": True, "reason": "x"},
            422,
            "malformed_request",
        ),
        (
            "POST",
            "/positions/AAPL/close",
            {"whole_account": "yes please", "reason": "x"},
            422,
            "malformed_request",
        ),
        ("POST", "/positions/AAPL/close", {"portfolio": "nope", "reason": "x"}, 404, None),
        ("POST", "/portfolios/NO%20SUCH/stop", {"reason": "x"}, 404, "portfolio_not_found"),
        ("POST", "/portfolios/nope/stop", {"reason": "x"}, 404, "portfolio_not_found"),
        ("GET", "/emergency-stops/0", None, 422, "malformed_request"),
        ("GET", f"/emergency-stops/{MAX_ID + 1}", None, 422, "malformed_request"),
        ("GET", "/emergency-stops/99", None, 404, "stop_not_found"),
        ("GET", "/emergency-stops?cursor=garbage", None, 400, "invalid_cursor"),
        ("GET", "/emergency-stops?limit=0", None, 422, "malformed_request"),
        ("GET", "/emergency-stops?limit=101", None, 422, "malformed_request"),
    ],
)
def test_a_bad_trading_control_request_is_a_4xx_and_changes_nothing(
    oms: OMS,
    db_engine: Engine,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    code: str | None,
) -> None:
    audited = audit_rows(db_engine)
    with Untouched(oms, db_engine):
        if body is None:
            response = oms.client.request(method, f"/api/v1{path}", headers=oms.headers)
        else:
            response = send(oms, method, path, json.dumps(body).encode())
        assert response.status_code == status, response.text
        if code is not None:
            assert response.json()["error"]["code"] == code, response.text
    assert audit_rows(db_engine) == audited
    assert oms.get("/trading-state").json()["state"] == "active"


def audit_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT COUNT(*) FROM audit_log")).scalar_one()
