"""/orders [SYMBOL|open]: recent orders, with Cancel on the working ones."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.orders import orders_message
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import answer_read, call_oms

WORKING = {
    "pending_submit",
    "submitted",
    "unknown",
    "accepted",
    "partially_filled",
    "pending_cancel",
}
LIMIT = 100


def recent_orders(deps: Any, arg: str) -> tuple[list[dict], str]:
    """The orders `/orders ARG` shows, and the message's title."""
    arg = arg.strip()
    if arg.lower() == "open":
        page = call_oms(lambda: deps.oms.list_trades(limit=LIMIT))
        return [t for t in page["trades"] if t["status"] in WORKING], "Open orders"
    if arg:
        symbol = arg.upper()
        page = call_oms(lambda: deps.oms.list_trades(symbol=symbol, limit=LIMIT))
        return page["trades"], f"Recent {symbol} orders"
    return call_oms(lambda: deps.oms.list_trades(limit=LIMIT))["trades"], "Recent orders"


def _orders(deps: BotDeps, text: str) -> dict[str, Any]:
    trades, title = recent_orders(deps, text)
    return orders_message(trades, title, arg=text or None)


def handle_orders(ack: Any, command: dict, respond: Any, context: Any) -> None:
    answer_read(ack, command, respond, context, _orders)
