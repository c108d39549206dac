"""The /history message: the account's trades as the broker reports them, grouped by strategy
("SPY iron condor 17 Jan, 4 legs, credit $1.23, closed +$84.00"), newest first, page by page,
each with a Legs button; and the legs of one trade.

Pure functions of the OMS's answers; every piece of text from the OMS or the broker is escaped."""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_sdk.models.blocks import ButtonElement, HeaderBlock, PlainTextObject

from slack_bot import formatting
from slack_bot.blocks import ids
from slack_bot.blocks.common import (
    MESSAGE_BLOCK_LIMIT,
    SECTION_TEXT_LIMIT,
    context,
    message,
    pagination_block,
    section,
    status_text,
    truncate,
    user_text,
)
from slack_bot.blocks.paging import CursorPage, nav_values

KIND = "history"  # the page buttons' list
# One OMS request per page: one block per trade, plus header, context and buttons.
TRADES_PER_PAGE = 15
TRADE_ID_LIMIT = 40
LEG_LINE_LIMIT = 400

STRATEGY_WORDS = {
    "equity": "shares",
    "single_leg": "option",
    "vertical_spread": "vertical spread",
    "straddle": "straddle",
    "strangle": "strangle",
    "iron_condor": "iron condor",
    "options": "options",
}
STATE_EMOJI = {
    "working": ":hourglass_flowing_sand:",
    "open": ":large_blue_circle:",
    "closed": ":checkered_flag:",
    "filled": ":white_check_mark:",
    "unfilled": ":no_entry_sign:",
}
INTENT_WORDS = {
    "buy_to_open": "to open",
    "sell_to_open": "to open",
    "buy_to_close": "to close",
    "sell_to_close": "to close",
}


def _plain(value: object, limit: int) -> str:
    return user_text(" ".join(str(value).split()), limit)


def _date(value: object) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def day_month(value: object, reference: object = None) -> str | None:
    """`17 Jan` (an expiry); with the year when it is not the year of `reference` (when the
    trade was opened), so a LEAPS reads `15 Jan 2027`."""
    day = _date(value)
    if day is None:
        return None
    text = f"{day.day} {day:%b}"
    opened = formatting.parse_time(reference)
    return text if opened is None or opened.year == day.year else f"{text} {day.year}"


def strategy_words(strategy: object) -> str:
    return STRATEGY_WORDS.get(str(strategy), _plain(str(strategy).replace("_", " "), 30))


def trade_title(trade: dict[str, Any]) -> str:
    """`SPY iron condor 17 Jan`, `AAPL shares` (plain: also a header)."""
    underlying = " ".join(str(trade.get("underlying") or "?").split())[:21]
    expiry = day_month(trade.get("expiry"), trade.get("opened_at"))
    title = f"{underlying} {strategy_words(trade.get('strategy'))}"
    return f"{title} {expiry}" if expiry else title


def _is_equity(trade: dict[str, Any]) -> bool:
    return trade.get("strategy") == "equity"


def net_text(trade: dict[str, Any]) -> str | None:
    """`credit $1.23` per unit of an options strategy; `debit $1,900.00` for shares (what was
    paid); `even`; None while nothing has filled."""
    net = trade.get("net")
    if not isinstance(net, dict) or net.get("kind") not in ("credit", "debit", "even"):
        return None
    if net["kind"] == "even":
        return "even"
    value = formatting.to_decimal(net.get("amount") if _is_equity(trade) else net.get("price"))
    if value is None:
        return str(net["kind"])
    # The kind says which way the money went; the OMS may sign the figure too (paid < 0).
    return f"{net['kind']} {formatting.money(abs(value))}"


def state_text(trade: dict[str, Any]) -> str:
    """`closed +$84.00`, `open`, `working`, `filled`, `not filled`."""
    state = str(trade.get("state") or "")
    if state == "closed":
        pnl = formatting.to_decimal(trade.get("realized_pnl"))
        return f"closed {formatting.signed_money(pnl)}" if pnl is not None else "closed"
    if state == "unfilled":
        return "not filled"
    return _plain(state or "unknown", 20)


def trade_line(trade: dict[str, Any]) -> str:
    """`*SPY iron condor 17 Jan*, 4 legs, credit $1.23, closed +$84.00`."""
    parts = [f"*{user_text(trade_title(trade), 80)}*"]
    legs = trade.get("legs")
    if not _is_equity(trade) and isinstance(legs, int) and not isinstance(legs, bool):
        parts.append(f"{legs} leg{'' if legs == 1 else 's'}")
    net = net_text(trade)
    if net:
        parts.append(net)
    parts.append(state_text(trade))
    return ", ".join(parts)


def _when_line(trade: dict[str, Any]) -> str:
    moments = []
    if trade.get("opened_at"):
        moments.append(f"opened {formatting.slack_time(trade['opened_at'])}")
    if trade.get("closed_at"):
        moments.append(f"closed {formatting.slack_time(trade['closed_at'])}")
    orders = trade.get("orders")
    if isinstance(orders, int) and not isinstance(orders, bool):
        moments.append(f"{orders} order{'' if orders == 1 else 's'}")
    return " · ".join(moments) or "not placed yet"


def trade_text(trade: dict[str, Any]) -> str:
    emoji = STATE_EMOJI.get(str(trade.get("state")), ":grey_question:")
    return f"{emoji} {trade_line(trade)}\n{_when_line(trade)}"


def legs_button(trade: dict[str, Any]) -> ButtonElement | None:
    trade_id = trade.get("trade_id")
    if not isinstance(trade_id, str) or not 0 < len(trade_id) <= TRADE_ID_LIMIT:
        return None
    label = "Orders" if _is_equity(trade) else "Legs"
    return ButtonElement(text=label, action_id=ids.HISTORY_LEGS, value=trade_id)


def history_title(filters: dict[str, Any]) -> str:
    """`Trade history`, `SPY trade history`, `Iron condor history`."""
    symbol, strategy = filters.get("symbol"), filters.get("strategy")
    if symbol and strategy:
        return f"{symbol} {strategy_words(strategy)} history"
    if symbol:
        return f"{symbol} trade history"
    if strategy:
        return f"{strategy_words(strategy).capitalize()} history"
    return "Trade history"


def history_message(
    trades: list[dict[str, Any]], where: CursorPage, next_cursor: str | None = None
) -> dict[str, Any]:
    """One OMS page of trades, newest first; Next carries the OMS's `next_cursor`, Previous
    the cursor the list was at before."""
    heading = truncate(history_title(where.filters), 150)
    if not trades and where.page == 0:
        return message(f"{heading}: none", [section(f"*{user_text(heading, 150)}*\nNo trades.")])
    blocks: list[Any] = [HeaderBlock(text=PlainTextObject(text=heading))]
    for trade in trades[: MESSAGE_BLOCK_LIMIT - 4]:
        blocks.append(section(trade_text(trade), accessory=legs_button(trade)))
    if not trades:
        blocks.append(section("No more trades."))
    first = where.page * TRADES_PER_PAGE + 1
    span = f"trades {first} to {first + len(trades) - 1}" if trades else "past the last trade"
    more = "older trades on the next page" if next_cursor else "no older trades"
    blocks.append(
        context(f"Page {where.page + 1} · {span}, newest first · {more} · from the broker")
    )
    previous, following = nav_values(where, next_cursor)
    nav = pagination_block(KIND, previous, following, "◀ Previous" if where.back else "⏮ Newest")
    if nav is not None:
        blocks.append(nav)
    return message(f"{heading}: page {where.page + 1}, {len(trades)} trades", blocks)


def _option_text(option: object) -> str:
    """`call $500 17 Jan`."""
    if not isinstance(option, dict):
        return ""
    kind = option.get("type") if option.get("type") in ("call", "put") else "option"
    strike = formatting.to_decimal(option.get("strike"))
    expiry = day_month(option.get("expiry"))
    parts = [str(kind)]
    if strike is not None:
        parts.append(formatting.money(strike))
    if expiry:
        parts.append(expiry)
    return " ".join(parts)


def leg_line(order: dict[str, Any]) -> str:
    """`Leg 1 · *sell 1* `SPY250117C00500000` (call $500 17 Jan) to open · filled 1 @ $2.10 ·
    :white_check_mark: filled · <!date…>`."""
    leg = order.get("leg_number")
    head = f"Leg {leg}" if isinstance(leg, int) and not isinstance(leg, bool) else "Order"
    side = _plain(order.get("side") or "?", 4)
    qty = formatting.to_decimal(order.get("qty"))
    what = f"*{side} {formatting.qty(qty)}*" if qty is not None else f"*{side}*"
    symbol = f"`{_plain(order.get('symbol') or '?', 32)}`"
    option = _option_text(order.get("option"))
    detail = f" ({option})" if option else ""
    intent = INTENT_WORDS.get(str(order.get("position_intent")), "")
    how = f" {intent}" if intent else ""
    filled = formatting.to_decimal(order.get("filled_qty"))
    price = formatting.to_decimal(order.get("filled_avg_price"))
    if filled:
        fill = f"filled {formatting.qty(filled)} @ {formatting.money(price)}"
    else:
        fill = "nothing filled"
    moment = order.get("filled_at") or order.get("submitted_at")
    parts = [f"{head} · {what} {symbol}{detail}{how}", fill, status_text(order.get("status"))]
    if moment:
        parts.append(formatting.slack_time(moment))
    return truncate(" · ".join(parts), LEG_LINE_LIMIT)


def legs_message(trade: dict[str, Any]) -> dict[str, Any]:
    """One trade with its member orders (legs in leg order); a multi-leg order's parent, which
    holds no contract of its own, is left out."""
    members = [
        m
        for m in trade.get("members") or []
        if isinstance(m, dict) and (m.get("symbol") or m.get("order_class") != "mleg")
    ]
    title = truncate(trade_title(trade), 150)
    blocks: list[Any] = [
        HeaderBlock(text=PlainTextObject(text=title)),
        section(trade_text(trade)),
    ]
    chunk: list[str] = []
    for line in (leg_line(order) for order in members):
        if chunk and sum(len(x) + 1 for x in chunk) + len(line) > SECTION_TEXT_LIMIT - 10:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(section("\n".join(chunk)))
    if not members:
        blocks.append(section("No orders recorded for this trade."))
    blocks = blocks[: MESSAGE_BLOCK_LIMIT - 1]
    blocks.append(context(f"Trade `{_plain(trade.get('trade_id') or '?', 40)}` · from the broker"))
    return message(f"{title}: {trade_line(trade)}", blocks)
