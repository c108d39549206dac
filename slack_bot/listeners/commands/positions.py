"""/positions: positions by portfolio, then the broker's beyond them, with P&L and Sell."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.positions import positions_message
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import answer_read, trading_mode
from slack_bot.listeners.holdings import positions_book


def positions_page(deps: BotDeps, page: int = 0) -> dict[str, Any]:
    """One OMS request (at most one broker call), whichever page is shown."""
    return positions_message(positions_book(deps), trading_mode(deps), page=page)


def _positions(deps: BotDeps, _text: str) -> dict[str, Any]:
    return positions_page(deps)


def handle_positions(ack: Any, command: dict, respond: Any, context: Any) -> None:
    answer_read(ack, command, respond, context, _positions)
