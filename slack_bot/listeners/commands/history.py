"""/history [SYMBOL] [strategy]: the account's trades as the broker reports them, grouped by
strategy, newest first, one OMS page at a time; a symbol (AAPL, SPY or an OCC option symbol)
keeps its own and its options' trades, a strategy (iron condor, vertical, straddle, ...) the
trades of that strategy."""

from __future__ import annotations

import re
from typing import Any

from slack_bot.blocks.history import KIND, TRADES_PER_PAGE, history_message
from slack_bot.blocks.paging import CursorPage
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import UserFacingError, answer_read, read_oms

USAGE = (
    "Use /history, /history SPY, /history SPY250117C00500000 (an option), or /history "
    "iron condor — strategies: iron condor, vertical, straddle, strangle, single leg, "
    "options, equity."
)
# What traders type → the OMS's strategy names (oms_api.history.models.STRATEGIES).
STRATEGY_NAMES = {
    "iron condor": "iron_condor",
    "condor": "iron_condor",
    "vertical": "vertical_spread",
    "vertical spread": "vertical_spread",
    "spread": "vertical_spread",
    "straddle": "straddle",
    "strangle": "strangle",
    "single leg": "single_leg",
    "single": "single_leg",
    "options": "options",
    "equity": "equity",
    "stock": "equity",
    "shares": "equity",
}
STRATEGIES = frozenset(STRATEGY_NAMES.values())
# A US ticker is at most five letters (a share class or a crypto pair after "." or "/"):
# a longer word is a misspelt strategy, better explained than searched for.
EQUITY_SYMBOL = re.compile(r"^[A-Z]{1,5}([./][A-Z]{1,4})?$")
# An OCC option symbol: root, expiry yymmdd, C or P, strike x 1000 in 8 digits.
OCC_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.]{0,5}\d{6}[CP]\d{8}$")


def strategy_of(text: str) -> str | None:
    """The OMS strategy a trader's words name (`iron condor`, `iron_condor`, `Vertical`)."""
    words = " ".join(text.lower().replace("_", " ").replace("-", " ").split())
    return STRATEGY_NAMES.get(words)


def symbol_of(text: str) -> str | None:
    word = text.strip().upper()
    return word if EQUITY_SYMBOL.match(word) or OCC_SYMBOL.match(word) else None


def parse_history_text(text: str) -> CursorPage:
    """The first page of the list the text asks for; UserFacingError (with the usage) when it
    names neither a symbol nor a strategy."""
    text = " ".join(text.split())
    if not text:
        return CursorPage(KIND, {"symbol": None, "strategy": None})
    strategy = strategy_of(text)
    if strategy is not None:
        return CursorPage(KIND, {"symbol": None, "strategy": strategy})
    first, _, rest = text.partition(" ")
    symbol = symbol_of(first)
    strategy = strategy_of(rest) if rest else None
    if symbol is not None and (not rest or strategy is not None):
        return CursorPage(KIND, {"symbol": symbol, "strategy": strategy})
    raise UserFacingError(f"I did not understand “{text[:60]}”. {USAGE}")


def checked_filters(where: CursorPage) -> CursorPage:
    """A page from a button: its filters as /history would have made them; ValueError else."""
    symbol, strategy = where.filters.get("symbol"), where.filters.get("strategy")
    if set(where.filters) != {"symbol", "strategy"}:
        raise ValueError("not a history page value")
    if symbol is not None and (not isinstance(symbol, str) or symbol_of(symbol) != symbol):
        raise ValueError("not a history page value")
    if strategy is not None and strategy not in STRATEGIES:
        raise ValueError("not a history page value")
    return where


def history_page(deps: BotDeps, where: CursorPage) -> dict[str, Any]:
    """The message for one page: one OMS request, at the page's cursor."""
    page = read_oms(
        lambda: deps.oms.history(
            view="trades",
            limit=TRADES_PER_PAGE,
            cursor=where.cursor,
            symbol=where.filters.get("symbol"),
            strategy=where.filters.get("strategy"),
        ),
        reading="the trade history",
    )
    return history_message(page.get("trades") or [], where, page.get("next_cursor"))


def _history(deps: BotDeps, text: str) -> dict[str, Any]:
    return history_page(deps, parse_history_text(text))


def handle_history(ack: Any, command: dict, respond: Any, context: Any) -> None:
    answer_read(ack, command, respond, context, _history)
