"""/market: is the market open, and the next open and close."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.market import market_message
from slack_bot.listeners.common import UserFacingError, call_oms, deps_of, message, refuse, reply


def handle_market(ack: Any, command: dict, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    refusal = deps.authorizer.check_read(command["user_id"], command.get("channel_id", ""))
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    try:
        market = call_oms(deps.oms.market_status)
    except UserFacingError as error:
        reply(respond, message(str(error)))
        return
    reply(respond, market_message(market))
