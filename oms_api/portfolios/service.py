"""Portfolio book-keeping: create, update, list, and value a portfolio from its own fills."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from oms_api.broker.models import Position
from oms_api.db.engine import new_session
from oms_api.db.types import utcnow
from oms_api.errors import ServiceError
from oms_api.orders.models import Fill, Order
from oms_api.portfolios.models import Portfolio, PortfolioCreate, PortfolioUpdate

CENT = Decimal("0.01")


@dataclass(frozen=True)
class HeldPosition:
    """A position as one portfolio's own fills built it."""

    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    cost_basis: Decimal
    realized_pl: Decimal


class PortfolioService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, data: PortfolioCreate) -> Portfolio:
        portfolio = Portfolio(name=data.name, allocated_capital=data.allocated_capital)
        with new_session(self.engine) as session:
            session.add(portfolio)
            try:
                session.commit()
            except IntegrityError:
                raise ServiceError(
                    409, "portfolio_exists", f"portfolio {data.name!r} already exists"
                ) from None
            session.refresh(portfolio)
        return portfolio

    def list(self) -> list[Portfolio]:
        with new_session(self.engine) as session:
            return list(session.exec(select(Portfolio).order_by(Portfolio.name)).all())

    def get(self, name: str) -> Portfolio:
        with new_session(self.engine) as session:
            portfolio = session.exec(
                select(Portfolio).where(Portfolio.name == name.strip().lower())
            ).first()
        if portfolio is None:
            raise ServiceError(404, "portfolio_not_found", f"portfolio {name!r} does not exist")
        return portfolio

    def update(self, name: str, data: PortfolioUpdate) -> Portfolio:
        with new_session(self.engine) as session:
            portfolio = session.exec(
                select(Portfolio).where(Portfolio.name == name.strip().lower())
            ).first()
            if portfolio is None:
                raise ServiceError(404, "portfolio_not_found", f"portfolio {name!r} does not exist")
            if data.allocated_capital is not None:
                portfolio.allocated_capital = data.allocated_capital
            if data.status is not None:
                portfolio.status = data.status.value
            portfolio.updated_at = utcnow()
            session.add(portfolio)
            session.commit()
            session.refresh(portfolio)
        return portfolio

    def holdings(self, portfolio_id: int) -> list[HeldPosition]:
        """Replay the portfolio's fills in time order (average-cost method)."""
        with new_session(self.engine) as session:
            rows = session.exec(
                select(Order.symbol, Order.side, Fill.qty, Fill.price)
                .join(Fill, Fill.order_id == Order.id)  # type: ignore[arg-type]
                .where(Order.portfolio_id == portfolio_id)
                .order_by(Fill.filled_at, Fill.id)  # type: ignore[arg-type]
            ).all()
        books: dict[str, list[Decimal]] = {}  # symbol -> [qty, cost, realized]
        for symbol, side, qty, price in rows:
            book = books.setdefault(symbol, [Decimal(0), Decimal(0), Decimal(0)])
            held, cost, realized = book
            if side == "buy":
                book[0], book[1] = held + qty, cost + qty * price
            else:
                avg = cost / held if held > 0 else Decimal(0)
                sold = min(qty, held) if held > 0 else qty
                book[2] = realized + sold * (price - avg)
                book[0] = held - qty
                book[1] = cost - sold * avg if held > 0 else Decimal(0)
        positions = []
        for symbol, (held, cost, realized) in sorted(books.items()):
            if held == 0 and realized == 0:
                continue
            avg = (cost / held).quantize(Decimal("0.000001")) if held > 0 else Decimal(0)
            positions.append(
                HeldPosition(symbol, held, avg, cost.quantize(CENT), realized.quantize(CENT))
            )
        return positions


def broker_position_map(positions: list[Position]) -> dict[str, Position]:
    return {p.symbol: p for p in positions}
