"""The /reconcile message apart from Slack and the OMS: the in-sync count, each discrepancy in
one line saying in plain words what differs, repair buttons behind a confirm for admins only,
page buttons over the discrepancies — always within Slack's limits and slack_sdk's checks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from slack_bot.blocks import ids
from slack_bot.blocks.paging import CursorPage
from slack_bot.blocks.reconcile import (
    DISCREPANCIES_PER_PAGE,
    KIND,
    discrepancy_line,
    parse_repair_value,
    reconcile_message,
    repair_notice,
    repair_value,
)
from tests.slack_harness import buttons

CHECKED_AT = "2025-11-24T15:00:00Z"
CHECKED_TOKEN = "<!date^1763996400^{date_short_pretty} {time}|Mon 24 Nov 15:00 UTC>"


def check_message(msg: dict[str, Any]) -> str:
    assert set(msg) == {"text", "blocks"} and msg["text"]
    assert len(msg["blocks"]) <= 50
    for block in msg["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.to_dict()  # Slack's limits, checked by slack_sdk
        text = (block.get("text") or {}).get("text") or ""
        assert len(text) <= 3000
    return json.dumps(msg, ensure_ascii=False)


def item(kind: str, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": 1,
        "kind": kind,
        "symbol": "AAPL",
        "order_id": None,
        "broker_order_id": None,
        "client_order_id": None,
        "portfolio": None,
        "oms_value": None,
        "broker_value": None,
        "message": f"{kind} on AAPL",
        "repair": None,
        "repair_state": "open",
        "repaired_at": None,
        "repaired_by": None,
        "repair_note": None,
    }
    row.update(changes)
    return row


def report(discrepancies: list[dict[str, Any]] | None = None, **changes: Any) -> dict[str, Any]:
    found = discrepancies or []
    body: dict[str, Any] = {
        "id": 7,
        "trigger": "manual",
        "requested_by": "UADMIN1",
        "checked": 42,
        "in_sync": 42 - len(found),
        "discrepancy_count": len(found),
        "checked_at": CHECKED_AT,
        "window_start": "2025-11-17T15:00:00Z",
        "broker_calls": 3,
        "by_kind": {},
        "repairable": {"adopt": 0, "refresh": 0},
        "discrepancies": found,
        "next_cursor": None,
    }
    for row in found:
        body["by_kind"][row["kind"]] = body["by_kind"].get(row["kind"], 0) + 1
    body.update(changes)
    return body


MISSING = item(
    "missing_in_oms",
    id=11,
    broker_order_id="6f1c2a9b-0000-4000-8000-000000000001",
    message="AAPL buy 5 filled at the broker (order 6f1c…), not in the OMS (portfolio main)",
    repair="adopt",
)
STATUS = item(
    "status_mismatch",
    id=12,
    symbol="MSFT",
    order_id=31,
    oms_value="accepted",
    broker_value="partially_filled",
    repair="refresh",
)
POSITION = item("position_mismatch", id=13, oms_value="10", broker_value="15")


def test_each_discrepancy_says_in_plain_words_what_differs() -> None:
    assert discrepancy_line(POSITION) == (
        "• *AAPL*: the broker holds *15*, portfolios hold *10* — 5 unmanaged"
    )
    assert discrepancy_line(item("position_mismatch", oms_value="12", broker_value="4")) == (
        "• *AAPL*: the broker holds *4*, portfolios hold *12* — portfolios hold 8 more than "
        "the broker"
    )
    assert discrepancy_line(STATUS) == (
        "• *MSFT* order #31: the broker says *partially filled*, the OMS says *accepted*"
        " · _can be refreshed_"
    )
    filled = item(
        "filled_qty_mismatch", order_id=4, oms_value="3", broker_value="5", portfolio="growth"
    )
    assert discrepancy_line(filled) == (
        "• *AAPL* order #4: the broker filled *5*, the OMS records *3* (portfolio growth)"
    )
    price = item(
        "price_mismatch", broker_order_id="abcdef123456", oms_value="190", broker_value="190.05"
    )
    assert discrepancy_line(price) == (
        "• *AAPL* broker order `abcdef12…`: the broker's fill price is *$190.05*, "
        "the OMS records *$190.00*"
    )
    # A missing order: the OMS's own sentence says it best.
    assert discrepancy_line(MISSING) == (
        "• AAPL buy 5 filled at the broker (order 6f1c…), not in the OMS (portfolio main)"
        " · _can be adopted_"
    )
    # Values that do not read as the kind says: the OMS's sentence, not a garbled one.
    odd = item("filled_qty_mismatch", oms_value="n/a", broker_value="5", message="qty differs")
    assert discrepancy_line(odd) == "• qty differs"


def test_repaired_and_failed_discrepancies_say_so_and_broker_text_is_escaped() -> None:
    done = dict(MISSING, repair_state="repaired", repaired_by="UADMIN1", repaired_at=CHECKED_AT)
    assert discrepancy_line(done).endswith(
        f"· :white_check_mark: adopted by <@UADMIN1> {CHECKED_TOKEN}"
    )
    failed = dict(STATUS, repair_state="failed", repair_note="broker <timeout>")
    assert discrepancy_line(failed).endswith(" · :x: repair failed: broker &lt;timeout&gt;")
    nasty = item("missing_at_broker", message="<!channel> & <@U1> gone")
    assert discrepancy_line(nasty) == "• &lt;!channel&gt; &amp; &lt;@U1&gt; gone"
    assert len(discrepancy_line(item("missing_at_broker", message="x" * 500))) <= 450


def test_a_report_in_sync_says_so_without_buttons() -> None:
    text = check_message(reconcile_message(report(), admin=True))
    assert ":white_check_mark: *42 of 42* in sync — the OMS and the broker agree." in text
    assert f"Checked {CHECKED_TOKEN} (run by <@UADMIN1>)" in text
    assert "3 broker calls" in text
    msg = reconcile_message(report(), admin=True)
    assert buttons(msg, ids.RECONCILE_REPAIR) == [] and buttons(msg, ids.PAGE_NEXT) == []
    assert msg["text"] == "Reconciliation #7: the OMS and the broker agree"


def test_admins_get_repair_buttons_behind_a_confirm_and_traders_do_not() -> None:
    body = report([MISSING, STATUS, POSITION], repairable={"adopt": 1, "refresh": 1})
    text = check_message(reconcile_message(body, admin=False))
    assert (
        ":warning: *39 of 42* in sync · *3 discrepancies*: 1 missing in the OMS, "
        "1 status differs, 1 position differs"
    ) in text
    assert "An OMS admin can repair some of these from /reconcile." in text
    assert buttons(reconcile_message(body, admin=False), ids.RECONCILE_REPAIR) == []

    msg = reconcile_message(body, admin=True)
    check_message(msg)
    adopt, refresh = buttons(msg, ids.RECONCILE_REPAIR)
    assert adopt["text"]["text"] == "Adopt 1 missing order"
    assert refresh["text"]["text"] == "Refresh 1 status"
    assert parse_repair_value(adopt["value"]) == {"report": 7, "action": "adopt", "count": 1}
    assert adopt["confirm"]["title"]["text"] == "Adopt missing orders?"
    assert "Nothing is sent to the broker." in adopt["confirm"]["text"]["text"]
    assert adopt["confirm"]["confirm"]["text"] == "Adopt 1"

    many = reconcile_message(report([MISSING], repairable={"adopt": 3, "refresh": 2}), admin=True)
    labels = [b["text"]["text"] for b in buttons(many, ids.RECONCILE_REPAIR)]
    assert labels == ["Adopt 3 missing orders", "Refresh 2 statuses"]


def test_a_full_page_of_long_discrepancies_stays_within_slacks_limits() -> None:
    rows = [
        item("missing_at_broker", id=n, message=f"{n} " + "y" * 495)
        for n in range(DISCREPANCIES_PER_PAGE)
    ]
    body = report(
        rows, discrepancy_count=120, next_cursor="c" * 40, repairable={"adopt": 0, "refresh": 5}
    )
    msg = reconcile_message(body, admin=True)
    text = check_message(msg)
    assert "Page 1 · discrepancies 1 to 50 of 120" in text
    shown = "".join((b.get("text") or {}).get("text") or "" for b in msg["blocks"])
    assert all(f"• {n} y" in shown for n in range(DISCREPANCIES_PER_PAGE))
    assert len(buttons(msg, ids.RECONCILE_REPAIR)) == 1


def test_page_buttons_carry_the_report_and_the_cursors() -> None:
    body = report([STATUS], discrepancy_count=80, next_cursor="cur-2")
    [following] = buttons(reconcile_message(body), ids.PAGE_NEXT)
    page = CursorPage.from_value(following["value"], KIND)
    assert (page.filters, page.page, page.cursor, page.back) == ({"report": 7}, 1, "cur-2", (None,))

    second = reconcile_message(dict(body, next_cursor=None), page)
    assert "Page 2 · discrepancies 51 to 51 of 80" in check_message(second)
    assert buttons(second, ids.PAGE_NEXT) == []
    [previous] = buttons(second, ids.PAGE_PREV)
    assert CursorPage.from_value(previous["value"], KIND).cursor is None


def test_repair_outcomes_in_one_line() -> None:
    assert repair_notice({"repaired": 3, "failed": 0, "results": []}, "adopt") == (
        ":white_check_mark: Adopted 3 missing orders."
    )
    assert repair_notice({"repaired": 1, "failed": 0, "results": []}, "refresh") == (
        ":white_check_mark: Refreshed 1 status."
    )
    outcome = {
        "repaired": 1,
        "failed": 1,
        "results": [
            {"discrepancy_id": 1, "repair_state": "repaired", "note": None},
            {"discrepancy_id": 2, "repair_state": "failed", "note": "broker <busy>"},
        ],
    }
    assert repair_notice(outcome, "refresh") == (
        ":warning: Refreshed 1 of 2; 1 failed (see the lines marked :x:). "
        "First failure: broker &lt;busy&gt;"
    )
    msg = reconcile_message(report([STATUS]), admin=True, notice=repair_notice(outcome, "adopt"))
    assert msg["blocks"][0]["text"]["text"].startswith(":warning: Adopted 1 of 2")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "nope",
        "[]",
        json.dumps({"report": 7, "action": "delete", "count": 1}),
        json.dumps({"report": "7", "action": "adopt", "count": 1}),
        json.dumps({"report": 0, "action": "adopt", "count": 1}),
        json.dumps({"report": True, "action": "adopt", "count": 1}),
        json.dumps({"report": 7, "action": "adopt", "count": -1}),
    ],
)
def test_a_forged_repair_value_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        parse_repair_value(value)
    assert parse_repair_value(repair_value(7, "refresh", 2))["action"] == "refresh"
