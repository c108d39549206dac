"""Slack messages for alerts: pure functions, one per kind, body → `{"text", "blocks"}`.

Built with `slack_sdk.models`, whose `to_dict()` checks Slack's limits on each piece; the
50-blocks-per-message limit, which it does not check, is held here. Every message says the
mode (LIVE loudly), who acted and why. Times are Slack date tokens (each reader's own zone,
UTC as the fallback); money reads `$1,234.50`, changes `+2.1 %`. Text that people typed (a
reason, a name) is escaped, so it can neither ping a channel nor break the layout.

The text formatting is the bot's own (`slack_bot.formatting`, `slack_bot.blocks.common`), so an
alert reads like everything else the bot posts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from oms_api.alerts.outbox import AlertKind
from slack_bot import formatting
from slack_bot.blocks.common import (
    FALLBACK_TEXT_LIMIT,
    FIELD_TEXT_LIMIT,
    HEADER_TEXT_LIMIT,
    MESSAGE_BLOCK_LIMIT,
    SECTION_TEXT_LIMIT,
    mode_badge,
    truncate,
    user_text,
)

Message = dict[str, Any]
Body = Mapping[str, Any]

RESUME_ACTION_ID = "controls_resume"
RESUME_VALUE = "resume"
REASON_LIMIT = 1500
NAME_LIMIT = 80
NOTE_LIMIT = 200
# A stop's table: rows packed into preformatted sections, at most this many of them; the rest
# is summarised in one line (counts by outcome), so the message stays far within 50 blocks.
TABLE_SECTIONS_MAX = 6
NOTES_MAX = 20

KIND_EMOJI = {
    AlertKind.STOP_STARTED: ":rotating_light:",
    AlertKind.STOP_FINISHED: ":octagonal_sign:",
    AlertKind.STOP_INCOMPLETE: ":x:",
    AlertKind.HALTED: ":octagonal_sign:",
    AlertKind.RESUMED: ":arrow_forward:",
    AlertKind.LOSS_LIMIT_WARNING: ":warning:",
    AlertKind.LOSS_LIMIT_BREACH: ":rotating_light:",
    AlertKind.PORTFOLIO_PAUSED: ":double_vertical_bar:",
    AlertKind.PORTFOLIO_LOSS_LIMIT: ":rotating_light:",
    AlertKind.ORDER_REJECTED: ":x:",
    AlertKind.ORDER_FILLED: ":white_check_mark:",
    AlertKind.RECONCILE_OFF: ":mag:",
    AlertKind.RECONCILE_CLEARED: ":white_check_mark:",
}
DEFAULT_TITLES = {
    AlertKind.STOP_STARTED: "Emergency stop started",
    AlertKind.STOP_FINISHED: "Emergency stop finished",
    AlertKind.STOP_INCOMPLETE: "Emergency stop incomplete",
    AlertKind.HALTED: "Trading halted",
    AlertKind.RESUMED: "Trading resumed",
    AlertKind.LOSS_LIMIT_WARNING: "Daily loss nearing its limit",
    AlertKind.LOSS_LIMIT_BREACH: "Daily loss limit breached",
    AlertKind.PORTFOLIO_PAUSED: "Portfolio paused",
    AlertKind.PORTFOLIO_LOSS_LIMIT: "Portfolio daily loss limit reached",
    AlertKind.ORDER_REJECTED: "Order rejected",
    AlertKind.ORDER_FILLED: "Order filled",
    AlertKind.RECONCILE_OFF: "The OMS and the broker disagree",
    AlertKind.RECONCILE_CLEARED: "The OMS and the broker agree again",
}
# A reconcile alert lists at most this many discrepancy lines; the rest is counted.
RECONCILE_LINES_MAX = 5
RECONCILE_LINE_LIMIT = 300
KIND_NAMES = {
    "missing_in_oms": "missing in the OMS",
    "missing_at_broker": "missing at the broker",
    "status_mismatch": "status differs",
    "filled_qty_mismatch": "filled quantity differs",
    "price_mismatch": "fill price differs",
    "position_mismatch": "position differs",
}
STOP_STATUS_TEXT = {
    "flat": ":white_check_mark: *Flat* — nothing is open at the broker any more.",
    "incomplete": ":x: *Incomplete* — something could not be closed (see below).",
    "queued_for_open": ":hourglass_flowing_sand: *Queued for the open* — the market is closed; "
    "the closing orders wait for it to open.",
}
STOP_STATUS_SHORT = {
    "flat": "flat",
    "incomplete": "incomplete, something could not be closed",
    "queued_for_open": "closing orders queued for the open",
}
# Problems first: what is still held matters more than what was closed.
OUTCOME_ORDER = {"failed": 0, "open": 1, "queued": 2, "pending": 3, "closed": 4}
OUTCOME_EMOJI = {
    "failed": ":x:",
    "open": ":warning:",
    "queued": ":hourglass_flowing_sand:",
    "closed": ":white_check_mark:",
}
TABLE_COLUMNS = ("SYMBOL", "SIDE", "QTY BEFORE", "FILLED", "PRICE", "OUTCOME")


# --- pieces ---------------------------------------------------------------------------------
def _text(value: object, limit: int) -> str:
    """Free text from the body, escaped and cut; a dash when missing."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return formatting.MISSING
    return user_text(" ".join(str(value).split()), limit)


def _who(user: object, name: object = None) -> str:
    """`*Jane Doe* (U0123ABCD)`; the OMS itself or an API client said as such. Names, not
    mentions: an alert informs the channel without pinging the person who acted."""
    user_id = str(user or "").strip()
    if user_id == "system":
        return "*the OMS itself*"
    if user_id == "api" and not name:
        return "*an API client*"
    shown = _text(name, NAME_LIMIT) if name else None
    if shown and user_id and user_id != "api":
        return f"*{shown}* ({_text(user_id, NAME_LIMIT)})"
    return f"*{shown or _text(user_id, NAME_LIMIT)}*"


def _reason(value: object) -> str:
    return f"*Why:* {_text(value, REASON_LIMIT)}"


def _mrkdwn(text: str, limit: int = SECTION_TEXT_LIMIT) -> MarkdownTextObject:
    return MarkdownTextObject(text=truncate(text, limit))


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=_mrkdwn(text))


def _fields(*pairs: tuple[str, str]) -> SectionBlock:
    """Up to 10 label/value fields, two columns wide."""
    return SectionBlock(
        fields=[_mrkdwn(f"*{label}*\n{value}", FIELD_TEXT_LIMIT) for label, value in pairs[:10]]
    )


def _header(kind: AlertKind, title: str | None) -> HeaderBlock:
    text = f"{KIND_EMOJI[kind]} {' '.join((title or '').split()) or DEFAULT_TITLES[kind]}"
    return HeaderBlock(text=PlainTextObject(text=truncate(text, HEADER_TEXT_LIMIT), emoji=True))


def _context(body: Body, at: datetime | None) -> ContextBlock:
    parts = [mode_badge(str(body.get("mode") or ""))]
    if at is not None:
        parts.append(formatting.slack_time(at, formatting.DAY_AND_TIME_SECS))
    return ContextBlock(elements=[_mrkdwn(" · ".join(parts), 2000)])


def _mode_tag(body: Body) -> str:
    """The mode at the front of the notification text: LIVE must be seen without opening it."""
    mode = str(body.get("mode") or "").upper()
    if mode == "LIVE":
        return "[LIVE — real money] "
    return f"[{_text(mode, 20)}] " if mode else ""


def _message(
    kind: AlertKind, title: str | None, body: Body, text: str, blocks: list[Any]
) -> Message:
    rendered = [block.to_dict() for block in blocks]  # checks each block's limits
    if len(rendered) > MESSAGE_BLOCK_LIMIT:
        raise ValueError(f"{len(rendered)} blocks: Slack allows {MESSAGE_BLOCK_LIMIT}")
    heading = " ".join((title or "").split()) or DEFAULT_TITLES[kind]
    fallback = f"{_mode_tag(body)}{user_text(heading, 200)} — {text}"
    return {"text": truncate(fallback, FALLBACK_TEXT_LIMIT), "blocks": rendered}


def _start(kind: AlertKind, title: str | None, body: Body, at: datetime | None) -> list[Block]:
    return [_header(kind, title), _context(body, at)]


def _percent_of_limit(fraction: object) -> str:
    """`80.0 %` (unsigned: how much of the limit is used)."""
    return formatting.pct(fraction).lstrip("+-")


def _limit(value: object) -> str:
    amount = formatting.to_decimal(value)
    return formatting.money(abs(amount) if amount is not None else None)


# --- one builder per kind -------------------------------------------------------------------
def stop_started(body: Body, title: str | None = None, at: datetime | None = None) -> Message:
    kind = AlertKind.STOP_STARTED
    who = _who(body.get("requested_by"), body.get("requested_by_name"))
    blocks = [
        *_start(kind, title, body, at),
        _section(
            f"Emergency stop #{_text(body.get('stop_id'), 20)} started by {who}. Trading is "
            "halted; open orders are being canceled and every position closed."
        ),
        _section(_reason(body.get("reason"))),
    ]
    text = f"started by {who}: {_text(body.get('reason'), 300)}"
    return _message(kind, title, body, text, blocks)


def _symbol_rows(symbols: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    rows = []
    for item in symbols:
        price = item.get("fill_price")
        rows.append(
            (
                _text(item.get("symbol"), 21),
                _text(item.get("side"), 8),
                formatting.qty(item.get("qty_before")),
                formatting.qty(item.get("filled_qty")),
                formatting.money(price) if price is not None else formatting.MISSING,
                _text(item.get("outcome"), 12),
            )
        )
    return rows


def _table_sections(symbols: Sequence[Mapping[str, Any]]) -> list[Block]:
    """The per-symbol table as preformatted sections (each within 3000 characters), problems
    first; beyond TABLE_SECTIONS_MAX sections, one line counts the rest by outcome."""
    ordered = sorted(
        symbols,
        key=lambda s: (OUTCOME_ORDER.get(str(s.get("outcome")), 5), str(s.get("symbol"))),
    )
    rows = _symbol_rows(ordered)
    widths = [
        max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(TABLE_COLUMNS)
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    head = line(TABLE_COLUMNS).rstrip()
    budget = SECTION_TEXT_LIMIT - len("``````\n\n") - len(head) - 1
    sections: list[Block] = []
    shown = 0
    while shown < len(rows) and len(sections) < TABLE_SECTIONS_MAX:
        lines: list[str] = []
        used = 0
        while shown < len(rows) and used + len(line(rows[shown])) + 1 <= budget:
            lines.append(line(rows[shown]).rstrip())
            used += len(lines[-1]) + 1
            shown += 1
        if not lines:  # a row wider than a section: cannot happen with bounded cells
            break
        sections.append(_section("```\n" + "\n".join([head, *lines]) + "\n```"))
    if shown < len(ordered):
        rest = Counter(str(s.get("outcome") or "unknown") for s in ordered[shown:])
        counts = ", ".join(f"{count} {_text(outcome, 12)}" for outcome, count in rest.items())
        sections.append(_section(f"…and {len(ordered) - shown} more symbols ({counts})."))
    return sections


def _notes(symbols: Sequence[Mapping[str, Any]]) -> list[Block]:
    noted = [s for s in symbols if s.get("note")]
    noted.sort(key=lambda s: (OUTCOME_ORDER.get(str(s.get("outcome")), 5), str(s.get("symbol"))))
    if not noted:
        return []
    lines = [
        f"• *{_text(s.get('symbol'), 21)}* — {_text(s.get('note'), NOTE_LIMIT)}"
        for s in noted[:NOTES_MAX]
    ]
    if len(noted) > NOTES_MAX:
        lines.append(f"…and {len(noted) - NOTES_MAX} more notes.")
    return [_section(truncate("*Notes*\n" + "\n".join(lines), SECTION_TEXT_LIMIT))]


def _outcome_counts(symbols: Sequence[Mapping[str, Any]]) -> str:
    counts = Counter(str(s.get("outcome") or "unknown") for s in symbols)
    ordered = sorted(counts.items(), key=lambda item: OUTCOME_ORDER.get(item[0], 5))
    return " · ".join(
        f"{OUTCOME_EMOJI.get(outcome, ':grey_question:')} {count} {_text(outcome, 12)}"
        for outcome, count in ordered
    )


def _duration(started: object, finished: object) -> str | None:
    start, end = formatting.parse_time(started), formatting.parse_time(finished)
    if start is None or end is None or end < start:
        return None
    seconds = int((end - start).total_seconds())
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def _stop_result(kind: AlertKind, body: Body, title: str | None, at: datetime | None) -> Message:
    raw_symbols = body.get("symbols")
    symbols = [s for s in raw_symbols if isinstance(s, Mapping)] if raw_symbols else []
    status = str(body.get("status") or "")
    who = _who(body.get("requested_by"), body.get("requested_by_name"))
    took = _duration(body.get("started_at"), body.get("finished_at"))
    blocks: list[Block] = [
        *_start(kind, title, body, at),
        _section(
            STOP_STATUS_TEXT.get(status, f":grey_question: *{_text(status, 30)}*")
            + "\nTrading stays halted until an admin resumes it."
        ),
        _fields(
            ("Stop", f"#{_text(body.get('stop_id'), 20)}"),
            ("Requested by", who),
            ("Started", formatting.slack_time(body.get("started_at"))),
            (
                "Finished",
                formatting.slack_time(body.get("finished_at")) + (f" ({took})" if took else ""),
            ),
            ("Orders canceled", _text(body.get("orders_canceled"), 20)),
            ("Symbols", _outcome_counts(symbols) if symbols else "none held"),
        ),
        _section(_reason(body.get("reason"))),
    ]
    if symbols:
        blocks += _table_sections(symbols)
        blocks += _notes(symbols)
    counts = Counter(str(s.get("outcome") or "unknown") for s in symbols)
    outcomes = ", ".join(f"{count} {_text(outcome, 12)}" for outcome, count in counts.items())
    text = f"{STOP_STATUS_SHORT.get(status, _text(status, 30))}; {len(symbols)} symbol(s)"
    text += f": {outcomes}" if outcomes else ""
    return _message(kind, title, body, text, blocks)


def stop_finished(body: Body, title: str | None = None, at: datetime | None = None) -> Message:
    return _stop_result(AlertKind.STOP_FINISHED, body, title, at)


def stop_incomplete(body: Body, title: str | None = None, at: datetime | None = None) -> Message:
    return _stop_result(AlertKind.STOP_INCOMPLETE, body, title, at)


def resume_button() -> ButtonElement:
    """The bot handles the click (action_id `controls_resume`); Slack asks first."""
    return ButtonElement(
        text=PlainTextObject(text="Resume trading"),
        action_id=RESUME_ACTION_ID,
        value=RESUME_VALUE,
        style="primary",
        confirm=ConfirmObject(
            title="Resume trading?",
            text="New orders will be accepted again.",
            confirm="Resume trading",
            deny="Stay halted",
        ),
    )


def halted(body: Body, title: str | None = None, at: datetime | None = None) -> Message:
    kind = AlertKind.HALTED
    who = _who(body.get("by"), body.get("by_name"))
    stop_id = body.get("stop_id")
    cause = f" (emergency stop #{_text(stop_id, 20)})" if stop_id is not None else ""
    blocks = [
        *_start(kind, title, body, at),
        _section(
            f"Trading halted by {who}{cause}. New orders are refused until someone resumes "
            "trading; cancels still go through."
        ),
        _section(_reason(body.get("reason"))),
        ActionsBlock(block_id=RESUME_ACTION_ID, elements=[resume_button()]),
    ]
    text = f"by {who}: {_text(body.get('reason'), 300)}"
    return _message(kind, title, body, text, blocks)


def resumed(body: Body, title: str | None = None, at: datetime | None = None) -> Message:
    kind = AlertKind.RESUMED
    who = _who(body.get("by"), body.get("by_name"))
    blocks = [
        *_start(kind, title, body, at),
        _section(f"Trading resumed by {who}. New orders are accepted again."),
        _section(_reason(body.get("reason"))),
    ]
    return _message(kind, title, body, f"by {who}", blocks)


def _loss_limit(kind: AlertKind, body: Body, title: str | None, at: datetime | None) -> Message:
    used = _percent_of_limit(body.get("fraction"))
    limit = _limit(body.get("limit"))
    if kind is AlertKind.LOSS_LIMIT_BREACH:
        line = f":rotating_light: Today's loss has reached the {limit} daily loss limit ({used})."
    else:
        line = f":warning: Today's loss is at {used} of the {limit} daily loss limit."
    blocks = [
        *_start(kind, title, body, at),
        _section(line),
        _fields(
            ("Daily P&L", formatting.signed_money(body.get("daily_pl"))),
            ("Limit", limit),
            ("Used", used),
        ),
    ]
    text = f"daily P&L {formatting.signed_money(body.get('daily_pl'))}, {used} of {limit}"
    return _message(kind, title, body, text, blocks)


def loss_limit_warning(body: Body, title: str | None = None, at: datetime | None = None) -> Message:
    return _loss_limit(AlertKind.LOSS_LIMIT_WARNING, body, title, at)


def loss_limit_breach(body: Body, title: str | None = None, at: datetime | None = None) -> Message:
    return _loss_limit(AlertKind.LOSS_LIMIT_BREACH, body, title, at)


def portfolio_paused(body: Body, title: str | None = None, at: datetime | None = None) -> Message:
    kind = AlertKind.PORTFOLIO_PAUSED
    who = _who(body.get("by"), body.get("by_name"))
    portfolio = _text(body.get("portfolio"), 100)
    blocks = [
        *_start(kind, title, body, at),
        _section(f"Portfolio *{portfolio}* paused by {who}: it takes no new orders."),
        _section(_reason(body.get("reason"))),
    ]
    return _message(kind, title, body, f"{portfolio}, by {who}", blocks)


def portfolio_loss_limit(
    body: Body, title: str | None = None, at: datetime | None = None
) -> Message:
    """A portfolio reached its daily loss limit: it is paused; nothing was closed."""
    kind = AlertKind.PORTFOLIO_LOSS_LIMIT
    portfolio = _text(body.get("portfolio"), 100)
    limit = _limit(body.get("limit"))
    used = _percent_of_limit(body.get("fraction"))
    daily = formatting.signed_money(body.get("daily_pl"))
    blocks = [
        *_start(kind, title, body, at),
        _section(
            f":rotating_light: Portfolio *{portfolio}* lost {daily} today, reaching its {limit} "
            f"daily loss limit ({used}). It is paused by *the OMS itself*: it takes no new "
            "orders until someone resumes it. Nothing was closed."
        ),
        _fields(
            ("Portfolio", portfolio),
            ("Today's P&L", daily),
            ("Limit", limit),
            ("Used", used),
        ),
    ]
    text = f"{portfolio} paused: today's P&L {daily}, {used} of its {limit} limit"
    return _message(kind, title, body, text, blocks)


def _order_line(body: Body, qty_key: str) -> str:
    side = _text(body.get("side"), 8).upper()
    symbol = _text(body.get("symbol"), 21)
    if formatting.to_decimal(body.get(qty_key)) is not None:
        return f"{side} {formatting.qty(body.get(qty_key))} {symbol}"
    if formatting.to_decimal(body.get("notional")) is not None:
        return f"{side} {formatting.money(body.get('notional'))} of {symbol}"
    return f"{side} {symbol}"


def order_rejected(body: Body, title: str | None = None, at: datetime | None = None) -> Message:
    kind = AlertKind.ORDER_REJECTED
    what = _order_line(body, "qty")
    code = _text(body.get("code"), 60)
    blocks = [
        *_start(kind, title, body, at),
        _section(f"*{what}* was rejected: {_text(body.get('message'), REASON_LIMIT)}"),
        _fields(
            ("Trade", f"#{_text(body.get('trade_id'), 20)}"),
            ("Portfolio", _text(body.get("portfolio"), 100)),
            ("Code", f"`{code}`"),
            ("Requested by", _who(body.get("requested_by"))),
        ),
    ]
    return _message(kind, title, body, f"{what}: {code}", blocks)


def order_filled(body: Body, title: str | None = None, at: datetime | None = None) -> Message:
    kind = AlertKind.ORDER_FILLED
    what = _order_line(body, "filled_qty")
    qty = formatting.to_decimal(body.get("filled_qty"))
    price = formatting.to_decimal(body.get("filled_avg_price"))
    value = formatting.money(qty * price) if qty is not None and price is not None else None
    at_price = f" at {formatting.money(price)}" if price is not None else ""
    blocks = [
        *_start(kind, title, body, at),
        _section(f"*{what}*{at_price}" + (f" — {value}" if value else "")),
        _fields(
            ("Trade", f"#{_text(body.get('trade_id'), 20)}"),
            ("Portfolio", _text(body.get("portfolio"), 100)),
            ("Requested by", _who(body.get("requested_by"))),
        ),
    ]
    return _message(kind, title, body, f"{what}{at_price}", blocks)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def reconcile_off(body: Body, title: str | None = None, at: datetime | None = None) -> Message:
    """Counts by kind and the first few lines; what to do next (nothing was traded)."""
    kind = AlertKind.RECONCILE_OFF
    report = _text(body.get("report_id"), 20)
    blocks: list[Block] = [*_start(kind, title, body, at)]
    if body.get("error"):
        blocks.append(
            _section(
                f"Reconciliation ({_text(body.get('trigger'), 20)}) could not run: "
                f"{_text(body.get('error'), REASON_LIMIT)}"
            )
        )
        return _message(kind, title, body, "could not run", blocks)
    by_kind = body.get("by_kind") if isinstance(body.get("by_kind"), Mapping) else {}
    counts = ", ".join(
        f"{_count(n)} {KIND_NAMES.get(str(k), _text(k, 40))}" for k, n in sorted(by_kind.items())
    )
    total = _count(body.get("discrepancy_count"))
    blocks.append(
        _section(
            f"*{total} discrepanc{'y' if total == 1 else 'ies'}* in report #{report} "
            f"({_text(body.get('trigger'), 20)} run): {counts or formatting.MISSING}. "
            "Nothing was traded or cancelled."
        )
    )
    lines = body.get("lines") if isinstance(body.get("lines"), list) else []
    shown = [f"• {_text(line, RECONCILE_LINE_LIMIT)}" for line in lines[:RECONCILE_LINES_MAX]]
    more = _count(body.get("more")) + max(len(lines) - RECONCILE_LINES_MAX, 0)
    if more:
        shown.append(f"…and {more} more")
    if shown:
        blocks.append(_section("\n".join(shown)))
    repairable = body.get("repairable") if isinstance(body.get("repairable"), Mapping) else {}
    adopt, refresh = _count(repairable.get("adopt")), _count(repairable.get("refresh"))
    blocks.append(
        _section(
            f"Repairable when asked: {adopt} to adopt, {refresh} to refresh "
            f"(`POST /api/v1/reconcile/reports/{report}/repair`)."
        )
    )
    return _message(kind, title, body, f"{total} discrepancies (report #{report})", blocks)


def reconcile_cleared(body: Body, title: str | None = None, at: datetime | None = None) -> Message:
    kind = AlertKind.RECONCILE_CLEARED
    report = _text(body.get("report_id"), 20)
    checked = _count(body.get("checked"))
    blocks = [
        *_start(kind, title, body, at),
        _section(
            f"Report #{report}: all {checked} orders and positions compared agree with the broker."
        ),
    ]
    return _message(kind, title, body, f"in sync again (report #{report})", blocks)


BUILDERS: dict[AlertKind, Callable[[Body, str | None, datetime | None], Message]] = {
    AlertKind.STOP_STARTED: stop_started,
    AlertKind.STOP_FINISHED: stop_finished,
    AlertKind.STOP_INCOMPLETE: stop_incomplete,
    AlertKind.HALTED: halted,
    AlertKind.RESUMED: resumed,
    AlertKind.LOSS_LIMIT_WARNING: loss_limit_warning,
    AlertKind.LOSS_LIMIT_BREACH: loss_limit_breach,
    AlertKind.PORTFOLIO_PAUSED: portfolio_paused,
    AlertKind.PORTFOLIO_LOSS_LIMIT: portfolio_loss_limit,
    AlertKind.ORDER_REJECTED: order_rejected,
    AlertKind.ORDER_FILLED: order_filled,
    AlertKind.RECONCILE_OFF: reconcile_off,
    AlertKind.RECONCILE_CLEARED: reconcile_cleared,
}


def plain(kind: str, title: str | None, body: Body | None) -> Message:
    """The message when a body cannot be read as its kind: title and mode, nothing lost."""
    body = body if isinstance(body, Mapping) else {}
    heading = " ".join((title or "").split()) or _text(kind, 40)
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=truncate(heading, HEADER_TEXT_LIMIT))),
        _context(body, None),
        _section(f"Alert `{_text(kind, 40)}` — see `GET /api/v1/alerts` for its details."),
    ]
    rendered = [block.to_dict() for block in blocks]
    return {
        "text": truncate(f"{_mode_tag(body)}{user_text(heading, 200)}", 300),
        "blocks": rendered,
    }


def render(kind: str, title: str | None, body: Body | None, at: datetime | None = None) -> Message:
    """The message for one alert row (`at`: when it was recorded)."""
    try:
        builder = BUILDERS[AlertKind(kind)]
    except ValueError:
        return plain(kind, title, body)
    return builder(body if isinstance(body, Mapping) else {}, title, at)
