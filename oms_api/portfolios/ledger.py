"""Every portfolio's fills as signed quantities in time order, with when they happened: what
the books are replayed from (`PortfolioService.all_holdings` for now; P&L over time and today's
P&L cut the history at a moment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy.engine import Connection, Engine
from sqlmodel import select

from oms_api.orders.models import Fill, Order, OrderAllocation

# Quantities to 9 places, as the fills' column keeps them.
QTY_STEP = Decimal("0.000000001")


@dataclass(frozen=True)
class LedgerFill:
    portfolio_id: int
    symbol: str
    delta: Decimal  # signed: + bought, - sold
    price: Decimal
    at: datetime
    fill_id: int


def portfolio_fills(
    source: Engine | Connection,
    portfolio_id: int | None = None,
    since: datetime | None = None,
) -> list[LedgerFill]:
    """The fills of every portfolio (or one's), oldest first, from `since` when given: its own
    orders' fills and its share of account-wide orders (an emergency stop's closing orders,
    split by `order_allocations`: the share of everything filled so far, to 9 places, less what
    earlier fills counted, so the parts add up to the allocation). Read on `source`: an engine,
    or the caller's connection (e.g. inside the transaction that records an order)."""
    own = (
        select(
            Order.portfolio_id,
            Order.symbol,
            Order.side,
            Fill.qty,
            Fill.price,
            Fill.filled_at,
            Fill.id,
        )
        .join(Fill, Fill.order_id == Order.id)  # type: ignore[arg-type]
        .where(Order.portfolio_id.is_not(None))  # type: ignore[union-attr]
    )
    shared = (
        select(
            OrderAllocation.portfolio_id,
            Order.symbol,
            Order.side,
            Fill.qty,
            Fill.price,
            Fill.filled_at,
            Fill.id,
            Order.id,
            OrderAllocation.qty,
            Order.qty,
        )
        .join(Order, Order.id == OrderAllocation.order_id)  # type: ignore[arg-type]
        .join(Fill, Fill.order_id == Order.id)  # type: ignore[arg-type]
        .where(Order.qty.is_not(None))  # type: ignore[union-attr]
    )
    if portfolio_id is not None:
        own = own.where(Order.portfolio_id == portfolio_id)
        shared = shared.where(OrderAllocation.portfolio_id == portfolio_id)
    if since is not None:
        own = own.where(Fill.filled_at >= since)  # shared ones need every fill for their shares
    if isinstance(source, Connection):
        own_rows = source.execute(own).all()
        shared_rows = source.execute(shared).all()
    else:
        with source.connect() as connection:
            own_rows = connection.execute(own).all()
            shared_rows = connection.execute(shared).all()
    fills = [
        LedgerFill(owner, symbol, qty if side == "buy" else -qty, price, at, fill_id)
        for owner, symbol, side, qty, price, at, fill_id in own_rows
    ]
    counted: dict[tuple[int, int], tuple[Decimal, Decimal]] = {}
    for owner, symbol, side, qty, price, at, fill_id, order_id, share, order_qty in sorted(
        shared_rows, key=lambda row: (row[5], row[6])
    ):
        filled, booked = counted.get((order_id, owner), (Decimal(0), Decimal(0)))
        filled += qty
        total = (share * filled / order_qty).quantize(QTY_STEP, rounding=ROUND_HALF_EVEN)
        counted[(order_id, owner)] = (filled, total)
        if since is not None and at < since:
            continue
        part = total - booked if side == "buy" else booked - total
        fills.append(LedgerFill(owner, symbol, part, price, at, fill_id))
    fills.sort(key=lambda fill: (fill.at, fill.fill_id))
    return fills
