"""/quote SYMBOL: the latest price and whether the market is open."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.market import quote_message
from slack_bot.listeners.common import UserFacingError, call_oms, deps_of, message, refuse, reply


def handle_quote(ack: Any, command: dict, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    refusal = deps.authorizer.check_read(command["user_id"], command.get("channel_id", ""))
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    symbol = (command.get("text") or "").strip().upper()
    if not symbol:
        reply(respond, message("Which symbol? For example: /quote AAPL"))
        return
    try:
        quote = call_oms(lambda: deps.oms.quote(symbol))
        market = call_oms(deps.oms.market_status)
    except UserFacingError as error:
        reply(respond, message(str(error)))
        return
    reply(respond, quote_message(quote, market))
