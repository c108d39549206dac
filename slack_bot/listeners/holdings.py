"""Positions as traders see them: per portfolio where the OMS knows, the broker's otherwise."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from slack_bot.deps import BotDeps
from slack_bot.listeners.common import call_oms


def portfolio_positions(deps: BotDeps) -> list[dict[str, Any]]:
    """Open positions of every portfolio (what can be sold from Slack), largest first."""
    positions: list[dict[str, Any]] = []
    for portfolio in call_oms(deps.oms.portfolios):
        name = portfolio["name"]
        book = call_oms(lambda name=name: deps.oms.portfolio(name))
        for position in book.get("positions", []):
            if Decimal(str(position["qty"])) > 0:
                positions.append({**position, "portfolio": name})
    return positions


def all_positions(deps: BotDeps) -> list[dict[str, Any]]:
    """Portfolio positions, plus what the broker holds beyond them (labelled no portfolio)."""
    attributed = portfolio_positions(deps)
    held: dict[str, Decimal] = {}
    for position in attributed:
        held[position["symbol"]] = held.get(position["symbol"], Decimal(0)) + Decimal(
            str(position["qty"])
        )
    rest = []
    for position in call_oms(deps.oms.positions):
        extra = Decimal(str(position["qty"])) - held.get(position["symbol"], Decimal(0))
        if extra != 0:
            rest.append({**position, "qty": str(extra), "portfolio": None})
    return attributed + rest
