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
    # Both at once: the reply waits for the slower one, not for their sum.
    market_f = deps.executor.submit(call_oms, deps.oms.market_status, reading="the market's hours")
    quote = call_oms(lambda: deps.oms.quote(symbol), reading=f"the price of {symbol}")
    return quote_message(quote, market_f.result())


def handle_quote(ack: Any, command: dict, respond: Any, context: Any) -> None:
    answer_read(ack, command, respond, context, _quote)
