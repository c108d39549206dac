"""/positions: open positions with P&L, each with a Sell button."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.positions import positions_message
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import answer_read, trading_mode
from slack_bot.listeners.holdings import all_positions


def _positions(deps: BotDeps, _text: str) -> dict[str, Any]:
    return positions_message(all_positions(deps), trading_mode(deps))


def handle_positions(ack: Any, command: dict, respond: Any, context: Any) -> None:
    answer_read(ack, command, respond, context, _positions)
