"""Pieces shared by every builder: text limits, mode badge, market line, errors, pagination."""

from __future__ import annotations

import json
import re
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from slack_bot import formatting
from slack_bot.blocks import ids

MESSAGE_BLOCK_LIMIT = 50  # Slack refuses longer messages; slack_sdk does not check it
SECTION_TEXT_LIMIT = 3000
FIELD_TEXT_LIMIT = 2000
CONTEXT_TEXT_LIMIT = 2000
HEADER_TEXT_LIMIT = 150
BUTTON_TEXT_LIMIT = 75
OPTION_TEXT_LIMIT = 75
OPTION_VALUE_LIMIT = 150
FALLBACK_TEXT_LIMIT = 3000
ELLIPSIS = "…"

_PARTIAL_ENTITY = re.compile(r"&[a-z]*$")


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS


def escape(text: str) -> str:
    """Slack mrkdwn control characters made literal, so user text cannot ping or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def user_text(text: str, limit: int) -> str:
    """Free text typed by someone (a reason, a symbol), escaped and kept within `limit`."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    # Cut without leaving half an entity such as "&am" behind.
    cut = _PARTIAL_ENTITY.sub("", escaped[: max(limit - 1, 0)])
    return cut + ELLIPSIS


def mrkdwn(text: str, limit: int = SECTION_TEXT_LIMIT) -> MarkdownTextObject:
    return MarkdownTextObject(text=truncate(text, limit))


def section(text: str, **kwargs: Any) -> SectionBlock:
    return SectionBlock(text=mrkdwn(text), **kwargs)


def context(*texts: str) -> ContextBlock:
    return ContextBlock(elements=[mrkdwn(text, CONTEXT_TEXT_LIMIT) for text in texts[:10]])


def message(text: str, blocks: list[Any]) -> dict[str, Any]:
    """A chat message: fallback `text` for notifications plus validated blocks."""
    rendered = [block if isinstance(block, dict) else block.to_dict() for block in blocks]
    return {"text": truncate(text, FALLBACK_TEXT_LIMIT), "blocks": rendered}


def mode_badge(mode: str | None) -> str:
    """Where orders go. LIVE is deliberately loud: it spends real money."""
    normalized = (mode or "").strip().lower()
    if normalized == "live":
        return ":rotating_light: *LIVE — real money*"
    if normalized == "paper":
        return ":page_facing_up: *PAPER* (Alpaca paper trading)"
    if normalized == "simulator":
        return ":test_tube: *SIMULATOR* (no broker)"
    return f":grey_question: *{user_text(normalized.upper() or 'UNKNOWN MODE', 40)}*"


def market_line(market: dict[str, Any] | None) -> str:
    """One line: open (and when it closes), or a clear warning with the next open."""
    if not market:
        return ":grey_question: Market status unknown"
    if market.get("is_open"):
        closes = market.get("next_close")
        suffix = f" — closes {formatting.when(closes)}" if closes else ""
        return f":large_green_circle: Market open{suffix}"
    next_open = market.get("next_open")
    suffix = f" Next open: *{formatting.when(next_open)}*." if next_open else ""
    return f":warning: *Market closed* — orders wait for the next session.{suffix}"


STATUS_EMOJI = {
    "pending_submit": ":outbox_tray:",
    "submitted": ":outbox_tray:",
    "unknown": ":grey_question:",
    "accepted": ":inbox_tray:",
    "partially_filled": ":hourglass_flowing_sand:",
    "filled": ":white_check_mark:",
    "pending_cancel": ":hourglass:",
    "canceled": ":no_entry_sign:",
    "expired": ":clock3:",
    "rejected": ":x:",
    "not_sent": ":x:",
    "replaced": ":repeat:",
}


def status_text(status: str | None) -> str:
    """`:white_check_mark: filled`."""
    name = (status or "unknown").lower()
    emoji = STATUS_EMOJI.get(name, ":grey_question:")
    return f"{emoji} {user_text(name.replace('_', ' '), 40)}"


def order_summary(
    side: str | None,
    symbol: str | None,
    qty: object = None,
    notional: object = None,
    order_type: str | None = "market",
    limit_price: object = None,
    stop_price: object = None,
) -> str:
    """`Buy 10 AAPL at market`, `Sell $500 of AAPL limit $150.00`, `Buy 5 MSFT stop $300.00`."""
    verb = (side or "trade").capitalize()
    ticker = user_text((symbol or "?").upper(), 21)
    if formatting.to_decimal(qty) is not None:
        what = f"{formatting.qty(qty)} {ticker}"
    elif formatting.to_decimal(notional) is not None:
        what = f"{formatting.money(notional)} of {ticker}"
    else:
        what = ticker
    kind = (order_type or "market").lower()
    if kind == "limit":
        how = f"limit {formatting.money(limit_price)}"
    elif kind == "stop":
        how = f"stop {formatting.money(stop_price)}"
    elif kind == "stop_limit":
        how = f"stop {formatting.money(stop_price)} limit {formatting.money(limit_price)}"
    else:
        how = "at market"
    return f"{verb} {what} {how}"


def error_blocks(message_text: str) -> list[dict[str, Any]]:
    """One clear sentence with a warning sign."""
    return [section(f":x: {user_text(message_text, SECTION_TEXT_LIMIT - 10)}").to_dict()]


def error_message(message_text: str) -> dict[str, Any]:
    return message(message_text, error_blocks(message_text))


def oms_unavailable_message(read_only: bool = False) -> dict[str, Any]:
    """The OMS could not be reached. For trades: nothing was sent (no blind retries)."""
    text = (
        "OMS unavailable — try again in a moment"
        if read_only
        else "OMS unavailable — nothing was sent"
    )
    return error_message(text)


def page_value(kind: str, page: int, arg: str | None = None) -> str:
    """The value of page_next/page_prev buttons: what to show and which page."""
    return json.dumps({"kind": kind, "page": page, "arg": arg}, separators=(",", ":"))


def parse_page_value(value: str) -> dict[str, Any]:
    """The inverse of `page_value`; ValueError when it is not one of ours."""
    try:
        data = json.loads(value)
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError("not a page button value") from exc
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("kind"), str)
        or not isinstance(data.get("page"), int)
        or isinstance(data.get("page"), bool)
        or data["page"] < 0
        or not (data.get("arg") is None or isinstance(data.get("arg"), str))
    ):
        raise ValueError("not a page button value")
    return {"kind": data["kind"], "page": data["page"], "arg": data.get("arg")}


def pagination_block(
    kind: str,
    page: int,
    has_prev: bool,
    has_next: bool,
    arg: str | None = None,
    next_arg: str | None = None,
) -> ActionsBlock | None:
    """Previous/Next buttons, or None when everything fits on one page."""
    buttons = []
    if has_prev:
        buttons.append(
            ButtonElement(
                text="◀ Previous",
                action_id=ids.PAGE_PREV,
                value=page_value(kind, page - 1, arg),
            )
        )
    if has_next:
        value = (
            page_value(kind, page + 1, arg) if next_arg is None else page_value(kind, 0, next_arg)
        )
        buttons.append(ButtonElement(text="Next ▶", action_id=ids.PAGE_NEXT, value=value))
    if not buttons:
        return None
    return ActionsBlock(block_id=f"pages_{kind}", elements=buttons)
