"""POST/GET /api/v1/sync and GET /api/v1/history against the real app and the simulator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from oms_api.simulator.history_seed import history_orders, seed_history
from tests.conftest import T0

HISTORY_START = T0 - timedelta(days=30)
OPEN_AT = T0 - timedelta(days=5)
CLOSE_AT = T0 - timedelta(days=3)


def _leg(symbol: str, side: str, intent: str, price: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "side": side,
        "ratio_qty": "1",
        "position_intent": intent,
        "filled_avg_price": price,
    }


LP, SP, SC, LC = (
    "SPY261016P00560000",
    "SPY261016P00570000",
    "SPY261016C00590000",
    "SPY261016C00600000",
)
CONDOR_OPEN = {
    "client_order_id": "ic-open-1",
    "order_class": "mleg",
    "type": "limit",
    "limit_price": "-1.95",
    "filled_avg_price": "-1.95",
    "qty": "2",
    "time_in_force": "day",
    "status": "filled",
    "submitted_at": OPEN_AT.isoformat().replace("+00:00", "Z"),
    "legs": [
        _leg(LP, "buy", "buy_to_open", "0.50"),
        _leg(SP, "sell", "sell_to_open", "1.50"),
        _leg(SC, "sell", "sell_to_open", "1.40"),
        _leg(LC, "buy", "buy_to_open", "0.45"),
    ],
}
CONDOR_CLOSE = {
    **CONDOR_OPEN,
    "client_order_id": "ic-close-1",
    "limit_price": "0.40",
    "filled_avg_price": "0.40",
    "submitted_at": CLOSE_AT.isoformat().replace("+00:00", "Z"),
    "legs": [
        _leg(LP, "sell", "sell_to_close", "0.10"),
        _leg(SP, "buy", "buy_to_close", "0.30"),
        _leg(SC, "buy", "buy_to_close", "0.25"),
        _leg(LC, "sell", "sell_to_close", "0.05"),
    ],
}


@pytest.fixture
def synced(oms) -> Any:
    """The OMS with 300 seeded historical orders plus an iron condor opened and closed."""
    seed_history(oms.sim.control, history_orders(300, seed=21, start=HISTORY_START))
    oms.sim.control.seed_orders([CONDOR_OPEN, CONDOR_CLOSE])
    response = oms.post("/sync")
    assert response.status_code == 200, response.text
    return oms


def error_code(response) -> str:
    return response.json()["error"]["code"]


# ---------------------------------------------------------------------- /sync
def test_post_sync_reports_the_run_and_get_sync_the_state(oms):
    seed_history(oms.sim.control, history_orders(30, seed=4, start=HISTORY_START))

    response = oms.post("/sync", {"full": False})

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "full",
        "pages",
        "orders_seen",
        "inserted",
        "updated",
        "unchanged",
        "positions",
        "broker_calls",
        "cursor_at",
        "started_at",
        "finished_at",
    }
    assert (body["full"], body["pages"], body["inserted"], body["broker_calls"]) == (
        True,
        1,
        30,
        2,
    )
    state = oms.get("/sync").json()
    assert state["orders_mirrored"] == 30
    assert state["cursor_at"] == body["cursor_at"]
    assert state["last_error"] is None and state["last_success_at"] is not None

    again = oms.post("/sync").json()  # no body at all: an incremental run
    assert (again["full"], again["inserted"], again["updated"]) == (False, 0, 0)


def test_post_sync_needs_the_token_and_then_calls_nobody(oms):
    before = oms.runtime.gateway.request_count
    response = oms.client.post("/api/v1/sync")
    assert response.status_code == 401
    assert error_code(response) == "unauthorized"
    assert oms.runtime.gateway.request_count == before


@pytest.mark.parametrize("body", [{"full": "yes"}, {"fulll": True}, ["full"]])
def test_post_sync_refuses_a_bad_body_without_a_broker_call(oms, body):
    before = oms.runtime.gateway.request_count
    response = oms.post("/sync", body)
    assert response.status_code == 422
    assert error_code(response) == "malformed_request"
    assert oms.runtime.gateway.request_count == before


# ---------------------------------------------------------------------- trades view
def test_the_grouped_view_shows_an_iron_condor_with_net_credit_and_realized_pnl(synced):
    response = synced.get("/history", params={"strategy": "iron_condor", "symbol": "SPY"})
    assert response.status_code == 200, response.text
    condors = [t for t in response.json()["trades"] if t["opened_at"].startswith("2026-11-13")]
    assert len(condors) == 1
    trade = condors[0]
    assert trade["underlying"] == "SPY"
    assert trade["expiry"] == "2026-10-16"
    assert (trade["legs"], trade["orders"], trade["state"]) == (4, 8, "closed")
    assert trade["net"] == {"kind": "credit", "price": "1.95", "amount": "390"}
    assert trade["realized_pnl"] == "310"  # 390 received, 80 paid to close
    assert trade["closed_at"].startswith("2026-11-15")

    detail = synced.get(f"/history/trades/{trade['trade_id']}")
    assert detail.status_code == 200, detail.text
    members = detail.json()["members"]
    assert [(m["symbol"], m["leg_number"]) for m in members] == [
        ("", None),
        (LP, 1),
        (SP, 2),
        (SC, 3),
        (LC, 4),
        ("", None),
        (LP, 1),
        (SP, 2),
        (SC, 3),
        (LC, 4),
    ]
    assert members[1]["option"] == {"expiry": "2026-10-16", "strike": "560", "type": "put"}
    assert members[1]["filled_qty"] == "2" and members[1]["filled_avg_price"] == "0.5"
    assert {m["trade_id"] for m in members} == {trade["trade_id"]}
    assert detail.json()["realized_pnl"] == "310"


def test_trades_page_through_every_trade_once_newest_first(synced):
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        params: dict[str, Any] = {"limit": 17}
        if cursor:
            params["cursor"] = cursor
        page = synced.get("/history", params=params).json()
        seen.extend(page["trades"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ids = [t["trade_id"] for t in seen]
    assert len(ids) == len(set(ids)) > 17
    keys = [(t["opened_at"], t["trade_id"]) for t in seen]
    assert keys == sorted(keys, reverse=True)
    orders = synced.get("/history", params={"view": "orders", "limit": 100}).json()["orders"]
    assert {o["trade_id"] for o in orders} <= set(ids)


def test_trade_filters_by_strategy_status_and_time(synced):
    closed = synced.get("/history", params={"status": "closed", "limit": 100}).json()["trades"]
    assert closed and {t["state"] for t in closed} == {"closed"}
    assert all(t["realized_pnl"] is not None for t in closed)

    verticals = synced.get("/history", params={"strategy": "vertical_spread"}).json()["trades"]
    assert verticals and {t["strategy"] for t in verticals} == {"vertical_spread"}

    since, until = (OPEN_AT - timedelta(hours=1)).isoformat(), OPEN_AT.isoformat()
    window = synced.get("/history", params={"since": since, "until": until}).json()["trades"]
    assert all(since <= t["opened_at"].replace("Z", "+00:00") < until for t in window)
    assert not any(
        t["strategy"] == "iron_condor"
        and t["legs"] == 4
        and t["opened_at"].startswith("2026-11-13T15:00:00")
        for t in window
    )


# ---------------------------------------------------------------------- orders view
def test_orders_view_filters_by_symbol_underlying_and_status(synced):
    by_occ = synced.get("/history", params={"view": "orders", "symbol": LP}).json()["orders"]
    assert [o["position_intent"] for o in by_occ] == ["sell_to_close", "buy_to_open"]

    spy = synced.get("/history", params={"view": "orders", "symbol": "spy", "limit": 100})
    assert spy.status_code == 200
    assert {o["underlying"] for o in spy.json()["orders"]} == {"SPY"}

    canceled = synced.get(
        "/history", params={"view": "orders", "status": "canceled", "limit": 100}
    ).json()["orders"]
    assert canceled and {o["status"] for o in canceled} == {"canceled"}
    assert all(o["canceled_at"] for o in canceled)

    closed = synced.get("/history", params={"view": "orders", "status": "closed"}).json()
    assert closed["orders"] and closed["next_cursor"]


def test_orders_view_pages_without_duplicates(synced):
    ids: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"view": "orders", "limit": 100, "symbol": "QQQ"}
        if cursor:
            params["cursor"] = cursor
        page = synced.get("/history", params=params).json()
        ids.extend(o["broker_order_id"] for o in page["orders"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(ids) == len(set(ids)) > 100


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "params, field",
    [
        ({"view": "legs"}, "view"),
        ({"strategy": "butterfly"}, "strategy"),
        ({"status": "exploded"}, "status"),
        ({"view": "orders", "status": "working"}, "status"),
        ({"since": "2026-01-01T00:00:00"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
        ({"symbol": "SP Y"}, "symbol"),
    ],
)
def test_bad_filters_are_refused_with_what_is_allowed(oms, params, field):
    response = oms.get("/history", params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_filter"
    assert error["details"]["field"] == field
    if field in ("view", "strategy", "status"):
        assert error["details"]["allowed"]


def test_foreign_or_forged_cursors_are_refused(synced):
    trades_cursor = synced.get("/history", params={"limit": 1}).json()["next_cursor"]
    orders_cursor = synced.get("/history", params={"view": "orders", "limit": 1}).json()[
        "next_cursor"
    ]
    for params in (
        {"cursor": orders_cursor},
        {"view": "orders", "cursor": trades_cursor},
        {"cursor": "not-a-cursor"},
    ):
        response = synced.get("/history", params=params)
        assert response.status_code == 400, params
        assert error_code(response) == "invalid_cursor"
    assert synced.get("/history", params={"limit": 0}).status_code == 422


def test_an_unknown_trade_is_404(oms):
    for trade_id in ("tr_0123abcd", "nonsense"):
        response = oms.get(f"/history/trades/{trade_id}")
        assert response.status_code == 404
        assert error_code(response) == "trade_not_found"
