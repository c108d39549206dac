"""The /quote and /market messages."""

from __future__ import annotations

from typing import Any

from slack_bot import formatting
from slack_bot.blocks.common import context, market_line, market_moment, message, section
from slack_bot.blocks.trade_modal import quote_line


def quote_message(quote: dict[str, Any], market: dict[str, Any] | None) -> dict[str, Any]:
    """`AAPL latest price $189.12 (bid / ask, time)` and whether the market is open."""
    line = quote_line(quote, quote.get("symbol"))
    blocks = [section(line), context(market_line(market))]
    text = f"{quote.get('symbol', '?')}: {formatting.money(quote.get('price'))}"
    return message(text, blocks)


def market_message(market: dict[str, Any]) -> dict[str, Any]:
    """Open or closed, with the next open and close."""
    lines = [market_line(market)]
    if market.get("next_open"):
        lines.append(f"Next open: {market_moment(market.get('next_open'))}")
    if market.get("next_close"):
        lines.append(f"Next close: {market_moment(market.get('next_close'))}")
    blocks = [section("\n".join(lines))]
    if market.get("timestamp"):
        stamp = formatting.slack_time(market.get("timestamp"), formatting.DAY_AND_TIME_SECS)
        blocks.append(context(f"As of {stamp}"))
    text = "Market open" if market.get("is_open") else "Market closed"
    return message(text, blocks)
