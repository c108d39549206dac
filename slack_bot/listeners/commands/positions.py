"""/positions: open positions with P&L, each with a Sell button."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.positions import positions_message
from slack_bot.listeners.common import (
    UserFacingError,
    deps_of,
    message,
    refuse,
    reply,
    trading_mode,
)
from slack_bot.listeners.holdings import all_positions


def handle_positions(ack: Any, command: dict, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    refusal = deps.authorizer.check_read(command["user_id"], command.get("channel_id", ""))
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    try:
        positions = all_positions(deps)
    except UserFacingError as error:
        reply(respond, message(str(error)))
        return
    reply(respond, positions_message(positions, trading_mode(deps)))
