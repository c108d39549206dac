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

from slack_bot import formatting, wording
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
        return ":test_tube: *SIMULATOR* (a local simulated broker — no real orders)"
    return f":grey_question: *{user_text(normalized.upper() or 'UNKNOWN MODE', 40)}*"


def market_moment(value: object) -> str:
    """A market open or close: in the reader's own zone, and on the exchange's clock (ET)."""
    if formatting.parse_time(value) is None:
        return formatting.MISSING
    return f"{formatting.slack_time(value)} ({formatting.market_time(value)})"


def market_line(market: dict[str, Any] | None) -> str:
    """One line: open (and when it closes), or a clear warning with the next open."""
    if not market:
        return ":grey_question: Market status unknown"
    if market.get("is_open"):
        closes = market.get("next_close")
        suffix = f" — closes {market_moment(closes)}" if closes else ""
        return f":large_green_circle: Market open{suffix}"
    next_open = market.get("next_open")
    suffix = f" Next open: *{market_moment(next_open)}*." if next_open else ""
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


# How a notice reads at a glance: a success must never look like a failure.
TONE_EMOJI = {
    "success": ":white_check_mark:",
    "working": ":hourglass_flowing_sand:",
    "info": ":information_source:",
    "warning": ":warning:",
    "error": ":x:",
}


def notice_blocks(message_text: str, tone: str = "error") -> list[dict[str, Any]]:
    """One clear sentence, marked by its outcome (`TONE_EMOJI`)."""
    emoji = TONE_EMOJI.get(tone, TONE_EMOJI["error"])
    return [section(f"{emoji} {user_text(message_text, SECTION_TEXT_LIMIT - 40)}").to_dict()]


def error_blocks(message_text: str) -> list[dict[str, Any]]:
    """One clear sentence with a warning sign."""
    return notice_blocks(message_text, "error")


def error_message(message_text: str) -> dict[str, Any]:
    return message(message_text, error_blocks(message_text))


def oms_unavailable_message(read_only: bool = False) -> dict[str, Any]:
    """The OMS could not be reached. For trades: nothing was sent (no blind retries)."""
    return error_message(wording.OMS_DOWN_READ if read_only else wording.OMS_DOWN_TRADE)


BUTTON_VALUE_LIMIT = 2000  # Slack refuses a longer button value


def page_value(kind: str, page: int) -> str:
    """The value of a page button of a list fetched whole each time (`/positions`)."""
    return json.dumps({"kind": kind, "page": page}, separators=(",", ":"))


def parse_page_value(value: str) -> dict[str, Any]:
    """The inverse of `page_value` (extra keys are kept); ValueError when it is not one."""
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
    ):
        raise ValueError("not a page button value")
    return data


def pagination_block(
    kind: str,
    previous: str | None,
    following: str | None,
    previous_label: str = "◀ Previous",
) -> ActionsBlock | None:
    """Previous/Next buttons carrying the given values, or None when there is neither."""
    buttons = []
    if previous is not None:
        buttons.append(ButtonElement(text=previous_label, action_id=ids.PAGE_PREV, value=previous))
    if following is not None:
        buttons.append(ButtonElement(text="Next ▶", action_id=ids.PAGE_NEXT, value=following))
    if not buttons:
        return None
    return ActionsBlock(block_id=f"pages_{kind}", elements=buttons)


_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def placed_by(trade: dict[str, Any]) -> str:
    """Who placed a trade: a Slack mention for a Slack user, else the OMS's name for the
    client; orders found at the broker were placed outside the OMS."""
    who = trade.get("requested_by")
    if isinstance(who, str) and _SLACK_USER_ID.match(who):
        return f"<@{who}>"
    if isinstance(who, str) and who.strip():
        return user_text(who.strip(), 60)
    if trade.get("external"):
        return "outside the OMS"
    return "unknown"
