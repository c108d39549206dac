"""/portfolios: every portfolio with its capital, P&L, status, daily loss limit and pre-trade
limits, in one message (one OMS request)."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.portfolios import portfolios_message
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import answer_read, call_oms, trading_mode


def _portfolios(deps: BotDeps, _text: str) -> dict[str, Any]:
    portfolios = call_oms(deps.oms.portfolios, reading="the portfolios")
    return portfolios_message(portfolios, trading_mode(deps))


def handle_portfolios(ack: Any, command: dict, respond: Any, context: Any) -> None:
    answer_read(ack, command, respond, context, _portfolios)
