"""The emergency stop's message in the channel: posted when it starts, updated in place as it
runs, and at the end the result — a clear headline (FLAT / INCOMPLETE with what is still open /
QUEUED for the open), the per-symbol table, the orders canceled, and that trading stays halted
until an admin resumes it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import HeaderBlock, PlainTextObject, SectionBlock

from slack_bot import formatting
from slack_bot.blocks.common import (
    FIELD_TEXT_LIMIT,
    HEADER_TEXT_LIMIT,
    SECTION_TEXT_LIMIT,
    context,
    message,
    mode_badge,
    mrkdwn,
    section,
    truncate,
    user_text,
)
from slack_bot.blocks.controls import actor_mention, reason_text, resume_button

RUNNING = "running"
PHASES = {
    "halting": "halting trading",
    "cancelling": "canceling open orders",
    "closing": "closing positions",
    "verifying": "checking that nothing is left open",
    "waiting_for_open": "waiting for the market to open",
    "done": "done",
}
# Problems first: what is still held matters more than what was closed.
OUTCOME_ORDER = {"failed": 0, "open": 1, "queued": 2, "pending": 3, "closed": 4}
OUTCOME_WORDS = {
    "failed": "FAILED",
    "open": "STILL OPEN",
    "queued": "queued",
    "pending": "pending",
    "closed": "closed",
}
TABLE_COLUMNS = ("SYMBOL", "SIDE", "QTY BEFORE", "FILLED", "FILL PRICE", "OUTCOME")
TABLE_SECTIONS_MAX = 6
NOTES_MAX = 15
STILL_OPEN_MAX = 20
HALTED_LINE = ":octagonal_sign: *Trading stays HALTED — an admin must /resume.*"


def _symbols(stop: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in stop.get("symbols") or [] if isinstance(s, dict)]


def _ordered(symbols: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        symbols,
        key=lambda s: (OUTCOME_ORDER.get(str(s.get("outcome")), 5), str(s.get("symbol"))),
    )


def _cell(value: object, limit: int) -> str:
    # Inside a code block: no mrkdwn, but "<", ">" and "&" must still be escaped.
    return user_text(" ".join(str(value or "").split()) or formatting.MISSING, limit)


def _row(item: dict[str, Any]) -> tuple[str, ...]:
    price = item.get("fill_price")
    outcome = str(item.get("outcome") or "unknown")
    return (
        _cell(item.get("symbol"), 21),
        _cell(item.get("side"), 8),
        formatting.qty(item.get("qty_before")),
        formatting.qty(item.get("filled_qty")),
        formatting.money(price) if price is not None else formatting.MISSING,
        OUTCOME_WORDS.get(outcome, _cell(outcome, 12)),
    )


def symbol_table(symbols: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-symbol table (symbol, side, qty before, filled, fill price, outcome) in
    preformatted sections, problems first; past TABLE_SECTIONS_MAX sections one line counts
    the rest by outcome."""
    ordered = _ordered(symbols)
    rows = [_row(item) for item in ordered]
    widths = [
        max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(TABLE_COLUMNS)
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    head = line(TABLE_COLUMNS)
    budget = SECTION_TEXT_LIMIT - len("```\n\n```") - len(head) - 1
    blocks: list[dict[str, Any]] = []
    shown = 0
    while shown < len(rows) and len(blocks) < TABLE_SECTIONS_MAX:
        lines: list[str] = []
        used = 0
        while shown < len(rows) and used + len(line(rows[shown])) + 1 <= budget:
            lines.append(line(rows[shown]))
            used += len(lines[-1]) + 1
            shown += 1
        blocks.append(section("```\n" + "\n".join([head, *lines]) + "\n```").to_dict())
    if shown < len(ordered):
        rest = Counter(str(s.get("outcome") or "unknown") for s in ordered[shown:])
        counts = ", ".join(f"{n} {OUTCOME_WORDS.get(o, _cell(o, 12))}" for o, n in rest.items())
        blocks.append(section(f"…and {len(ordered) - shown} more symbols ({counts}).").to_dict())
    return blocks


def _notes(symbols: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    noted = [s for s in _ordered(symbols) if s.get("note")]
    if not noted:
        return []
    lines = [
        f"• *{_cell(s.get('symbol'), 21)}* — {_cell(s.get('note'), 200)}" for s in noted[:NOTES_MAX]
    ]
    if len(noted) > NOTES_MAX:
        lines.append(f"…and {len(noted) - NOTES_MAX} more notes.")
    return [section(truncate("*Notes*\n" + "\n".join(lines), SECTION_TEXT_LIMIT)).to_dict()]


def still_open(stop: dict[str, Any]) -> list[dict[str, Any]]:
    """The symbols the stop could not close (still open, or failed)."""
    return [s for s in _ordered(_symbols(stop)) if s.get("outcome") in ("open", "failed")]


def _position_words(item: dict[str, Any]) -> str:
    symbol = _cell(item.get("symbol"), 21)
    left = formatting.to_decimal(item.get("qty_before"))
    filled = formatting.to_decimal(item.get("filled_qty")) or 0
    held = formatting.qty(abs(left) - abs(filled)) if left is not None else formatting.MISSING
    return f"*{symbol}* ({_cell(item.get('side'), 8)} {held})"


def headline(stop: dict[str, Any]) -> str:
    """One line that says where the stop stands."""
    status = str(stop.get("status") or "")
    if status == RUNNING:
        phase = PHASES.get(str(stop.get("phase")), _cell(stop.get("phase"), 30))
        return (
            f":hourglass_flowing_sand: *RUNNING* — {phase}. Trading is halted; every open order "
            "is being canceled and every position closed. This message updates as it goes."
        )
    if status == "flat":
        return ":white_check_mark: *FLAT* — every position is closed and no order is open."
    if status == "incomplete":
        left = still_open(stop)
        listed = ", ".join(_position_words(s) for s in left[:STILL_OPEN_MAX])
        more = f" and {len(left) - STILL_OPEN_MAX} more" if len(left) > STILL_OPEN_MAX else ""
        if not listed:
            return ":x: *INCOMPLETE* — the stop could not verify that everything is closed."
        return f":x: *INCOMPLETE — positions still open:* {listed}{more}. Check /positions."
    if status == "queued_for_open":
        queued = [s for s in _ordered(_symbols(stop)) if s.get("outcome") == "queued"]
        listed = ", ".join(f"*{_cell(s.get('symbol'), 21)}*" for s in queued[:STILL_OPEN_MAX])
        what = f" for {listed}" if listed else ""
        return (
            ":hourglass_flowing_sand: *QUEUED for the open* — the market is closed: the closing "
            f"orders{what} wait for it to open."
        )
    return f":grey_question: *{_cell(status.upper() or 'UNKNOWN', 30)}*"


SHORT_STATUS = {
    RUNNING: "running",
    "flat": "FLAT",
    "incomplete": "INCOMPLETE",
    "queued_for_open": "QUEUED for the open",
}


def _duration(started: object, finished: object) -> str | None:
    start, end = formatting.parse_time(started), formatting.parse_time(finished)
    if start is None or end is None or end < start:
        return None
    seconds = int((end - start).total_seconds())
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def stop_message(
    stop: dict[str, Any],
    mode: str,
    *,
    already_running: bool = False,
    watching_ended: bool = False,
) -> dict[str, Any]:
    """The stop as it stands. `already_running`: this stop was running when another was
    asked for; `watching_ended`: the bot stopped following it (it ran too long)."""
    number = user_text(str(stop.get("id", "?")), 20)
    status = str(stop.get("status") or "")
    short = SHORT_STATUS.get(status, _cell(status, 30))
    who = actor_mention(stop.get("requested_by"), stop.get("requested_by_name"))
    symbols = _symbols(stop)
    emoji = ":rotating_light:" if status == RUNNING else ":octagonal_sign:"
    header = truncate(f"{emoji} Emergency stop #{number} — {short}", HEADER_TEXT_LIMIT)
    blocks: list[Any] = [HeaderBlock(text=PlainTextObject(text=header, emoji=True))]
    if already_running:
        blocks.append(
            section(
                f":warning: Emergency stop #{number} was already running — nothing new was "
                "started. This is that stop:"
            )
        )
    took = _duration(stop.get("started_at"), stop.get("finished_at"))
    finished = (
        formatting.slack_time(stop.get("finished_at")) + (f" ({took})" if took else "")
        if stop.get("finished_at")
        else "not yet"
    )
    counts = Counter(str(s.get("outcome") or "unknown") for s in symbols)
    outcome = ", ".join(
        f"{n} {OUTCOME_WORDS.get(o, _cell(o, 12))}"
        for o, n in sorted(counts.items(), key=lambda item: OUTCOME_ORDER.get(item[0], 5))
    )
    fields = [
        f"*Orders canceled*\n{_cell(stop.get('orders_canceled', 0), 20)}",
        f"*Positions*\n{len(symbols)}" + (f" ({outcome})" if outcome else ""),
        f"*Started*\n{formatting.slack_time(stop.get('started_at'))}",
        f"*Finished*\n{finished}",
    ]
    blocks += [
        section(
            f"Emergency stop #{number} started by {who} "
            f"{formatting.slack_time(stop.get('started_at'))}.\n"
            f"*Why:* {reason_text(stop.get('reason'))}"
        ),
        section(headline(stop)),
        SectionBlock(fields=[mrkdwn(text, FIELD_TEXT_LIMIT) for text in fields]),
    ]
    if stop.get("error"):
        blocks.append(section(f":x: {_cell(stop.get('error'), 1000)}"))
    if symbols:
        blocks += symbol_table(symbols)
        blocks += _notes(symbols)
    if watching_ended and status == RUNNING:
        blocks.append(
            section(
                ":warning: Still running — this message no longer updates. /desk shows "
                "whether it has finished."
            )
        )
    if status != RUNNING:
        blocks.append(section(HALTED_LINE, accessory=resume_button()))
    else:
        blocks.append(section(":octagonal_sign: Trading is *HALTED* while the stop runs."))
    blocks.append(context(mode_badge(mode)))
    text = f"Emergency stop #{number} started by {who}: {short}"
    if status == "incomplete":
        text += " — positions still open: " + ", ".join(
            str(s.get("symbol")) for s in still_open(stop)[:STILL_OPEN_MAX]
        )
    if status != RUNNING:
        text += ". Trading stays HALTED — an admin must /resume."
    return message(text, blocks)
