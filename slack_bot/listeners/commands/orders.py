"""/orders [open] [SYMBOL]: one page of the OMS's orders, newest first, with Cancel on the
working ones; every older order is a Next away."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.orders import ORDERS_PER_PAGE, SYMBOL_LIMIT, OrdersPage, orders_message
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import UserFacingError, answer_read, call_oms

USAGE = "Use /orders, /orders open, /orders AAPL or /orders open AAPL."


def parse_orders_text(text: str) -> OrdersPage:
    """`open` asks for working orders only (however old), a symbol for that symbol's orders."""
    words = text.split()
    open_only = any(word.lower() == "open" for word in words)
    symbols = [word.upper() for word in words if word.lower() != "open"]
    if len(symbols) > 1 or any(len(symbol) > SYMBOL_LIMIT for symbol in symbols):
        raise UserFacingError(f"I did not understand “{' '.join(words)[:60]}”. {USAGE}")
    return OrdersPage(open_only=open_only, symbol=symbols[0] if symbols else None)


def orders_page(deps: BotDeps, where: OrdersPage) -> dict[str, Any]:
    """The message for one page: one OMS request, at the page's cursor."""
    page = call_oms(
        lambda: deps.oms.list_trades(limit=ORDERS_PER_PAGE, **where.oms_filters()),
        reading="the orders",
    )
    return orders_message(page["trades"], where, page.get("next_cursor"))


def _orders(deps: BotDeps, text: str) -> dict[str, Any]:
    return orders_page(deps, parse_orders_text(text))


def handle_orders(ack: Any, command: dict, respond: Any, context: Any) -> None:
    answer_read(ack, command, respond, context, _orders)
