"""GET /api/v1/alerts: every alert newest first with its delivery state (pending, delivered,
failed), attempts, last error, Slack ts and channel; filters and cursor pages; whether the
OMS delivers at all. The real OMS app on the session database, the fake Slack Web API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from oms_api.alerts.outbox import AlertKind
from tests.alerts_support import (
    CHANNEL,
    OTHER_CHANNEL,
    T0,
    TOKEN,
    FakeTime,
    deliverer,
    record_alert,
    sample_body,
)
from tests.oms import OMS
from tests.slack_fakes import FakeSlackAPI

POST = "chat.postMessage"


@pytest.fixture
def fake() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as api:
        yield api


@pytest.fixture
def oms(oms_factory: Any, fake: FakeSlackAPI) -> Iterator[OMS]:
    with oms_factory(
        stream_enabled=False,
        background=False,
        slack_bot_token=TOKEN,
        slack_alerts_channel_id=CHANNEL,
        slack_api_url=fake.base_url,
    ) as running:
        yield running


def test_get_alerts_shows_each_alerts_delivery_state(oms: OMS, fake: FakeSlackAPI) -> None:
    engine, clock = oms.runtime.engine, FakeTime()
    alerts = deliverer(engine, oms.runtime.settings, clock)
    record_alert(engine, "Trading halted")
    alerts.deliver_due()
    record_alert(engine, "Trading resumed", AlertKind.RESUMED, channel_id=OTHER_CHANNEL)
    fake.fail(POST, "channel_not_found", times=1)
    alerts.deliver_due()
    clock.advance(5)
    record_alert(engine, "Order filled", AlertKind.ORDER_FILLED)
    fake.fail(POST, "service_unavailable", times=1, status=503)
    alerts.deliver_due()

    response = oms.get("/alerts")

    assert response.status_code == 200, response.text
    page = response.json()
    assert page["delivery"] == "configured" and page["next_cursor"] is None
    waiting, refused, delivered = page["alerts"]
    assert {k: waiting[k] for k in ("title", "kind", "state", "attempts", "channel")} == {
        "title": "Order filled",
        "kind": "order_filled",
        "state": "pending",
        "attempts": 1,
        "channel": CHANNEL,
    }
    assert waiting["last_error"] == "HTTP 503: service_unavailable"
    assert waiting["next_attempt_at"] == "2026-11-18T15:00:06Z"
    assert waiting["slack_ts"] is None and waiting["delivered_at"] is None
    assert waiting["body"] == sample_body(AlertKind.ORDER_FILLED)
    assert (refused["state"], refused["last_error"], refused["channel"]) == (
        "failed",
        "channel_not_found",
        OTHER_CHANNEL,
    )
    assert (delivered["state"], delivered["attempts"], delivered["last_error"]) == (
        "delivered",
        1,
        None,
    )
    assert delivered["slack_ts"] == "1700000001.000100"  # the fake's first message
    assert delivered["delivered_at"] == T0.isoformat().replace("+00:00", "Z")
    assert TOKEN not in response.text


def test_get_alerts_filters_and_pages_newest_first(oms: OMS) -> None:
    engine = oms.runtime.engine
    for number in range(5):
        record_alert(engine, f"halt {number}")
    record_alert(engine, "filled", AlertKind.ORDER_FILLED)

    halts = oms.get("/alerts", params={"kind": "halted", "state": "pending"}).json()["alerts"]
    assert [a["title"] for a in halts] == [f"halt {n}" for n in (4, 3, 2, 1, 0)]
    assert oms.get("/alerts", params={"state": "delivered"}).json()["alerts"] == []
    future = {"since": "2999-01-01T00:00:00"}
    past = {"until": "2000-01-01T00:00:00+02:00"}
    assert oms.get("/alerts", params=future).json()["alerts"] == []
    assert oms.get("/alerts", params=past).json()["alerts"] == []
    assert len(oms.get("/alerts", params={"since": "2000-01-01T00:00:00Z"}).json()["alerts"]) == 6

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = oms.get("/alerts", params=params).json()
        seen += [a["id"] for a in page["alerts"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 2 and seen == sorted(seen, reverse=True) and len(set(seen)) == 6


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"cursor": "bm90LWEtY3Vyc29y"}, 400, "invalid_cursor"),
        ({"cursor": "aWQ6MQ"}, 400, "invalid_cursor"),  # a /trades cursor ("id:1")
        ({"cursor": "YWxlcnQ6LTE"}, 400, "invalid_cursor"),  # "alert:-1"
        ({"limit": 0}, 422, "malformed_request"),
        ({"limit": 201}, 422, "malformed_request"),
        ({"state": "lost"}, 422, "malformed_request"),
        ({"kind": "coffee_break"}, 422, "malformed_request"),
        ({"since": "yesterday"}, 422, "malformed_request"),
    ],
)
def test_bad_alert_queries_get_a_clear_4xx(
    oms: OMS, params: dict[str, Any], status: int, code: str
) -> None:
    response = oms.get("/alerts", params=params)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_without_slack_settings_the_answer_says_delivery_is_not_configured(
    oms_factory: Any,
) -> None:
    with oms_factory(stream_enabled=False, background=False) as plain:
        record_alert(plain.runtime.engine, "Trading halted")
        page = plain.get("/alerts").json()

    assert page["delivery"] == "not configured"
    [alert] = page["alerts"]
    assert (alert["state"], alert["channel"]) == ("pending", None)
