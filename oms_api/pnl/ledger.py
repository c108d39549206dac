"""Every portfolio's fills as signed quantities in time order, with when they happened.

`PortfolioService.all_holdings` replays the same fills but answers only for now; P&L over time
and today's P&L need to cut the history at a moment, so the fills are read here with their
times and replayed with the same `_Book` (average cost) the portfolio views use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy.engine import Engine
from sqlmodel import select

from oms_api.db.engine import new_session
from oms_api.orders.models import Fill, Order, OrderAllocation
from oms_api.portfolios.service import QTY_STEP


@dataclass(frozen=True)
class LedgerFill:
    portfolio_id: int
    symbol: str
    delta: Decimal  # signed: + bought, - sold
    price: Decimal
    at: datetime
    fill_id: int


def portfolio_fills(
    engine: Engine, portfolio_id: int | None = None, since: datetime | None = None
) -> list[LedgerFill]:
    """The fills of every portfolio (or one's), oldest first, from `since` when given: its own
    orders' fills and its share of account-wide orders (an emergency stop's closing orders,
    split by `order_allocations` as `all_holdings` splits them)."""
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
    with new_session(engine) as session:
        own_rows = session.exec(own).all()
        shared_rows = session.exec(shared).all()
    fills = [
        LedgerFill(owner, symbol, qty if side == "buy" else -qty, price, at, fill_id)
        for owner, symbol, side, qty, price, at, fill_id in own_rows
    ]
    # The share of everything filled so far, to 9 places, less what earlier fills counted.
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
