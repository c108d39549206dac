"""The /positions message: positions grouped by portfolio, then the unmanaged ones (what the
broker holds beyond every portfolio); largest market value first, P&L in dollars and percent,
Sell on each. Every figure is the OMS's, formatted only: the bot adds nothing up."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    DividerBlock,
    HeaderBlock,
    PlainTextObject,
)

from slack_bot import formatting
from slack_bot.blocks import ids
from slack_bot.blocks.common import (
    MESSAGE_BLOCK_LIMIT,
    context,
    message,
    mode_badge,
    page_value,
    pagination_block,
    section,
    truncate,
    user_text,
)
from slack_bot.forms import position_option_value

# Each position is one block, each portfolio on the page one more: at most 15 + 15 + 5 < 50.
POSITIONS_PER_PAGE = 15
UNMANAGED_TITLE = "Unmanaged"
UNMANAGED_NOTE = (
    "Held at the broker beyond every portfolio's book (e.g. orders placed in Alpaca's "
    "dashboard). No portfolio owns them, so they have no Sell button."
)
UNMANAGED_ADMIN_NOTE = (
    "An admin can close one of them at the broker (Close unmanaged): only what no portfolio "
    "holds is sold."
)
NO_PRICES_NOTE = (
    ":warning: Prices are unavailable: the broker could not be asked just now. Quantities and "
    "costs are the OMS's own records; run /positions again in a minute for prices and P&L."
)


def _value_key(position: dict[str, Any]) -> tuple[int, Decimal]:
    value = formatting.to_decimal(position.get("market_value"))
    return (1, Decimal(0)) if value is None else (0, -abs(value))


def by_market_value(positions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Largest absolute market value first; positions without a price last (order kept)."""
    return sorted(positions, key=_value_key)


def _held(position: dict[str, Any]) -> bool:
    return bool(formatting.to_decimal(position.get("qty")))


def book_rows(book: dict[str, Any]) -> list[tuple[dict[str, Any] | None, dict[str, Any]]]:
    """(portfolio, position) for every open position; portfolio None for the unmanaged ones
    (the broker's beyond every portfolio), which come last."""
    rows: list[tuple[dict[str, Any] | None, dict[str, Any]]] = []
    for portfolio in book.get("portfolios") or []:
        held = [p for p in portfolio.get("positions") or [] if _held(p)]
        rows.extend((portfolio, position) for position in by_market_value(held))
    outside = [p for p in book.get("outside_portfolios") or [] if _held(p)]
    rows.extend((None, position) for position in by_market_value(outside))
    return rows


def _unpriced(positions: list[dict[str, Any]]) -> int:
    return sum(1 for p in positions if formatting.to_decimal(p.get("market_value")) is None)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def valuation(portfolio: dict[str, Any], positions: list[dict[str, Any]]) -> str:
    """`value $1,234.50 · unrealized +$34.50 (+2.9 %)`: the OMS's totals of the portfolio
    (over its positions with a price), and how many have none (the broker does not hold them,
    or could not be asked)."""
    missing = _unpriced(positions)
    if missing == len(positions):
        return "value unknown (no prices)"
    text = (
        f"value {formatting.money(portfolio.get('market_value'))} · unrealized "
        f"{formatting.pnl(portfolio.get('unrealized_pl'), portfolio.get('unrealized_plpc'))}"
    )
    return text + (f" · {missing} without a price" if missing else "")


def _group_text(
    portfolio: dict[str, Any] | None,
    positions: list[dict[str, Any]],
    continued: bool,
    admin: bool = False,
) -> str:
    more = " (continued)" if continued else ""
    if portfolio is None:
        note = f"{UNMANAGED_NOTE} {UNMANAGED_ADMIN_NOTE}" if admin else UNMANAGED_NOTE
        missing = _unpriced(positions)
        unpriced = f" · {missing} without a price" if missing else ""
        return (
            f"*{UNMANAGED_TITLE}*{more} · {_count(len(positions), 'position')}{unpriced}\n_{note}_"
        )
    name = user_text(str(portfolio.get("name") or "?"), 60)
    status = portfolio.get("status")
    paused = f" ({user_text(str(status), 20)})" if status and status != "active" else ""
    realized = formatting.signed_money(portfolio.get("realized_pl"))
    return f"*{name}*{paused}{more} · {valuation(portfolio, positions)} · realized {realized}"


def _position_text(position: dict[str, Any]) -> str:
    symbol = user_text(str(position.get("symbol") or "?"), 21)
    short = " (short)" if position.get("side") == "short" else ""
    price = formatting.to_decimal(position.get("current_price"))
    price_text = formatting.money(price) if price is not None else "unknown"
    realized = formatting.to_decimal(position.get("realized_pl"))
    realized_text = f" · realized {formatting.signed_money(realized)}" if realized else ""
    return (
        f"*{symbol}*{short} — {formatting.qty(position.get('qty'))} sh"
        f" @ avg {formatting.money(position.get('avg_entry_price'))} · price {price_text}\n"
        f"Value {formatting.money(position.get('market_value'))}"
        f" · unrealized "
        f"{formatting.pnl(position.get('unrealized_pl'), position.get('unrealized_plpc'))}"
        f"{realized_text}"
    )


def _sell_button(
    portfolio: dict[str, Any] | None, position: dict[str, Any]
) -> ButtonElement | None:
    held = formatting.to_decimal(position.get("qty"))
    if portfolio is None or portfolio.get("status", "active") != "active":
        return None  # no portfolio owns it, or its portfolio is paused (the OMS would refuse)
    if held is None or held <= 0 or position.get("side") == "short":
        return None  # a short is closed by buying: /trade SYMBOL buy QTY
    return ButtonElement(
        text="Sell",
        action_id=ids.POSITION_SELL,
        value=position_option_value(
            str(position.get("symbol")), position.get("qty"), str(portfolio.get("name"))
        ),
    )


def _side_words(position: dict[str, Any]) -> tuple[str, str]:
    """(verb, button label): a long is sold, a short bought back."""
    if position.get("side") == "short" or (formatting.to_decimal(position.get("qty")) or 0) < 0:
        return "Buy back", "Emergency buy back"
    return "Sell", "Emergency sell"


def emergency_sell_button(portfolio: dict[str, Any], position: dict[str, Any]) -> ButtonElement:
    """Close all the portfolio holds of the symbol at market now, and pause the portfolio
    (placed even while the portfolio is paused or trading halted); Slack asks first."""
    symbol = str(position.get("symbol") or "?")
    name = str(portfolio.get("name") or "?")
    held = formatting.qty(abs(formatting.to_decimal(position.get("qty")) or 0))
    verb, label = _side_words(position)
    return ButtonElement(
        text=label,
        action_id=ids.POSITION_EMERGENCY_SELL,
        value=position_option_value(symbol, position.get("qty"), name),
        style="danger",
        confirm=ConfirmObject(
            title=f"{label}?",
            text=truncate(
                f"{verb} all {held} {symbol} of portfolio {name} at market now and pause {name}?",
                300,
            ),
            confirm=f"{verb} at market",
            deny="Keep it",
            style="danger",
        ),
    )


def close_account_button(position: dict[str, Any]) -> ButtonElement:
    """Admins: close what no portfolio holds of the symbol at the broker (the unmanaged
    quantity; the books stay as they are): how an unmanaged position is sold. Slack asks
    first."""
    symbol = str(position.get("symbol") or "?")
    return ButtonElement(
        text="Close unmanaged",
        action_id=ids.POSITION_CLOSE_ACCOUNT,
        value=position_option_value(symbol, position.get("qty"), None),
        style="danger",
        confirm=ConfirmObject(
            title="Close unmanaged?",
            text=truncate(
                f"Close the {formatting.qty(position.get('qty'))} {symbol} no portfolio holds, at "
                "the broker, at market, now? The portfolios' holdings of it stay as they are.",
                300,
            ),
            confirm="Close at market",
            deny="Keep it",
            style="danger",
        ),
    )


def _emergency_actions(
    portfolio: dict[str, Any] | None, position: dict[str, Any], admin: bool
) -> ActionsBlock | None:
    if not formatting.to_decimal(position.get("qty")):
        return None
    if portfolio is not None:
        button = emergency_sell_button(portfolio, position)
    elif admin:
        button = close_account_button(position)
    else:
        return None
    return ActionsBlock(elements=[button])


def positions_message(
    book: dict[str, Any], mode: str, page: int = 0, *, admin: bool = False
) -> dict[str, Any]:
    """A page of `GET /positions/by-portfolio` (POSITIONS_PER_PAGE positions); its
    `outside_portfolios` are the unmanaged positions. The page buttons carry only the page
    number: Next asks the OMS once more (one broker call), so the prices on every page are
    current. Each position of a portfolio has Emergency sell under it; `admin` adds Close
    whole position to the unmanaged ones."""
    rows = book_rows(book)
    notes = [mode_badge(mode)]
    if book.get("as_of"):
        notes.append(f"as of {formatting.slack_time(book['as_of'], formatting.DAY_AND_TIME_SECS)}")
    if not rows:
        return message(
            "No open positions.",
            [section(":information_source: No open positions."), context(*notes)],
        )
    pages = (len(rows) + POSITIONS_PER_PAGE - 1) // POSITIONS_PER_PAGE
    page = min(max(page, 0), pages - 1)
    shown = rows[page * POSITIONS_PER_PAGE : (page + 1) * POSITIONS_PER_PAGE]
    unmanaged = sum(1 for owner, _ in rows if owner is None)
    counts = f"{len(rows)} open positions" + (f", {unmanaged} unmanaged" if unmanaged else "")
    blocks: list[Any] = [
        HeaderBlock(text=PlainTextObject(text=f"Positions ({len(rows)})")),
        context(*notes),
    ]
    if book.get("broker_positions_available") is False:
        blocks.append(section(NO_PRICES_NOTE))
    blocks.append(DividerBlock())
    current: object = object()  # the group whose header was shown last on this page
    first_index = page * POSITIONS_PER_PAGE
    for index, (portfolio, position) in enumerate(shown, start=first_index):
        if portfolio is not current:
            current = portfolio
            members = [p for owner, p in rows if owner is portfolio]
            continued = index > 0 and rows[index - 1][0] is portfolio
            blocks.append(section(_group_text(portfolio, members, continued, admin)))
        blocks.append(
            section(_position_text(position), accessory=_sell_button(portfolio, position))
        )
        emergency = _emergency_actions(portfolio, position, admin)
        if emergency is not None:
            blocks.append(emergency)
    if pages > 1:
        blocks.append(context(f"Page {page + 1} of {pages} · largest market value first"))
    nav = pagination_block(
        "positions",
        page_value("positions", page - 1) if page > 0 else None,
        page_value("positions", page + 1) if page < pages - 1 else None,
    )
    if nav is not None:
        blocks.append(nav)
    if len(blocks) > MESSAGE_BLOCK_LIMIT:
        # A page of one-position portfolios without prices: the divider is what can go.
        blocks = [block for block in blocks if not isinstance(block, DividerBlock)]
    return message(counts, blocks)
