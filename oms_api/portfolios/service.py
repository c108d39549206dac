"""Portfolio book-keeping: create, update, list, and value a portfolio from its own fills."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from oms_api.broker.models import Position, Quote
from oms_api.db.engine import new_session
from oms_api.db.types import utcnow
from oms_api.errors import ServiceError
from oms_api.orders.models import Fill, Order
from oms_api.portfolios.models import Portfolio, PortfolioCreate, PortfolioUpdate, portfolio_key

CENT = Decimal("0.01")


@dataclass(frozen=True)
class HeldPosition:
    """A position as one portfolio's own fills built it."""

    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    cost_basis: Decimal
    realized_pl: Decimal


@dataclass(frozen=True)
class ValuedPosition:
    """A held position priced now, next to what the broker holds (None: could not ask)."""

    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    cost_basis: Decimal
    current_price: Decimal | None
    market_value: Decimal | None
    unrealized_pl: Decimal | None
    realized_pl: Decimal
    broker_qty: Decimal | None


@dataclass(frozen=True)
class PortfolioValuation:
    name: str
    status: str
    allocated_capital: Decimal
    positions: list[ValuedPosition]
    market_value: Decimal
    unrealized_pl: Decimal
    realized_pl: Decimal
    broker_positions_available: bool
    warnings: list[str]


class MarketReads(Protocol):
    def positions(self) -> list[Position]: ...
    def quote(self, raw_symbol: str) -> Quote: ...


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
                select(Portfolio).where(Portfolio.name == portfolio_key(name))
            ).first()
        if portfolio is None:
            raise ServiceError(404, "portfolio_not_found", f"portfolio {name!r} does not exist")
        return portfolio

    def update(self, name: str, data: PortfolioUpdate) -> Portfolio:
        with new_session(self.engine) as session:
            portfolio = session.exec(
                select(Portfolio).where(Portfolio.name == portfolio_key(name))
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

    def value(self, name: str, market: MarketReads) -> PortfolioValuation:
        """The portfolio's own positions priced now. The book is still shown when the broker
        cannot be reached: what could not be read is null and said so in `warnings`."""
        portfolio = self.get(name)
        assert portfolio.id is not None
        warnings: list[str] = []
        broker_positions: dict[str, Position] | None
        try:
            broker_positions = broker_position_map(market.positions())
        except ServiceError as error:
            broker_positions = None
            warnings.append(
                f"the broker's positions could not be read ({error.message}): "
                "broker_qty is unknown (null)"
            )
        rows = []
        total_value = total_unrealized = total_realized = Decimal(0)
        for held in self.holdings(portfolio.id):
            broker = None
            broker_qty = None  # unknown: the broker could not be asked
            if broker_positions is not None:
                broker = broker_positions.get(held.symbol)
                broker_qty = broker.qty if broker else Decimal(0)  # 0: the broker holds none
            price = broker.current_price if broker else None
            if price is None and held.qty != 0:
                try:
                    price = market.quote(held.symbol).price
                except ServiceError:
                    warnings.append(
                        f"no current price for {held.symbol}: its market value and unrealized "
                        "P&L are unknown and left out of the totals"
                    )
            value = held.qty * price if price is not None else None
            unrealized = value - held.cost_basis if value is not None else None
            total_value += value or 0
            total_unrealized += unrealized or 0
            total_realized += held.realized_pl
            rows.append(
                ValuedPosition(
                    symbol=held.symbol,
                    qty=held.qty,
                    avg_entry_price=held.avg_entry_price,
                    cost_basis=held.cost_basis,
                    current_price=price,
                    market_value=value.quantize(CENT) if value is not None else None,
                    unrealized_pl=unrealized.quantize(CENT) if unrealized is not None else None,
                    realized_pl=held.realized_pl,
                    broker_qty=broker_qty,
                )
            )
        return PortfolioValuation(
            name=portfolio.name,
            status=portfolio.status,
            allocated_capital=portfolio.allocated_capital,
            positions=rows,
            market_value=total_value.quantize(CENT),
            unrealized_pl=total_unrealized.quantize(CENT),
            realized_pl=total_realized,
            broker_positions_available=broker_positions is not None,
            warnings=warnings,
        )

    def holdings(self, portfolio_id: int) -> list[HeldPosition]:
        """Replay the portfolio's fills in time order (average-cost method)."""
        return self.all_holdings(portfolio_id).get(portfolio_id, [])

    def all_holdings(self, portfolio_id: int | None = None) -> dict[int, list[HeldPosition]]:
        """Every portfolio's positions (or one's), from its fills, in one query."""
        query = (
            select(Order.portfolio_id, Order.symbol, Order.side, Fill.qty, Fill.price)
            .join(Fill, Fill.order_id == Order.id)  # type: ignore[arg-type]
            .where(Order.portfolio_id.is_not(None))  # type: ignore[union-attr]
            .order_by(Fill.filled_at, Fill.id)  # type: ignore[arg-type]
        )
        if portfolio_id is not None:
            query = query.where(Order.portfolio_id == portfolio_id)
        with new_session(self.engine) as session:
            rows = session.exec(query).all()
        books: dict[int, dict[str, list[Decimal]]] = {}  # portfolio -> symbol -> [qty, cost, pl]
        for owner, symbol, side, qty, price in rows:
            book = books.setdefault(owner, {}).setdefault(
                symbol, [Decimal(0), Decimal(0), Decimal(0)]
            )
            held, cost, realized = book
            if side == "buy":
                book[0], book[1] = held + qty, cost + qty * price
            else:
                avg = cost / held if held > 0 else Decimal(0)
                sold = min(qty, held) if held > 0 else qty
                book[2] = realized + sold * (price - avg)
                book[0] = held - qty
                book[1] = cost - sold * avg if held > 0 else Decimal(0)
        result: dict[int, list[HeldPosition]] = {}
        for owner, symbols in books.items():
            positions = []
            for symbol, (held, cost, realized) in sorted(symbols.items()):
                if held == 0 and realized == 0:
                    continue
                avg = (cost / held).quantize(Decimal("0.000001")) if held > 0 else Decimal(0)
                positions.append(
                    HeldPosition(symbol, held, avg, cost.quantize(CENT), realized.quantize(CENT))
                )
            result[owner] = positions
        return result


def broker_position_map(positions: list[Position]) -> dict[str, Position]:
    return {p.symbol: p for p in positions}
