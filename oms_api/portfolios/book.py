"""Every portfolio's positions, valued with one look at the broker's positions.

What a desk sees on one screen: each portfolio's book (built from its own fills) priced from the
broker's positions, and what the broker holds beyond all the books (trades made elsewhere, e.g.
in Alpaca's dashboard). One broker request however many portfolios and positions: a symbol the
broker does not hold is left unpriced (and said so) rather than quoted one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from oms_api.broker.models import Position
from oms_api.errors import ServiceError
from oms_api.portfolios.service import CENT, HeldPosition, MarketReads, PortfolioService

PLPC_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class BookPosition:
    symbol: str
    qty: Decimal
    side: str  # long | short
    avg_entry_price: Decimal
    cost_basis: Decimal
    current_price: Decimal | None
    market_value: Decimal | None
    unrealized_pl: Decimal | None
    unrealized_plpc: Decimal | None  # a fraction: 0.021 is +2.1 %
    realized_pl: Decimal
    broker_qty: Decimal | None  # the whole account's, at the broker; None: could not ask


@dataclass(frozen=True)
class PortfolioBook:
    name: str
    status: str
    allocated_capital: Decimal
    positions: list[BookPosition]
    market_value: Decimal
    cost_basis: Decimal
    unrealized_pl: Decimal
    unrealized_plpc: Decimal | None
    realized_pl: Decimal


@dataclass(frozen=True)
class OutsidePosition:
    """What the broker holds of a symbol beyond what the portfolios' fills account for."""

    symbol: str
    qty: Decimal
    side: str
    avg_entry_price: Decimal
    cost_basis: Decimal
    current_price: Decimal | None
    market_value: Decimal | None
    unrealized_pl: Decimal | None
    unrealized_plpc: Decimal | None


@dataclass(frozen=True)
class Books:
    portfolios: list[PortfolioBook]
    outside_portfolios: list[OutsidePosition]
    broker_positions_available: bool
    warnings: list[str]
    as_of: datetime


def _plpc(pl: Decimal | None, cost: Decimal) -> Decimal | None:
    if pl is None or cost == 0:
        return None
    return (pl / abs(cost)).quantize(PLPC_PLACES)


def _largest_first(value: Decimal | None) -> tuple[int, Decimal]:
    # Unknown values last; otherwise by absolute market value, largest first.
    return (1, Decimal(0)) if value is None else (0, -abs(value))


def priced_position(held: HeldPosition, broker: Position | None, known: bool) -> BookPosition:
    price = broker.current_price if broker is not None else None
    value = (held.qty * price).quantize(CENT) if price is not None else None
    unrealized = (value - held.cost_basis).quantize(CENT) if value is not None else None
    return BookPosition(
        symbol=held.symbol,
        qty=held.qty,
        side="long" if held.qty >= 0 else "short",
        avg_entry_price=held.avg_entry_price,
        cost_basis=held.cost_basis,
        current_price=price,
        market_value=value,
        unrealized_pl=unrealized,
        unrealized_plpc=_plpc(unrealized, held.cost_basis),
        realized_pl=held.realized_pl,
        broker_qty=(broker.qty if broker is not None else Decimal(0)) if known else None,
    )


def value_books(portfolios: PortfolioService, market: MarketReads) -> Books:
    """Every portfolio's book and the broker's extra positions: one database read of the
    fills, one broker request."""
    warnings: list[str] = []
    try:
        at_broker: dict[str, Position] | None = {p.symbol: p for p in market.positions()}
    except ServiceError as error:
        at_broker = None
        warnings.append(
            f"the broker's positions could not be read ({error.message}): prices and the "
            "broker's quantities are unknown (null)"
        )
    known = at_broker is not None
    holdings = portfolios.all_holdings()
    in_books: dict[str, Decimal] = {}
    books: list[PortfolioBook] = []
    for portfolio in portfolios.list():
        assert portfolio.id is not None
        rows = []
        for held in holdings.get(portfolio.id, []):
            broker = at_broker.get(held.symbol) if at_broker is not None else None
            row = priced_position(held, broker, known)
            if known and held.qty != 0 and row.current_price is None:
                warnings.append(
                    f"{portfolio.name} holds {held.symbol} but the broker does not: no price, "
                    "so its value is left out of the totals"
                )
            in_books[held.symbol] = in_books.get(held.symbol, Decimal(0)) + held.qty
            rows.append(row)
        rows.sort(key=lambda r: _largest_first(r.market_value))
        value = sum((r.market_value for r in rows if r.market_value is not None), Decimal(0))
        priced_cost = sum((r.cost_basis for r in rows if r.market_value is not None), Decimal(0))
        unrealized = sum((r.unrealized_pl or Decimal(0) for r in rows), Decimal(0))
        books.append(
            PortfolioBook(
                name=portfolio.name,
                status=portfolio.status,
                allocated_capital=portfolio.allocated_capital,
                positions=rows,
                market_value=value.quantize(CENT),
                cost_basis=sum((r.cost_basis for r in rows), Decimal(0)).quantize(CENT),
                unrealized_pl=unrealized.quantize(CENT),
                unrealized_plpc=_plpc(unrealized, priced_cost),
                realized_pl=sum((r.realized_pl for r in rows), Decimal(0)).quantize(CENT),
            )
        )
    outside = unmanaged_positions(at_broker or {}, in_books)
    return Books(books, outside, known, warnings, datetime.now(UTC))


def unmanaged_positions(
    at_broker: dict[str, Position], in_books: dict[str, Decimal]
) -> list[OutsidePosition]:
    rows = []
    for symbol, position in at_broker.items():
        qty = position.qty - in_books.get(symbol, Decimal(0))
        if qty == 0:
            continue
        price = position.current_price
        cost = (qty * position.avg_entry_price).quantize(CENT)
        value = (qty * price).quantize(CENT) if price is not None else None
        unrealized = (value - cost).quantize(CENT) if value is not None else None
        rows.append(
            OutsidePosition(
                symbol=symbol,
                qty=qty,
                side="long" if qty > 0 else "short",
                avg_entry_price=position.avg_entry_price,
                cost_basis=cost,
                current_price=price,
                market_value=value,
                unrealized_pl=unrealized,
                unrealized_plpc=_plpc(unrealized, cost),
            )
        )
    rows.sort(key=lambda r: _largest_first(r.market_value))
    return rows
