"""/orders [SYMBOL|open]: recent orders, with Cancel on the working ones."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.orders import orders_message
from slack_bot.listeners.common import UserFacingError, call_oms, deps_of, message, refuse, reply

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


def handle_orders(ack: Any, command: dict, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    refusal = deps.authorizer.check_read(command["user_id"], command.get("channel_id", ""))
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    text = (command.get("text") or "").strip()
    try:
        trades, title = recent_orders(deps, text)
    except UserFacingError as error:
        reply(respond, message(str(error)))
        return
    reply(respond, orders_message(trades, title, arg=text or None))
