"""Positions as traders see them: the OMS's book by portfolio, in one request."""

from __future__ import annotations

import logging
from typing import Any

from slack_bot import formatting
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import call_oms

log = logging.getLogger(__name__)


def positions_book(deps: BotDeps) -> dict[str, Any]:
    """GET /positions/by-portfolio (one broker call at most); its warnings go to the log."""
    book = call_oms(deps.oms.positions_by_portfolio, reading="positions")
    for warning in book.get("warnings") or []:
        log.info("positions: %s", warning)
    return book


def sellable_positions(deps: BotDeps) -> list[dict[str, Any]]:
    """Long positions of every active portfolio (what can be sold from Slack; the OMS refuses
    trades in a paused one), each with its portfolio's name."""
    positions: list[dict[str, Any]] = []
    for portfolio in positions_book(deps).get("portfolios") or []:
        if portfolio.get("status", "active") != "active":
            continue
        for position in portfolio.get("positions") or []:
            held = formatting.to_decimal(position.get("qty"))
            if held is not None and held > 0:
                positions.append({**position, "portfolio": portfolio["name"]})
    return positions
