"""/reconcile end to end with the OMS mocked in the contract's shapes (respx): the real bolt
app over signed HTTP requests (and Socket Mode), the fake Slack Web API. What the bot asks the
OMS, what the user sees, who gets the repair buttons, and a forged repair click refused and
reported to the audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from slack_bot.blocks import ids
from slack_bot.blocks.paging import CursorPage
from slack_bot.blocks.reconcile import KIND
from slack_bot.oms_client import OmsClient
from tests.oms import TOKEN
from tests.slack_harness import (
    ADMIN,
    CHANNEL,
    MODES,
    OMS_URL,
    STRANGER,
    TRADER,
    Bot,
    buttons,
    mocked_oms_router,
    running_bot,
    text_of,
)
from tests.test_slack_reconcile_blocks import MISSING, POSITION, STATUS, report
from tests.waiting import wait_until

REPAIRABLE = {"adopt": 1, "refresh": 1}


@pytest.fixture
def mocked_oms() -> Iterator[respx.MockRouter]:
    with mocked_oms_router() as router:
        router.post("/audit/refusals").respond(201, json={"id": 1})
        yield router


@pytest.fixture(params=MODES)
def bot(request: pytest.FixtureRequest, mocked_oms: respx.MockRouter) -> Iterator[Bot]:
    with running_bot(OmsClient(OMS_URL, TOKEN), request.param) as bot:
        yield bot


def found_report(**changes: Any) -> dict[str, Any]:
    return report([MISSING, STATUS, POSITION], repairable=REPAIRABLE, **changes)


def body_of(route: respx.Route, index: int = -1) -> dict[str, Any]:
    return json.loads(route.calls[index].request.content or b"{}")


def test_a_trader_sees_the_report_without_repair_buttons(
    bot: Bot, mocked_oms: respx.MockRouter
) -> None:
    run = mocked_oms.post("/reconcile").respond(200, json=found_report(next_cursor="cur-2"))
    assert bot.command("/reconcile", user=TRADER).status_code == 200
    answer = bot.wait_reply("reconcile")
    assert answer["response_type"] == "ephemeral"
    text = text_of(answer)
    assert ":warning: *39 of 42* in sync · *3 discrepancies*" in text
    assert "• *AAPL*: the broker holds *15*, portfolios hold *10* — 5 unmanaged" in text
    assert "the broker says *partially filled*, the OMS says *accepted*" in text
    assert "AAPL buy 5 filled at the broker (order 6f1c…), not in the OMS" in text
    assert buttons(answer, ids.RECONCILE_REPAIR) == []
    assert "An OMS admin can repair some of these" in text
    assert body_of(run) == {"requested_by": TRADER, "requested_by_name": "utrader1"}

    # Next page: one OMS request for that page of the same report, the message replaced.
    page_two = report([STATUS], discrepancy_count=51, repairable=REPAIRABLE)
    read = mocked_oms.get("/reconcile/reports/7").respond(200, json=page_two)
    [following] = buttons(answer, ids.PAGE_NEXT)
    bot.click_button(following, user=TRADER)
    second = bot.wait_reply("action")
    assert second["replace_original"] is True
    assert "Page 2 · discrepancies 51 to 51 of 51" in text_of(second)
    assert dict(read.calls.last.request.url.params) == {"limit": "50", "cursor": "cur-2"}
    assert buttons(second, ids.RECONCILE_REPAIR) == []
    assert CursorPage.from_value(buttons(second, ids.PAGE_PREV)[0]["value"], KIND).page == 0


def test_an_admin_adopts_the_missing_orders_from_the_report(
    bot: Bot, mocked_oms: respx.MockRouter
) -> None:
    mocked_oms.post("/reconcile").respond(200, json=found_report())
    adopted = dict(MISSING, repair_state="repaired", repaired_by=ADMIN)
    after = report([adopted, STATUS, POSITION], repairable={"adopt": 0, "refresh": 1})
    repair = mocked_oms.post("/reconcile/reports/7/repair").respond(
        200,
        json={
            "report": after,
            "repaired": 1,
            "failed": 0,
            "results": [{"discrepancy_id": 11, "repair_state": "repaired", "note": None}],
        },
    )
    bot.command("/reconcile", user=ADMIN)
    answer = bot.wait_reply("reconcile")
    adopt, refresh = buttons(answer, ids.RECONCILE_REPAIR)
    assert (adopt["text"]["text"], refresh["text"]["text"]) == (
        "Adopt 1 missing order",
        "Refresh 1 status",
    )
    assert "confirm" in adopt and "confirm" in refresh

    bot.click_button(adopt, user=ADMIN)
    done = bot.wait_reply("action")
    assert done["replace_original"] is True
    assert done["blocks"][0]["text"]["text"] == ":white_check_mark: Adopted 1 missing order."
    assert f"adopted by <@{ADMIN}>" in text_of(done)
    [left] = buttons(done, ids.RECONCILE_REPAIR)
    assert left["text"]["text"] == "Refresh 1 status"
    assert body_of(repair) == {
        "action": "adopt",
        "requested_by": ADMIN,
        "requested_by_name": "uadmin1",
    }


def test_a_forged_repair_click_by_a_trader_is_refused_and_recorded(
    bot: Bot, mocked_oms: respx.MockRouter
) -> None:
    repair = mocked_oms.post("/reconcile/reports/7/repair").respond(500)
    forged = json.dumps({"report": 7, "action": "adopt", "count": 1})
    bot.click(ids.RECONCILE_REPAIR, forged, user=TRADER)
    answer = text_of(bot.wait_reply("action"))
    assert "Sorry, only OMS admins may repair reconciliation discrepancies" in answer
    wait_until(
        lambda: any(r.request.url.path.endswith("/audit/refusals") for r in mocked_oms.calls),
        what="the refusal sent to the audit trail",
    )
    refused = [r for r in mocked_oms.calls if r.request.url.path.endswith("/audit/refusals")]
    assert json.loads(refused[0].request.content) == {
        "actor": TRADER,
        "actor_name": "utrader1",
        "action": f"button {ids.RECONCILE_REPAIR}",
        "target": "reconcile report 7 (adopt)",
        "reason": "user not allowed (admins only)",
        "channel_id": CHANNEL,
    }
    assert not repair.called


def test_a_repair_nothing_is_left_for_says_so_in_a_new_message(
    bot: Bot, mocked_oms: respx.MockRouter
) -> None:
    mocked_oms.post("/reconcile/reports/7/repair").respond(
        409,
        json={"error": {"code": "nothing_to_repair", "message": "no open discrepancy matches"}},
    )
    bot.click(
        ids.RECONCILE_REPAIR, json.dumps({"report": 7, "action": "refresh", "count": 2}), ADMIN
    )
    answer = bot.wait_reply("action")
    assert "replace_original" not in answer or answer["replace_original"] is False
    assert "Nothing is left to repair in this report" in text_of(answer)


def test_latest_report_bad_words_and_an_oms_that_cannot_answer(
    bot: Bot, mocked_oms: respx.MockRouter
) -> None:
    latest = mocked_oms.get("/reconcile/reports/latest").respond(
        404, json={"error": {"code": "report_not_found", "message": "no report yet"}}
    )
    bot.command("/reconcile", "latest", user=TRADER)
    assert "No reconciliation report was found — /reconcile compares" in text_of(
        bot.wait_reply("reconcile")
    )
    assert dict(latest.calls.last.request.url.params) == {"limit": "50"}

    run = mocked_oms.post("/reconcile").mock(side_effect=httpx.ConnectError("refused"))
    bot.command("/reconcile", "now please", user=TRADER)
    assert "I did not understand “now please”. Use /reconcile" in text_of(
        bot.wait_reply("reconcile", 2)
    )
    assert not run.called
    bot.command("/reconcile", user=TRADER)
    assert "OMS unavailable — try again in a minute." in text_of(bot.wait_reply("reconcile", 3))

    bot.command("/reconcile", user=STRANGER)
    assert "not allowed to compare the OMS with the broker" in text_of(
        bot.wait_reply("reconcile", 4)
    )
    assert run.call_count == 1


def test_oms_reconcile_is_reconcile(bot: Bot, mocked_oms: respx.MockRouter) -> None:
    mocked_oms.get("/reconcile/reports/latest").respond(200, json=report())
    bot.command("/oms", "reconcile latest", user=ADMIN)
    assert "the OMS and the broker agree" in text_of(bot.wait_reply("oms"))
    bot.command("/oms", "help", user=TRADER)
    assert "/reconcile [latest]" in text_of(bot.wait_reply("oms", 2))
