"""The bot's OMS client: right requests, parsed answers, and failures the bot can explain."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
import respx

from slack_bot.config import load_bot_settings
from slack_bot.oms_client import OmsClient, OmsError, OmsUnavailable

BASE = "http://oms.test"
TOKEN = "oms-s3cr3t-token-value"
KEY = "5f0c6b0e1d2a4c3b9a8e7d6c5b4a3f2e"

TRADE = {
    "id": 7,
    "portfolio": "core",
    "symbol": "AAPL",
    "side": "buy",
    "qty": "2",
    "status": "filled",
    "filled_avg_price": "187.25",
    "replayed": False,
}
TRADE_BODY = {
    "portfolio": "core",
    "symbol": "AAPL",
    "side": "buy",
    "qty": Decimal("2"),
    "order_type": "limit",
    "limit_price": Decimal("187.30"),
    "time_in_force": "day",
    "requested_by": "slack:U0TRADER",
}


@pytest.fixture
def oms():
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
def client():
    with OmsClient(BASE, TOKEN, timeout=5, trade_timeout=20) as client:
        yield client


def _error(status: int, code: str, message: str, details: dict | None = None) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": code, "message": message, "details": details or {}}}
    )


def test_place_trade_sends_body_key_and_bearer_token(oms, client):
    route = oms.post("/api/v1/trade").respond(201, json=TRADE)
    assert client.place_trade(TRADE_BODY, KEY) == TRADE
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Idempotency-Key"] == KEY
    assert request.headers["Content-Type"] == "application/json"
    sent = json.loads(request.content)
    assert sent["qty"] == "2"  # Decimals go as strings, never floats
    assert sent["limit_price"] == "187.30"
    assert sent["requested_by"] == "slack:U0TRADER"


def test_place_trade_uses_the_longer_trade_timeout(oms, client):
    route = oms.post("/api/v1/trade").respond(201, json=TRADE)
    client.place_trade(TRADE_BODY, KEY)
    assert route.calls.last.request.extensions["timeout"]["read"] == 20
    other = oms.get("/api/v1/account").respond(200, json={"equity": "100"})
    client.account()
    assert other.calls.last.request.extensions["timeout"]["read"] == 5


def test_replayed_trade_is_returned_as_is(oms, client):
    oms.post("/api/v1/trade").respond(200, json={**TRADE, "replayed": True})
    assert client.place_trade(TRADE_BODY, KEY)["replayed"] is True


def test_place_trade_refuses_an_empty_key(client):
    with pytest.raises(ValueError):
        client.place_trade(TRADE_BODY, "")


def test_cancel_trade(oms, client):
    route = oms.post("/api/v1/trades/7/cancel").respond(200, json={**TRADE, "status": "canceled"})
    assert client.cancel_trade(7)["status"] == "canceled"
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_list_trades_sends_filters_and_drops_unset_ones(oms, client):
    page = {"trades": [TRADE], "next_cursor": "abc"}
    route = oms.get("/api/v1/trades").respond(200, json=page)
    since = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
    assert client.list_trades(symbol="AAPL", status=None, since=since, limit=10) == page
    params = dict(route.calls.last.request.url.params)
    assert params == {"symbol": "AAPL", "since": "2026-11-18T15:00:00+00:00", "limit": "10"}


@pytest.mark.parametrize(
    ("call", "path", "answer"),
    [
        (lambda c: c.get_trade(7), "/api/v1/trades/7", {**TRADE, "events": []}),
        (lambda c: c.account(), "/api/v1/account", {"equity": "1000.00", "mode": "PAPER"}),
        (lambda c: c.positions(), "/api/v1/positions", [{"symbol": "AAPL", "qty": "2"}]),
        (lambda c: c.portfolios(), "/api/v1/portfolios", [{"name": "core"}]),
        (lambda c: c.portfolio("core"), "/api/v1/portfolio/core", {"name": "core"}),
        (lambda c: c.quote("BRK.B"), "/api/v1/quote/BRK.B", {"symbol": "BRK.B"}),
        (lambda c: c.market_status(), "/api/v1/market-status", {"is_open": True}),
        (lambda c: c.health(), "/health", {"status": "ok"}),
    ],
)
def test_read_calls(oms, client, call, path, answer):
    route = oms.get(path).respond(200, json=answer)
    assert call(client) == answer
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_names_are_escaped_in_paths(oms, client):
    route = oms.get("/api/v1/portfolio/a%2Fb%20c").respond(200, json={"name": "a/b c"})
    assert client.portfolio("a/b c") == {"name": "a/b c"}
    assert route.called


def test_degraded_health_is_returned_not_raised(oms, client):
    oms.get("/health").respond(503, json={"status": "degraded", "database": "unavailable"})
    assert client.health()["database"] == "unavailable"


def test_no_token_sends_no_authorization_header(oms):
    route = oms.get("/api/v1/account").respond(200, json={})
    with OmsClient(BASE, None) as client:
        client.account()
    assert "Authorization" not in route.calls.last.request.headers


def test_from_settings_uses_url_token_and_timeouts(oms):
    settings = load_bot_settings(
        _env_file=None,
        oms_url=BASE + "/",
        oms_api_token=TOKEN,
        oms_timeout_seconds="3",
        oms_trade_timeout_seconds="40",
    )
    route = oms.post("/api/v1/trade").respond(201, json=TRADE)
    with OmsClient.from_settings(settings) as client:
        client.place_trade(TRADE_BODY, KEY)
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.extensions["timeout"]["read"] == 40


def test_rejected_trade_becomes_oms_error_with_field_and_trade(oms, client):
    rejected = {**TRADE, "status": "rejected"}
    oms.post("/api/v1/trade").mock(
        return_value=_error(
            402,
            "insufficient_buying_power",
            "buying power 100.00 is below the order's 374.50",
            {"field": "qty", "trade": rejected},
        )
    )
    with pytest.raises(OmsError) as raised:
        client.place_trade(TRADE_BODY, KEY)
    error = raised.value
    assert error.status == 402
    assert error.code == "insufficient_buying_power"
    assert error.message == "buying power 100.00 is below the order's 374.50"
    assert error.field == "qty"
    assert error.trade == rejected
    assert "insufficient_buying_power" in str(error)


def test_error_without_details_has_empty_details(oms, client):
    oms.get("/api/v1/quote/ZZZZ").mock(return_value=_error(400, "invalid_symbol", "unknown"))
    with pytest.raises(OmsError) as raised:
        client.quote("ZZZZ")
    assert raised.value.details == {}
    assert raised.value.field is None
    assert raised.value.trade is None


def test_proxy_html_502_is_unavailable_not_an_oms_error(oms, client):
    oms.get("/api/v1/account").respond(502, html="<html><h1>502 Bad Gateway</h1></html>")
    with pytest.raises(OmsUnavailable) as raised:
        client.account()
    assert raised.value.status == 502
    assert raised.value.maybe_sent is False
    assert "HTTP 502" in str(raised.value)


def test_gateway_error_on_a_trade_may_have_been_sent(oms, client):
    oms.post("/api/v1/trade").respond(504, text="upstream timed out")
    with pytest.raises(OmsUnavailable) as raised:
        client.place_trade(TRADE_BODY, KEY)
    assert raised.value.maybe_sent is True


def test_wrong_url_404_page_is_unavailable(oms, client):
    oms.get("/api/v1/positions").respond(404, text="Not Found")
    with pytest.raises(OmsUnavailable) as raised:
        client.positions()
    assert raised.value.maybe_sent is False


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("connection refused"), httpx.ConnectTimeout("connect timed out")],
)
def test_connect_failures_were_never_sent(oms, client, failure):
    oms.post("/api/v1/trade").mock(side_effect=failure)
    with pytest.raises(OmsUnavailable) as raised:
        client.place_trade(TRADE_BODY, KEY)
    assert raised.value.maybe_sent is False
    assert BASE in str(raised.value)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.ReadError("connection reset"),
    ],
)
def test_failures_after_sending_a_trade_may_have_been_sent(oms, client, failure):
    oms.post("/api/v1/trade").mock(side_effect=failure)
    with pytest.raises(OmsUnavailable) as raised:
        client.place_trade(TRADE_BODY, KEY)
    assert raised.value.maybe_sent is True


def test_read_timeout_on_cancel_may_have_been_sent(oms, client):
    oms.post("/api/v1/trades/7/cancel").mock(side_effect=httpx.ReadTimeout("read timed out"))
    with pytest.raises(OmsUnavailable) as raised:
        client.cancel_trade(7)
    assert raised.value.maybe_sent is True


def test_read_timeout_on_a_read_call_is_not_maybe_sent(oms, client):
    oms.get("/api/v1/account").mock(side_effect=httpx.ReadTimeout("read timed out"))
    with pytest.raises(OmsUnavailable) as raised:
        client.account()
    assert raised.value.maybe_sent is False
    assert "timed out" in str(raised.value)


def test_token_never_appears_in_errors_or_logs(oms, client, caplog):
    caplog.set_level(logging.DEBUG)
    oms.post("/api/v1/trade").mock(side_effect=httpx.ReadTimeout("read timed out"))
    oms.get("/api/v1/account").respond(502, text="Bad Gateway")
    oms.get("/api/v1/positions").mock(return_value=_error(401, "unauthorized", "bad token"))
    oms.get("/api/v1/portfolios").mock(side_effect=httpx.ConnectError("refused"))
    oms.get("/api/v1/market-status").respond(200, json={"is_open": True})
    messages = []
    for call in (
        lambda: client.place_trade(TRADE_BODY, KEY),
        client.account,
        client.positions,
        client.portfolios,
    ):
        with pytest.raises((OmsError, OmsUnavailable)) as raised:
            call()
        messages += [str(raised.value), repr(raised.value)]
    client.market_status()
    assert caplog.records  # failures are logged
    logged = [record.getMessage() for record in caplog.records]
    for text in messages + logged:
        assert TOKEN not in text
