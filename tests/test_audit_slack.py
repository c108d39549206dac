"""The audit trail from Slack: every refusal the bot makes is recorded by the OMS (without
holding up the answer, and without failing when the OMS is down), a refused user changes
nothing, and a cancel from Slack is recorded as the Slack user's. The real bolt app over
signed HTTP (and Socket Mode), the fake Slack Web API, the real OMS or a respx-mocked one."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from slack_bot.auth import Attempt, Authorizer, Refusal
from slack_bot.blocks import ids
from slack_bot.config import BotSettings
from slack_bot.oms_client import OmsClient
from tests.oms import OMS, TOKEN
from tests.slack_harness import (
    CHANNEL,
    FORM_META,
    MODES,
    OMS_URL,
    STRANGER,
    TRADER,
    Bot,
    bot_on_real_oms,
    mocked_oms_router,
    running_bot,
    text_of,
    trade_values,
)
from tests.waiting import wait_until


def refusals(oms: OMS) -> list[dict[str, Any]]:
    response = oms.get("/audit", params={"action": "refused_by_bot"})
    assert response.status_code == 200, response.text
    return response.json()["entries"]


def wait_for_refusals(oms: OMS, count: int = 1) -> list[dict[str, Any]]:
    wait_until(lambda: len(refusals(oms)) >= count, what="the refusal in the audit trail")
    return refusals(oms)


def resting_trade(oms: OMS) -> int:
    response = oms.trade(symbol="AAPL", qty="1", order_type="limit", limit_price="1.00")
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture
def real_bot(oms: OMS) -> Iterator[Bot]:
    with bot_on_real_oms(oms) as bot:
        yield bot


# ----------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("mode", MODES)
def test_a_user_not_allowed_is_refused_and_the_refusal_recorded(oms: OMS, mode: str) -> None:
    with bot_on_real_oms(oms, mode) as bot:
        assert bot.command("/trade", "AAPL buy 5", user=STRANGER).status_code == 200
        reply = bot.wait_reply("trade")
        assert "not allowed" in text_of(reply)
        [entry] = wait_for_refusals(oms)
        assert bot.slack.calls("views.open") == []  # no form was opened

    assert entry["actor_kind"] == "slack_user"
    assert (entry["actor"], entry["actor_name"]) == (STRANGER, STRANGER.lower())
    assert (entry["action"], entry["result"]) == ("refused_by_bot", "refused")
    assert entry["details"] == {
        "attempted": "/trade",
        "reason": "user not allowed",
        "channel_id": CHANNEL,
    }
    assert oms.get("/trades").json()["trades"] == []


def test_a_refused_cancel_changes_nothing(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    trade_id = resting_trade(oms)
    real_bot.oms_traffic.clear()  # type: ignore[attr-defined]

    real_bot.click(ids.ORDER_CANCEL, str(trade_id), user=STRANGER)
    assert "not allowed" in text_of(real_bot.wait_reply("action"))
    [entry] = wait_for_refusals(oms)

    assert entry["actor"] == STRANGER and entry["target"] == f"trade {trade_id}"
    assert entry["details"]["attempted"] == f"button {ids.ORDER_CANCEL}"
    assert oms.get(f"/trades/{trade_id}").json()["status"] == "accepted"
    asked = real_bot.oms_traffic.paths()  # type: ignore[attr-defined]
    assert not [path for path in asked if path.endswith("/cancel")]
    assert oms.get("/audit", params={"action": "cancel"}).json()["entries"] == []


def test_a_refused_form_submission_is_recorded(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    answer = real_bot.submit(ids.TRADE_FORM, trade_values(), FORM_META, user=STRANGER)
    assert answer["response_action"] == "errors"
    [entry] = wait_for_refusals(oms)
    assert entry["actor"] == STRANGER
    assert entry["details"]["attempted"] == f"form {ids.TRADE_FORM}"
    assert oms.get("/trades").json()["trades"] == []


def test_a_channel_not_allowed_is_recorded(oms: OMS) -> None:
    with bot_on_real_oms(oms, slack_allowed_channel_ids="C0ELSEWHERE") as bot:
        bot.command("/sell", "AAPL", user=TRADER)
        assert "from this channel" in text_of(bot.wait_reply("sell"))
        [entry] = wait_for_refusals(oms)
        assert bot.slack.calls("views.open") == []
    assert entry["actor"] == TRADER
    assert entry["details"] == {
        "attempted": "/sell",
        "reason": "channel not allowed",
        "channel_id": CHANNEL,
    }


def test_the_refusal_is_answered_before_the_oms_records_it(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    release = threading.Event()
    held = threading.Event()

    def hold_reports(request: httpx.Request) -> None:
        if request.url.path.endswith("/audit/refusals"):
            held.set()
            release.wait(timeout=10)

    real_bot.oms_traffic.before = hold_reports  # type: ignore[attr-defined]
    try:
        real_bot.command("/positions", user=STRANGER)
        assert held.wait(timeout=5)
        # The report is still on its way, and the user already has the answer.
        assert "not allowed" in text_of(real_bot.wait_reply("positions"))
        assert refusals(oms) == []
    finally:
        release.set()
    [entry] = wait_for_refusals(oms)
    assert entry["details"]["attempted"] == "/positions"


def test_an_oms_that_cannot_record_the_refusal_costs_the_user_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="slack_bot.refusals")
    with mocked_oms_router() as oms_api:
        report = oms_api.post("/audit/refusals").mock(side_effect=httpx.ConnectError("refused"))
        with running_bot(OmsClient(OMS_URL, TOKEN)) as bot:
            assert bot.command("/trade", "AAPL", user=STRANGER).status_code == 200
            assert "not allowed" in text_of(bot.wait_reply("trade"))
            wait_until(
                lambda: any("not in the OMS audit trail" in r.message for r in caplog.records),
                what="the lost report in the log",
            )
    assert report.call_count == 1
    [sent] = [json.loads(call.request.content) for call in report.calls]
    assert sent == {
        "actor": STRANGER,
        "actor_name": STRANGER.lower(),
        "action": "/trade",
        "reason": "user not allowed",
        "channel_id": CHANNEL,
    }
    [logged] = [r for r in caplog.records if "not in the OMS audit trail" in r.message]
    assert STRANGER in logged.message and TOKEN not in logged.message


def test_a_reporter_that_fails_never_stands_in_the_way_of_the_refusal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(_refusal: Refusal) -> None:
        raise RuntimeError("executor shut down")

    settings = BotSettings(_env_file=None, slack_trader_user_ids="U0TRADER")  # type: ignore[call-arg]
    authorizer = Authorizer(settings, on_refusal=broken)
    refusal = authorizer.check_trade(STRANGER, CHANNEL, attempt=Attempt("/trade"))
    assert refusal is not None and refusal.reason == "not_trader"
    assert any("could not hand the refusal" in r.message for r in caplog.records)


# ----------------------------------------------------------------------------- cancels
def test_a_cancel_from_slack_is_recorded_as_the_slack_users(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    trade_id = resting_trade(oms)

    real_bot.click(ids.ORDER_CANCEL, str(trade_id), user=TRADER)
    real_bot.wait_reply("action")

    [sent] = [
        r
        for r in real_bot.oms_traffic.requests  # type: ignore[attr-defined]
        if r.url.path.endswith(f"/trades/{trade_id}/cancel")
    ]
    assert json.loads(sent.content) == {
        "requested_by": TRADER,
        "requested_by_name": TRADER.lower(),
    }
    [entry] = oms.get("/audit", params={"action": "cancel"}).json()["entries"]
    assert (entry["actor_kind"], entry["actor"]) == ("slack_user", TRADER)
    assert (entry["actor_name"], entry["target"]) == (TRADER.lower(), f"trade {trade_id}")
    notes = [e["note"] for e in oms.get(f"/trades/{trade_id}").json()["events"]]
    assert "cancel requested by utrader1" in notes


# ----------------------------------------------------------------------------- the client
def test_the_client_reports_a_refusal_without_empty_fields() -> None:
    with respx.mock(base_url=f"{OMS_URL}/api/v1") as oms_api:
        route = oms_api.post("/audit/refusals").respond(201, json={"id": 1})
        client = OmsClient(OMS_URL, TOKEN)
        assert client.record_refusal("U0X1", "/trade", "user not allowed") == {"id": 1}
    request = route.calls.last.request
    assert json.loads(request.content) == {
        "actor": "U0X1",
        "action": "/trade",
        "reason": "user not allowed",
    }
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"


def test_a_cancel_without_a_user_sends_an_empty_body() -> None:
    with respx.mock(base_url=f"{OMS_URL}/api/v1") as oms_api:
        route = oms_api.post("/trades/7/cancel").respond(200, json={"id": 7})
        OmsClient(OMS_URL, TOKEN).cancel_trade(7)
    assert json.loads(route.calls.last.request.content) == {}
