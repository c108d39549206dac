"""/quote SYMBOL: the latest price and whether the market is open."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.market import quote_message
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import UserFacingError, answer_read, call_oms


def _quote(deps: BotDeps, text: str) -> dict[str, Any]:
    symbol = text.upper()
    if not symbol:
        raise UserFacingError("Which symbol? For example: /quote AAPL")
    quote = call_oms(lambda: deps.oms.quote(symbol))
    return quote_message(quote, call_oms(deps.oms.market_status))


def handle_quote(ack: Any, command: dict, respond: Any, context: Any) -> None:
    answer_read(ack, command, respond, context, _quote)
