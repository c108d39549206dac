"""The /orders message: one page of the OMS's trade list, with a guarded Cancel button on
working orders and page buttons that carry the OMS's cursors."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
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
    BUTTON_VALUE_LIMIT,
    context,
    message,
    order_summary,
    pagination_block,
    placed_by,
    section,
    status_text,
    truncate,
    user_text,
)

# One OMS request per page: one block per order, plus header, divider, context and buttons.
ORDERS_PER_PAGE = 15
# An OMS cursor is opaque but short (a few dozen characters); refuse anything absurd.
CURSOR_LIMIT = 500
SYMBOL_LIMIT = 21


@dataclass(frozen=True)
class OrdersPage:
    """Which page of which list a /orders message shows, and how it got there.

    `cursor` is the OMS cursor this page was fetched with (None: the newest page). `back`
    holds the cursors of the pages before it, the nearest last; the oldest are dropped when
    the button value would outgrow Slack's limit, and Previous then goes to the newest page."""

    open_only: bool = False
    symbol: str | None = None
    page: int = 0
    cursor: str | None = None
    back: tuple[str | None, ...] = ()

    @property
    def title(self) -> str:
        what = f"{user_text(self.symbol, SYMBOL_LIMIT)} orders" if self.symbol else "orders"
        return f"Open {what}" if self.open_only else f"Recent {what}"

    def oms_filters(self) -> dict[str, Any]:
        """The query for GET /trades (without limit)."""
        filters: dict[str, Any] = {"cursor": self.cursor}
        if self.open_only:
            filters["open"] = True
        if self.symbol:
            filters["symbol"] = self.symbol
        return filters

    def to_value(self) -> str:
        """The page button value, within Slack's limit (dropping the oldest back cursors)."""
        page = self
        while True:
            value = json.dumps(
                {
                    "kind": "orders",
                    "page": page.page,
                    "open": page.open_only,
                    "symbol": page.symbol,
                    "cursor": page.cursor,
                    "back": list(page.back),
                },
                separators=(",", ":"),
            )
            if len(value) <= BUTTON_VALUE_LIMIT or not page.back:
                return value
            page = replace(page, back=page.back[1:])

    @classmethod
    def from_value(cls, value: str) -> OrdersPage:
        """The inverse of `to_value`; ValueError for anything else."""
        try:
            data = json.loads(value)
        except (TypeError, json.JSONDecodeError) as exc:
            raise ValueError("not an orders page value") from exc
        if not isinstance(data, dict) or data.get("kind") != "orders":
            raise ValueError("not an orders page value")
        page, open_only, symbol = data.get("page"), data.get("open"), data.get("symbol")
        cursor, back = data.get("cursor"), data.get("back")
        if (
            not isinstance(page, int)
            or isinstance(page, bool)
            or page < 0
            or not isinstance(open_only, bool)
            or not (symbol is None or (isinstance(symbol, str) and 0 < len(symbol) <= 21))
            or not _is_cursor(cursor)
            or not isinstance(back, list)
            or not all(_is_cursor(item) for item in back)
            or len(back) > page
        ):
            raise ValueError("not an orders page value")
        return cls(open_only, symbol, page, cursor, tuple(back))

    def following(self, next_cursor: str) -> OrdersPage:
        return replace(self, page=self.page + 1, cursor=next_cursor, back=(*self.back, self.cursor))

    def previous(self) -> OrdersPage:
        if not self.back:  # the way back was dropped: start again from the newest
            return replace(self, page=0, cursor=None, back=())
        return replace(self, page=self.page - 1, cursor=self.back[-1], back=self.back[:-1])


def _fitting(value: str | None) -> str | None:
    # Only an absurd cursor from the OMS could overflow: better no button than a refused message.
    return value if value is not None and len(value) <= BUTTON_VALUE_LIMIT else None


def _is_cursor(value: object) -> bool:
    return value is None or (isinstance(value, str) and 0 < len(value) <= CURSOR_LIMIT)


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


def fill_text(trade: dict[str, Any]) -> str:
    """`filled 3 @ $190.00 = $570.00`, or `nothing filled`."""
    filled = formatting.to_decimal(trade.get("filled_qty"))
    if not filled:
        return "nothing filled"
    price = formatting.to_decimal(trade.get("filled_avg_price"))
    value = f" = {formatting.money(filled * price)}" if price is not None else ""
    return f"filled {formatting.qty(filled)} @ {formatting.money(price)}{value}"


def _trade_text(trade: dict[str, Any]) -> str:
    portfolio = trade.get("portfolio")
    where = f"_{user_text(str(portfolio), 60)}_" if portfolio else "_no portfolio_"
    return (
        f"{status_text(trade.get('status'))} · *{_summary(trade)}* · #{trade.get('id', '?')}\n"
        f"{where} · by {placed_by(trade)} · {fill_text(trade)}"
        f" · {formatting.slack_time(trade.get('created_at'))}"
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
    trades: list[dict[str, Any]], where: OrdersPage, next_cursor: str | None = None
) -> dict[str, Any]:
    """One OMS page of trades (newest first). Next carries the OMS's `next_cursor`, Previous
    the cursor this list was at before, so every order is reachable one request at a time."""
    heading = truncate(where.title, 150)
    if not trades and where.page == 0:
        empty = "No working orders." if where.open_only else "No orders found."
        return message(f"{heading}: none", [section(f"*{heading}*\n{empty}")])
    blocks: list[Any] = [HeaderBlock(text=PlainTextObject(text=heading)), DividerBlock()]
    for trade in trades:
        blocks.append(section(_trade_text(trade), accessory=_cancel_button(trade)))
    if not trades:
        blocks.append(section("No more orders."))
    first = where.page * ORDERS_PER_PAGE + 1
    span = f"orders {first} to {first + len(trades) - 1}" if trades else "past the last order"
    more = "older orders on the next page" if next_cursor else "no older orders"
    blocks.append(context(f"Page {where.page + 1} · {span}, newest first · {more}"))
    previous = where.previous().to_value() if where.page > 0 else None
    following = where.following(next_cursor).to_value() if next_cursor else None
    nav = pagination_block(
        "orders",
        _fitting(previous),
        _fitting(following),
        previous_label="◀ Previous" if where.back else "⏮ Newest",
    )
    if nav is not None:
        blocks.append(nav)
    return message(f"{heading}: page {where.page + 1}, {len(trades)} orders", blocks)
