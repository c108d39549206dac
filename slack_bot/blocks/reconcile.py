"""The /reconcile message: how many orders and positions the OMS and the broker agree on, each
discrepancy in one line saying what differs, page buttons over the discrepancies, and for
admins the repair buttons ("Adopt 3 missing orders", "Refresh 2 statuses") behind a confirm.

Pure functions of the OMS's report; every piece of text from the OMS or the broker is escaped."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    HeaderBlock,
    PlainTextObject,
)

from slack_bot import formatting
from slack_bot.blocks import ids
from slack_bot.blocks.common import (
    MESSAGE_BLOCK_LIMIT,
    SECTION_TEXT_LIMIT,
    context,
    message,
    pagination_block,
    section,
    truncate,
    user_text,
)
from slack_bot.blocks.controls import actor_mention
from slack_bot.blocks.paging import CursorPage, nav_values

KIND = "reconcile"  # the page buttons' list
# The OMS's default page of discrepancies: the first page (POST /reconcile) and the later
# ones (GET /reconcile/reports/{id}) are the same size.
DISCREPANCIES_PER_PAGE = 50
LINE_LIMIT = 450
REPAIRS = ("adopt", "refresh")

# What each kind means, in a trader's words (counts in the summary).
KIND_WORDS = {
    "missing_in_oms": "missing in the OMS",
    "missing_at_broker": "missing at the broker",
    "status_mismatch": "status differs",
    "filled_qty_mismatch": "filled quantity differs",
    "price_mismatch": "fill price differs",
    "position_mismatch": "position differs",
}
TRIGGER_WORDS = {"startup": "at start-up", "schedule": "scheduled"}
# What each repair does, for the button, its confirm dialog and the outcome.
REPAIR_BUTTON = {"adopt": "Adopt {n} missing order{s}", "refresh": "Refresh {n} status{es}"}
REPAIR_CONFIRM_TITLE = {"adopt": "Adopt missing orders?", "refresh": "Refresh statuses?"}
REPAIR_CONFIRM_TEXT = {
    "adopt": (
        "Record the {n} order{s} found at the broker but missing in the OMS, into their "
        "portfolios, as they stand at the broker? Nothing is sent to the broker."
    ),
    "refresh": (
        "Read the {n} order{s} whose status, fill or price differs from the broker again, and "
        "update the OMS to what the broker says? Nothing is sent to the broker."
    ),
}
REPAIR_CONFIRM_BUTTON = {"adopt": "Adopt {n}", "refresh": "Refresh {n}"}
REPAIR_DONE = {"adopt": "adopted", "refresh": "refreshed"}
REPAIR_CAN = {"adopt": "can be adopted", "refresh": "can be refreshed"}


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _words(n: int) -> dict[str, Any]:
    return {"n": n, "s": _plural(n, "", "s"), "es": _plural(n, "", "es")}


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _plain(value: object, limit: int) -> str:
    return user_text(" ".join(str(value).split()), limit)


def _status(value: str) -> str:
    return _plain(value.replace("_", " "), 30)


def _order_ref(item: dict[str, Any]) -> str:
    """`order #12`, else the broker's id shortened: `broker order 6f1c2a9b…`."""
    order_id = item.get("order_id")
    if isinstance(order_id, int) and not isinstance(order_id, bool):
        return f"order #{order_id}"
    broker_id = item.get("broker_order_id")
    if isinstance(broker_id, str) and broker_id:
        return f"broker order `{_plain(broker_id[:8], 8)}…`"
    return "an order"


def _difference(item: dict[str, Any]) -> str | None:
    """What differs, composed from the two values when they read as the kind says; None to use
    the OMS's own sentence."""
    kind, oms, broker = item.get("kind"), item.get("oms_value"), item.get("broker_value")
    if not isinstance(oms, str) or not isinstance(broker, str) or not oms or not broker:
        return None
    symbol = f"*{_plain(item.get('symbol') or '?', 32)}*"
    if kind == "status_mismatch":
        return (
            f"{symbol} {_order_ref(item)}: the broker says *{_status(broker)}*, "
            f"the OMS says *{_status(oms)}*"
        )
    at_broker, in_oms = formatting.to_decimal(broker), formatting.to_decimal(oms)
    if at_broker is None or in_oms is None:
        return None
    if kind == "filled_qty_mismatch":
        return (
            f"{symbol} {_order_ref(item)}: the broker filled *{formatting.qty(at_broker)}*, "
            f"the OMS records *{formatting.qty(in_oms)}*"
        )
    if kind == "price_mismatch":
        return (
            f"{symbol} {_order_ref(item)}: the broker's fill price is "
            f"*{formatting.money(at_broker)}*, the OMS records *{formatting.money(in_oms)}*"
        )
    if kind == "position_mismatch":
        line = (
            f"{symbol}: the broker holds *{formatting.qty(at_broker)}*, "
            f"portfolios hold *{formatting.qty(in_oms)}*"
        )
        gap = at_broker - in_oms
        if gap > 0:
            return f"{line} — {formatting.qty(gap)} unmanaged"
        if gap < 0:
            return f"{line} — portfolios hold {formatting.qty(-gap)} more than the broker"
        return line
    return None


def _repair_note(item: dict[str, Any]) -> str:
    repair, state = item.get("repair"), item.get("repair_state")
    if state == "repaired":
        who = item.get("repaired_by")
        by = f" by {actor_mention(who)}" if who else ""
        moment = item.get("repaired_at")
        at = f" {formatting.slack_time(moment)}" if moment else ""
        return f" · :white_check_mark: {REPAIR_DONE.get(str(repair), 'repaired')}{by}{at}"
    if state == "failed":
        note = item.get("repair_note")
        why = f": {_plain(note, 150)}" if note else ""
        return f" · :x: repair failed{why}"
    if repair in REPAIR_CAN:
        return f" · _{REPAIR_CAN[str(repair)]}_"
    return ""


def discrepancy_line(item: dict[str, Any]) -> str:
    """One line saying what differs, and where its repair stands:
    `• *AAPL*: the broker holds *15*, portfolios hold *10* — 5 unmanaged`."""
    what = _difference(item)
    if what is None:
        what = _plain(item.get("message") or KIND_WORDS.get(str(item.get("kind")), "?"), 300)
    elif item.get("portfolio"):
        what += f" (portfolio {_plain(item['portfolio'], 40)})"
    return truncate(f"• {what}{_repair_note(item)}", LINE_LIMIT)


def _summary(report: dict[str, Any]) -> str:
    checked, in_sync = _count(report.get("checked")), _count(report.get("in_sync"))
    found = _count(report.get("discrepancy_count"))
    agree = f"*{in_sync} of {checked}* in sync"
    if not found:
        return f":white_check_mark: {agree} — the OMS and the broker agree."
    by_kind = report.get("by_kind") if isinstance(report.get("by_kind"), dict) else {}
    kinds = [
        f"{_count(by_kind.get(kind))} {words}"
        for kind, words in KIND_WORDS.items()
        if _count(by_kind.get(kind))
    ]
    detail = f": {', '.join(kinds)}" if kinds else ""
    noun = _plural(found, "discrepancy", "discrepancies")
    return f":warning: {agree} · *{found} {noun}*{detail}"


def _provenance(report: dict[str, Any]) -> str:
    trigger = str(report.get("trigger") or "")
    if trigger == "manual":
        who = report.get("requested_by")
        how = f"run by {actor_mention(who)}" if who else "run on request"
    else:
        how = TRIGGER_WORDS.get(trigger, "run")
    parts = [f"Checked {formatting.slack_time(report.get('checked_at'))} ({how})"]
    if report.get("window_start"):
        parts.append(f"broker orders since {formatting.slack_time(report['window_start'])}")
    calls = report.get("broker_calls")
    if isinstance(calls, int) and not isinstance(calls, bool):
        parts.append(f"{calls} broker call{_plural(calls, '', 's')}")
    return " · ".join(parts)


def repair_value(report_id: int, action: str, count: int) -> str:
    return json.dumps(
        {"report": report_id, "action": action, "count": count}, separators=(",", ":")
    )


def parse_repair_value(value: str) -> dict[str, Any]:
    """The inverse of `repair_value` → {"report", "action", "count"}; ValueError otherwise."""
    try:
        data = json.loads(value)
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError("not a repair button value") from exc
    if not isinstance(data, dict):
        raise ValueError("not a repair button value")
    report, action, count = data.get("report"), data.get("action"), data.get("count")
    if (
        not isinstance(report, int)
        or isinstance(report, bool)
        or report < 1
        or action not in REPAIRS
        or not isinstance(count, int)
        or isinstance(count, bool)
        or count < 0
    ):
        raise ValueError("not a repair button value")
    return {"report": report, "action": action, "count": count}


def repair_button(report_id: int, action: str, count: int) -> ButtonElement:
    """ "Adopt 3 missing orders" / "Refresh 2 statuses"; Slack asks first."""
    words = _words(count)
    return ButtonElement(
        text=REPAIR_BUTTON[action].format(**words),
        action_id=ids.RECONCILE_REPAIR,
        value=repair_value(report_id, action, count),
        confirm=ConfirmObject(
            title=REPAIR_CONFIRM_TITLE[action],
            text=truncate(REPAIR_CONFIRM_TEXT[action].format(**words), 300),
            confirm=REPAIR_CONFIRM_BUTTON[action].format(**words),
            deny="Not now",
        ),
    )


def repairable(report: dict[str, Any]) -> dict[str, int]:
    """{action: open discrepancies it repairs}, only the actions with some."""
    counts = report.get("repairable") if isinstance(report.get("repairable"), dict) else {}
    return {action: _count(counts.get(action)) for action in REPAIRS if _count(counts.get(action))}


def _repair_actions(report: dict[str, Any]) -> ActionsBlock | None:
    report_id = report.get("id")
    counts = repairable(report)
    if not counts or not isinstance(report_id, int):
        return None
    buttons = [repair_button(report_id, action, n) for action, n in counts.items()]
    return ActionsBlock(block_id="reconcile_repairs", elements=buttons)


def _line_sections(lines: list[str]) -> list[Any]:
    """The lines packed into as few sections as Slack's 3000 characters allow."""
    blocks: list[Any] = []
    chunk: list[str] = []
    for line in lines:
        if chunk and sum(len(x) + 1 for x in chunk) + len(line) > SECTION_TEXT_LIMIT - 10:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return blocks


def report_page(report: dict[str, Any]) -> CursorPage:
    """The first page of a report's discrepancies."""
    return CursorPage(KIND, {"report": report.get("id")})


def reconcile_message(
    report: dict[str, Any],
    where: CursorPage | None = None,
    *,
    admin: bool = False,
    notice: str | None = None,
) -> dict[str, Any]:
    """A report with one page of its discrepancies (`report["discrepancies"]`, the page
    `where`, first when None). `admin` adds the repair buttons; `notice` (a repair's outcome)
    comes first."""
    where = where or report_page(report)
    found = _count(report.get("discrepancy_count"))
    title = f"Reconciliation #{report.get('id', '?')}"
    blocks: list[Any] = []
    if notice:
        blocks.append(section(notice))
    blocks += [
        HeaderBlock(text=PlainTextObject(text=truncate(title, 150))),
        section(_summary(report)),
        context(_provenance(report)),
    ]
    items = [d for d in report.get("discrepancies") or [] if isinstance(d, dict)]
    next_cursor = report.get("next_cursor")
    next_cursor = next_cursor if isinstance(next_cursor, str) and next_cursor else None
    if items:
        blocks += _line_sections([discrepancy_line(item) for item in items])
    elif where.page > 0:
        blocks.append(section("No more discrepancies."))
    if found and (items or where.page > 0):
        first = where.page * DISCREPANCIES_PER_PAGE + 1
        span = (
            f"discrepancies {first} to {first + len(items) - 1} of {found}"
            if items
            else "past the last discrepancy"
        )
        blocks.append(context(f"Page {where.page + 1} · {span}"))
    previous, following = nav_values(where, next_cursor)
    nav = pagination_block(
        KIND, previous, following, "◀ Previous" if where.back else "⏮ First page"
    )
    if nav is not None:
        blocks.append(nav)
    counts = repairable(report)
    if admin:
        actions = _repair_actions(report)
        if actions is not None:
            blocks.append(actions)
    elif counts:
        blocks.append(context("An OMS admin can repair some of these from /reconcile."))
    if len(blocks) > MESSAGE_BLOCK_LIMIT:  # only absurd OMS pages get here: keep the buttons
        blocks = blocks[: MESSAGE_BLOCK_LIMIT - 2] + blocks[-2:]
    if found:
        text = f"{title}: {found} {_plural(found, 'discrepancy', 'discrepancies')}"
    else:
        text = f"{title}: the OMS and the broker agree"
    return message(f"{notice} {text}" if notice else text, blocks)


def repair_notice(outcome: dict[str, Any], action: str) -> str:
    """A repair's outcome in one line: `:white_check_mark: Adopted 3 missing orders.`"""
    repaired, failed = _count(outcome.get("repaired")), _count(outcome.get("failed"))
    what = "missing order" if action == "adopt" else "status"
    plural = "missing orders" if action == "adopt" else "statuses"
    done = REPAIR_DONE.get(action, "repaired").capitalize()
    if not failed:
        return f":white_check_mark: {done} {repaired} {what if repaired == 1 else plural}."
    notes = [
        _plain(r.get("note"), 150)
        for r in outcome.get("results") or []
        if isinstance(r, dict) and r.get("repair_state") == "failed" and r.get("note")
    ]
    why = f" First failure: {notes[0]}" if notes else ""
    return (
        f":warning: {done} {repaired} of {repaired + failed}; "
        f"{failed} failed (see the lines marked :x:).{why}"
    )
