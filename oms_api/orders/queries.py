"""Read-only order queries for the API (listing with filters and cursor pages)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import select

from oms_api.cursors import IdCursor
from oms_api.db.engine import new_session
from oms_api.errors import ServiceError
from oms_api.orders.enums import TERMINAL_STATUSES, OrderStatus, Side
from oms_api.orders.models import Order, OrderEvent
from oms_api.orders.requests import SYMBOL_RULE, normalise_symbol
from oms_api.portfolios.models import Portfolio, portfolio_key

# Trade ids are INTEGER columns: 32 bits on PostgreSQL (SQLite's 64 bits is the wider bound).
MAX_TRADE_ID = 2**31 - 1


@dataclass(frozen=True)
class TradeFilter:
    portfolio: str | None = None
    symbol: str | None = None
    status: OrderStatus | None = None
    side: Side | None = None
    since: datetime | None = None
    until: datetime | None = None
    open_only: bool = False  # only trades not final yet (the broker may still act on them)


CURSOR = IdCursor("id", MAX_TRADE_ID)


def list_trades(
    engine: Engine, filters: TradeFilter, limit: int, cursor: str | None
) -> tuple[list[tuple[Order, str | None]], str | None]:
    query = select(Order, Portfolio.name).join(
        Portfolio,
        Portfolio.id == Order.portfolio_id,  # type: ignore[arg-type]
        isouter=True,
    )
    if filters.portfolio:
        query = query.where(Portfolio.name == portfolio_key(filters.portfolio))
    if filters.symbol:
        symbol = normalise_symbol(filters.symbol)
        if symbol is None:
            raise ServiceError(
                400,
                "invalid_symbol",
                f"invalid symbol filter: {filters.symbol!r} ({SYMBOL_RULE})",
                {"field": "symbol"},
            )
        query = query.where(Order.symbol == symbol)
    if filters.status:
        query = query.where(Order.status == filters.status.value)
    if filters.open_only:
        query = query.where(
            Order.status.notin_([s.value for s in TERMINAL_STATUSES])  # type: ignore[attr-defined]
        )
    if filters.side:
        query = query.where(Order.side == filters.side.value)
    if filters.since:
        query = query.where(Order.created_at >= filters.since)  # type: ignore[operator]
    if filters.until:
        query = query.where(Order.created_at < filters.until)  # type: ignore[operator]
    if cursor:
        query = query.where(Order.id < CURSOR.decode(cursor))  # type: ignore[operator]
    query = query.order_by(Order.id.desc()).limit(limit + 1)  # type: ignore[union-attr]
    with new_session(engine) as session:
        rows = [(order, name) for order, name in session.exec(query).all()]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1][0].id
        assert last is not None
        next_cursor = CURSOR.encode(last)
    return rows, next_cursor


def events_of(engine: Engine, order_id: int) -> list[OrderEvent]:
    with new_session(engine) as session:
        return list(
            session.exec(
                select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)  # type: ignore[arg-type]
            ).all()
        )
