"""The /positions message: one line per position, with a Sell button on long ones."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from slack_sdk.models.blocks import ButtonElement, DividerBlock, HeaderBlock, PlainTextObject

from slack_bot import formatting
from slack_bot.blocks import ids
from slack_bot.blocks.common import (
    context,
    message,
    mode_badge,
    pagination_block,
    section,
    user_text,
)
from slack_bot.forms import position_option_value

POSITIONS_PER_PAGE = 15  # one block each, plus header/context/pagination: far below 50


def _position_text(position: dict[str, Any]) -> str:
    symbol = user_text(str(position.get("symbol") or "?"), 21)
    portfolio = position.get("portfolio")
    where = f" · _{user_text(str(portfolio), 60)}_" if portfolio else ""
    short = " (short)" if position.get("side") == "short" else ""
    return (
        f"*{symbol}*{where}{short} — {formatting.qty(position.get('qty'))} sh"
        f" @ avg {formatting.money(position.get('avg_entry_price'))}\n"
        f"Price {formatting.money(position.get('current_price'))}"
        f" · value {formatting.money(position.get('market_value'))}"
        f" · P&L {formatting.pnl(position.get('unrealized_pl'), position.get('unrealized_plpc'))}"
    )


def _sell_button(position: dict[str, Any]) -> ButtonElement | None:
    held = formatting.to_decimal(position.get("qty"))
    if held is None or held <= 0 or position.get("side") == "short":
        return None  # a short is closed by buying: /trade SYMBOL buy QTY
    return ButtonElement(
        text="Sell",
        action_id=ids.POSITION_SELL,
        value=position_option_value(
            str(position.get("symbol")), position.get("qty"), position.get("portfolio")
        ),
    )


def positions_message(
    positions: list[dict[str, Any]], mode: str, page: int = 0, arg: str | None = None
) -> dict[str, Any]:
    """A page of positions (POSITIONS_PER_PAGE per page). `arg` is carried by the page
    buttons (e.g. a portfolio name) so the listener can fetch the same list again."""
    if not positions:
        return message(
            "No open positions.",
            [section(":information_source: No open positions."), context(mode_badge(mode))],
        )
    pages = (len(positions) + POSITIONS_PER_PAGE - 1) // POSITIONS_PER_PAGE
    page = min(max(page, 0), pages - 1)
    shown = positions[page * POSITIONS_PER_PAGE : (page + 1) * POSITIONS_PER_PAGE]
    total_value = sum(
        (formatting.to_decimal(p.get("market_value")) or Decimal(0) for p in positions),
        start=Decimal(0),
    )
    total_pl = sum(
        (formatting.to_decimal(p.get("unrealized_pl")) or Decimal(0) for p in positions),
        start=Decimal(0),
    )
    blocks: list[Any] = [
        HeaderBlock(text=PlainTextObject(text=f"Positions ({len(positions)})")),
        context(
            mode_badge(mode),
            f"Value {formatting.money(total_value)} · unrealized {formatting.pnl(total_pl)}",
        ),
        DividerBlock(),
    ]
    for position in shown:
        button = _sell_button(position)
        blocks.append(section(_position_text(position), accessory=button))
    if pages > 1:
        blocks.append(context(f"Page {page + 1} of {pages}"))
        nav = pagination_block("positions", page, page > 0, page < pages - 1, arg)
        if nav is not None:
            blocks.append(nav)
    return message(f"{len(positions)} open positions", blocks)
