"""/market: is the market open, and the next open and close."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.market import market_message
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import answer_read, call_oms


def _market(deps: BotDeps, _text: str) -> dict[str, Any]:
    return market_message(call_oms(deps.oms.market_status, reading="the market's hours"))


def handle_market(ack: Any, command: dict, respond: Any, context: Any) -> None:
    answer_read(ack, command, respond, context, _market)
