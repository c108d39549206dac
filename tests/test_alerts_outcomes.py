"""Alerts for order outcomes, recorded by the order writer with the outcome: a fill (unless
ALERT_ON_FILLS is off; an emergency sell always), a rejection by the broker (unless
ALERT_ON_REJECTIONS is off), once per order however the news arrives."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from oms_api.orders.enums import EventSource
from tests.oms import OMS, wait_for

POST_ORDERS = "POST /v2/orders"


def alerts(oms: OMS) -> list[Any]:
    with oms.runtime.engine.connect() as connection:
        return list(connection.execute(text("SELECT kind, title, body FROM alerts ORDER BY id")))


def test_a_filled_trade_is_one_alert_with_what_a_trader_reads(oms: OMS) -> None:
    oms.sim.control.set_price("AAPL", "190.00")
    response = oms.trade(symbol="AAPL", qty="3", requested_by="U0ADA")
    assert response.status_code == 201, response.text
    trade = response.json()
    # The stream and the submit's own wait may both report the fill: still one alert.
    oms.runtime.orders.poll(trade["id"], EventSource.POLL)
    (alert,) = alerts(oms)
    assert alert.kind == "order_filled"
    assert alert.title == f"Trade {trade['id']} filled"
    body = alert.body if isinstance(alert.body, dict) else json.loads(alert.body)
    assert body["portfolio"] == "main" and body["symbol"] == "AAPL" and body["side"] == "buy"
    assert body["filled_qty"] == "3" and body["filled_avg_price"].startswith("190")
    assert body["requested_by"] == "U0ADA" and body["mode"] in ("SIMULATOR", "PAPER")


def test_a_rejected_order_is_an_alert_with_the_brokers_reason(oms: OMS) -> None:
    oms.sim.control.set_price("AAPL", "190.00")
    oms.sim.control.add_fault(POST_ORDERS, "reject")
    response = oms.trade(symbol="AAPL", qty="1")
    trade_id = response.json().get("id") or response.json()["error"]["details"]["trade_id"]
    # On PostgreSQL a rejection the stream brings is written in one statement and its alert
    # right after it, so the answer can come back a moment before the alert is there.
    wait_for(lambda: alerts(oms) != [], "the rejection's alert")
    kinds = [a.kind for a in alerts(oms)]
    assert kinds == ["order_rejected"], (response.text, kinds)
    assert alerts(oms)[0].title == f"Trade {trade_id} rejected"


@pytest.mark.parametrize("setting", ["alert_on_fills", "alert_on_rejections"])
def test_outcome_alerts_can_be_turned_off(oms_factory: Any, setting: str) -> None:
    with oms_factory(**{setting: False}) as oms:
        oms.create_portfolio("main")
        oms.sim.control.set_price("AAPL", "190.00")
        if setting == "alert_on_rejections":
            oms.sim.control.add_fault(POST_ORDERS, "reject")
        oms.trade(symbol="AAPL", qty="1")
        assert alerts(oms) == []
