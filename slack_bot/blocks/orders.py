"""The /orders message: recent trades, with a guarded Cancel button on working ones."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ButtonElement,
    ConfirmObject,
    DividerBlock,
    HeaderBlock,
    PlainTextObject,
)

from slack_bot import formatting
from slack_bot.blocks import ids
from slack_bot.blocks.common import (
    context,
    message,
    order_summary,
    pagination_block,
    section,
    status_text,
    truncate,
)

ORDERS_PER_PAGE = 15  # one block each, plus header/context/pagination: far below 50


def _summary(trade: dict[str, Any]) -> str:
    return order_summary(
        trade.get("side"),
        trade.get("symbol"),
        trade.get("qty"),
        trade.get("notional"),
        trade.get("order_type"),
        trade.get("limit_price"),
        trade.get("stop_price"),
    )


def _trade_text(trade: dict[str, Any]) -> str:
    filled = formatting.to_decimal(trade.get("filled_qty"))
    fill = (
        f"filled {formatting.qty(filled)} @ {formatting.money(trade.get('filled_avg_price'))}"
        if filled
        else "nothing filled"
    )
    return (
        f"{status_text(trade.get('status'))} · *{_summary(trade)}* · #{trade.get('id', '?')}\n"
        f"{fill} · {formatting.when(trade.get('created_at'))}"
    )


def _cancel_button(trade: dict[str, Any]) -> ButtonElement | None:
    if trade.get("status") not in ids.CANCELABLE_STATUSES or trade.get("id") is None:
        return None
    return ButtonElement(
        text="Cancel",
        action_id=ids.ORDER_CANCEL,
        value=str(trade["id"]),
        style="danger",
        confirm=ConfirmObject(
            title="Cancel this order?",
            text=truncate(
                f"Cancel order #{trade['id']}: {_summary(trade)}? "
                "Shares already filled stay filled.",
                300,
            ),
            confirm="Cancel order",
            deny="Keep it",
            style="danger",
        ),
    )


def orders_message(
    trades: list[dict[str, Any]],
    title: str,
    page: int = 0,
    next_cursor: str | None = None,
    arg: str | None = None,
) -> dict[str, Any]:
    """A page of trades (ORDERS_PER_PAGE per page). Page buttons carry `{"kind": "orders",
    "page", "arg"}`; past the last local page, Next carries page 0 and arg = next_cursor,
    meaning "fetch the next batch from the OMS with this cursor"."""
    heading = truncate(title or "Orders", 150)
    if not trades:
        return message(f"{heading}: none", [section(f"*{heading}*\nNo orders found.")])
    pages = (len(trades) + ORDERS_PER_PAGE - 1) // ORDERS_PER_PAGE
    page = min(max(page, 0), pages - 1)
    shown = trades[page * ORDERS_PER_PAGE : (page + 1) * ORDERS_PER_PAGE]
    blocks: list[Any] = [HeaderBlock(text=PlainTextObject(text=heading)), DividerBlock()]
    for trade in shown:
        blocks.append(section(_trade_text(trade), accessory=_cancel_button(trade)))
    last_local_page = page >= pages - 1
    has_more = not last_local_page or bool(next_cursor)
    if pages > 1 or next_cursor:
        more = " (more in the OMS)" if next_cursor else ""
        blocks.append(context(f"Page {page + 1} of {pages}{more}"))
    nav = pagination_block(
        "orders",
        page,
        page > 0,
        has_more,
        arg=arg,  # the /orders filter ("open", a symbol), so every page shows the same list
        next_arg=next_cursor if last_local_page else None,
    )
    if nav is not None:
        blocks.append(nav)
    return message(f"{heading}: {len(trades)} orders", blocks)
