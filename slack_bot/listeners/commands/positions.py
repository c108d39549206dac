"""/positions: positions by portfolio, then the unmanaged ones (the broker's beyond every
portfolio, from the same GET /positions/by-portfolio), with P&L, Sell and Emergency sell;
admins also get Close unmanaged (the sell of an unmanaged position)."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.positions import positions_message
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import answer_read, deps_of, trading_mode
from slack_bot.listeners.holdings import positions_book


def positions_page(deps: BotDeps, page: int = 0, *, admin: bool = False) -> dict[str, Any]:
    """One OMS request (at most one broker call), whichever page is shown; `admin`: the reader
    is an OMS admin (the whole-position buttons are theirs)."""
    return positions_message(positions_book(deps), trading_mode(deps), page=page, admin=admin)


def handle_positions(ack: Any, command: dict, respond: Any, context: Any) -> None:
    admin = deps_of(context).authorizer.is_admin(command["user_id"])
    answer_read(
        ack, command, respond, context, lambda deps, _text: positions_page(deps, admin=admin)
    )
