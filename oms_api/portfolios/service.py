"""Portfolio book-keeping: create, update, list, and value a portfolio from its own fills."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, select

from oms_api.alerts.outbox import AlertKind, enqueue
from oms_api.audit.models import AuditResult
from oms_api.audit.service import Actor, AuditAction, record
from oms_api.broker.models import Position, Quote
from oms_api.db.engine import is_postgres, new_session
from oms_api.db.types import utcnow
from oms_api.errors import ServiceError
from oms_api.orders.enums import PortfolioStatus
from oms_api.portfolios.ledger import portfolio_fills
from oms_api.portfolios.models import Portfolio, PortfolioCreate, PortfolioUpdate, portfolio_key
from oms_api.risk.capital import (
    AccountReads,
    allocated_capital,
    capital_refusal,
    read_buying_power,
    serialise_capital_changes,
)

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
    def __init__(self, engine: Engine, mode: str = "SIMULATOR") -> None:
        self.engine = engine
        self.mode = mode  # shown on the alerts it records

    def create(
        self,
        data: PortfolioCreate,
        actor: Actor | None = None,
        market: AccountReads | None = None,
    ) -> Portfolio:
        """A new portfolio, its audit row in the same transaction. A name that exists is a
        409, recorded as refused in that one transaction too: the insert that finds the name
        taken (ON CONFLICT DO NOTHING) is the check, so no second transaction races it.

        A capital above 0 must fit in what is available (the account's buying power, read
        from `market` before the transaction, less every portfolio's capital): else a 409
        `capital_exceeds_available`, recorded as refused; a broker that cannot be read refuses
        it (503) with nothing written. The sum is read and the row written under the desk's
        capital lock, so two creates never both pass against the same money.
        Without `actor` the OMS itself creates it (e.g. `oms up` creating main)."""
        actor = actor or Actor.system()
        portfolio = Portfolio(
            name=data.name,
            allocated_capital=data.allocated_capital,
            daily_loss_limit=_in_cents(data.daily_loss_limit),
        )
        buying_power = read_buying_power(market) if data.allocated_capital > 0 else None
        table = Portfolio.__table__  # type: ignore[attr-defined]
        values = portfolio.model_dump(exclude={"id"})
        insert = _insert_for(self.engine)(table).values(values)
        insert = insert.on_conflict_do_nothing(index_elements=[table.c.name])
        target = f"portfolio {data.name}"
        details: dict[str, object] = {
            "allocated_capital": portfolio.allocated_capital.quantize(CENT),
            "status": portfolio.status,
        }
        if data.daily_loss_limit is not None:
            details["daily_loss_limit"] = _in_cents(data.daily_loss_limit)
        refusal: ServiceError | None = None
        created = None
        with self.engine.begin() as connection:
            serialise_capital_changes(connection)
            # A name that exists is refused as such (below), not for its capital.
            if buying_power is not None and not self._name_taken(connection, data.name):
                refusal = capital_refusal(
                    data.allocated_capital, buying_power, allocated_capital(connection)
                )
            if refusal is None:
                created = connection.execute(insert.returning(*table.c)).first()
                if created is None:
                    refusal = ServiceError(
                        409, "portfolio_exists", f"portfolio {data.name!r} already exists"
                    )
            else:
                details["capital_check"] = refusal.details
            if refusal is not None:
                details["refused"] = refusal.code
            result = AuditResult.OK if refusal is None else AuditResult.REFUSED
            record(connection, actor, AuditAction.PORTFOLIO_CREATE, target, details, result)
        if refusal is not None:
            raise refusal
        assert created is not None
        return Portfolio(**created._mapping)  # as stored (e.g. NUMERIC(18, 2) on PostgreSQL)

    @staticmethod
    def _name_taken(connection: Connection, name: str) -> bool:
        table = Portfolio.__table__  # type: ignore[attr-defined]
        taken = connection.execute(select(table.c.id).where(table.c.name == name)).first()
        return taken is not None

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

    def update(
        self,
        name: str,
        data: PortfolioUpdate,
        actor: Actor | None = None,
        market: AccountReads | None = None,
    ) -> Portfolio:
        """Change a portfolio's capital, daily loss limit or status (pause, resume), its audit
        row in the same transaction: `portfolio_pause` / `portfolio_resume` when the status is
        set, else `portfolio_update`, with each change's before and after. An unknown name is a
        404, recorded as refused in the transaction that looked for it.

        Raising the capital, or resuming a paused portfolio, must fit in what is available
        (buying power less the other portfolios' capital), read from `market`: else a 409
        `capital_exceeds_available`, recorded as refused; a broker that cannot be read refuses
        it (503) with nothing written. Lowering the capital or pausing never asks the broker.
        Without `actor` the OMS itself changes it."""
        actor = actor or Actor.system()
        key = portfolio_key(name)
        action = _update_action(data)
        # The broker is asked before the transaction (no lock is held across a network call),
        # when the portfolio as it stands now says the change needs it.
        buying_power: Decimal | None = None
        with new_session(self.engine) as session:
            current = session.exec(select(Portfolio).where(Portfolio.name == key)).first()
        if current is not None and _needs_capital_check(current, data):
            buying_power = read_buying_power(market)
        while True:
            with new_session(self.engine) as session:
                connection = session.connection()
                serialise_capital_changes(connection)
                portfolio = session.exec(
                    select(Portfolio).where(Portfolio.name == key).with_for_update()
                ).first()
                if portfolio is None:
                    asked = data.model_dump(
                        exclude_none=True, exclude={"requested_by", "requested_by_name", "reason"}
                    )
                    record(
                        connection,
                        actor,
                        action,
                        f"portfolio {key}",
                        {"refused": "portfolio_not_found", "asked": asked},
                        AuditResult.REFUSED,
                    )
                    session.commit()
                    raise ServiceError(
                        404, "portfolio_not_found", f"portfolio {name!r} does not exist"
                    )
                if _needs_capital_check(portfolio, data):
                    if buying_power is None:
                        # It changed since it was read (e.g. paused meanwhile): let go of the
                        # locks, ask the broker, and look again.
                        session.rollback()
                        buying_power = read_buying_power(market)
                        continue
                    assert portfolio.id is not None
                    capital = _capital_after(portfolio, data)
                    others = allocated_capital(connection, excluding=portfolio.id)
                    refusal = capital_refusal(capital, buying_power, others)
                    if refusal is not None:
                        asked = data.model_dump(
                            mode="json",
                            exclude_unset=True,
                            exclude={"requested_by", "requested_by_name", "reason"},
                        )
                        record(
                            connection,
                            actor,
                            action,
                            f"portfolio {portfolio.name}",
                            {"refused": refusal.code, "asked": asked, **refusal.details},
                            AuditResult.REFUSED,
                        )
                        session.commit()
                        raise refusal
                portfolio = self._apply_update(session, portfolio, data, actor, action)
            return portfolio

    def _apply_update(
        self,
        session: Session,
        portfolio: Portfolio,
        data: PortfolioUpdate,
        actor: Actor,
        action: AuditAction,
    ) -> Portfolio:
        changes: dict[str, dict[str, object]] = {}
        if data.allocated_capital is not None:
            changes["allocated_capital"] = {
                "from": portfolio.allocated_capital.quantize(CENT),
                "to": data.allocated_capital.quantize(CENT),
            }
            portfolio.allocated_capital = data.allocated_capital
        if "daily_loss_limit" in data.model_fields_set:
            before, after = _in_cents(portfolio.daily_loss_limit), _in_cents(data.daily_loss_limit)
            changes["daily_loss_limit"] = {"from": before, "to": after}
            portfolio.daily_loss_limit = after
        if data.status is not None:
            changes["status"] = {"from": portfolio.status, "to": data.status.value}
            portfolio.status = data.status.value
        portfolio.updated_at = utcnow()
        session.add(portfolio)
        record(
            session.connection(),
            actor,
            action,
            f"portfolio {portfolio.name}",
            {"changes": changes, **({"reason": data.reason} if data.reason else {})},
        )
        if changes.get("status", {}).get("from") == "active" and portfolio.status == "paused":
            self._paused_alert(session.connection(), portfolio.name, actor, data.reason)
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

    def holdings(
        self, portfolio_id: int, *, connection: Connection | None = None
    ) -> list[HeldPosition]:
        """Replay the portfolio's fills in time order (average-cost method)."""
        return self.all_holdings(portfolio_id, connection=connection).get(portfolio_id, [])

    def all_holdings(
        self, portfolio_id: int | None = None, *, connection: Connection | None = None
    ) -> dict[int, list[HeldPosition]]:
        """Every portfolio's positions (or one's), replayed from its fills (`portfolio_fills`:
        its own orders' and its share of account-wide ones), on the caller's `connection` when
        given (e.g. inside the transaction that records an order)."""
        source = connection if connection is not None else self.engine
        books: dict[int, dict[str, AverageCostBook]] = {}
        for fill in portfolio_fills(source, portfolio_id):
            book = books.setdefault(fill.portfolio_id, {}).setdefault(
                fill.symbol, AverageCostBook()
            )
            book.apply(fill.delta, fill.price)
        result: dict[int, list[HeldPosition]] = {}
        for owner, symbols in books.items():
            positions = []
            for symbol, book in sorted(symbols.items()):
                if book.qty == 0 and book.realized == 0:
                    continue
                positions.append(book.held(symbol))
            result[owner] = positions
        return result

    def pause(self, name: str, actor: Actor, reason: str) -> Portfolio:
        """Pause a portfolio (no new order of it is recorded) with its audit row and a
        `portfolio_paused` alert in the same transaction; already paused is not an error."""
        key = portfolio_key(name)
        with new_session(self.engine) as session:
            portfolio = session.exec(
                select(Portfolio).where(Portfolio.name == key).with_for_update()
            ).first()
            if portfolio is None:
                raise ServiceError(404, "portfolio_not_found", f"portfolio {name!r} does not exist")
            if portfolio.status != PortfolioStatus.PAUSED.value:
                before = portfolio.status
                portfolio.status = PortfolioStatus.PAUSED.value
                portfolio.updated_at = utcnow()
                session.add(portfolio)
                connection = session.connection()
                record(
                    connection,
                    actor,
                    AuditAction.PORTFOLIO_PAUSE,
                    f"portfolio {portfolio.name}",
                    {"reason": reason, "changes": {"status": {"from": before, "to": "paused"}}},
                )
                self._paused_alert(connection, portfolio.name, actor, reason)
                session.commit()
                session.refresh(portfolio)
        return portfolio

    def _paused_alert(
        self, connection: Connection, name: str, actor: Actor, reason: str | None
    ) -> None:
        enqueue(
            connection,
            AlertKind.PORTFOLIO_PAUSED,
            f"Portfolio {name} paused",
            {
                "portfolio": name,
                "reason": reason or "no reason given",
                "by": actor.id,
                "by_name": actor.name,
                "mode": self.mode,
            },
            severity="warning",
        )


class AverageCostBook:
    """One symbol of one book, signed (negative: short), average-cost method: a fill that
    adds to the position moves its average price; one that reduces it realizes P&L against
    it; one that crosses zero closes the position and opens the other side at its price."""

    def __init__(self) -> None:
        self.qty = Decimal(0)
        self.cost = Decimal(0)  # signed: qty x average price
        self.realized = Decimal(0)

    def apply(self, delta: Decimal, price: Decimal) -> None:
        if self.qty == 0 or (delta > 0) == (self.qty > 0):
            self.qty += delta
            self.cost += delta * price
            return
        average = self.cost / self.qty
        closing = min(abs(delta), abs(self.qty))
        direction = 1 if self.qty > 0 else -1
        self.realized += closing * (price - average) * direction
        self.qty -= direction * closing
        self.cost -= direction * closing * average
        left = abs(delta) - closing
        if self.qty == 0:
            self.cost = Decimal(0)
        if left > 0:
            self.qty = left if delta > 0 else -left
            self.cost = self.qty * price

    def held(self, symbol: str) -> HeldPosition:
        average = (self.cost / self.qty).quantize(Decimal("0.000001")) if self.qty else Decimal(0)
        return HeldPosition(
            symbol, self.qty, average, self.cost.quantize(CENT), self.realized.quantize(CENT)
        )


def _in_cents(amount: Decimal | None) -> Decimal | None:
    # Stored to the cent, so it reads the same on SQLite (text) as on PostgreSQL (NUMERIC).
    return amount.quantize(CENT) if amount is not None else None


def _capital_after(portfolio: Portfolio, data: PortfolioUpdate) -> Decimal:
    if data.allocated_capital is not None:
        return data.allocated_capital
    return portfolio.allocated_capital


def _needs_capital_check(portfolio: Portfolio, data: PortfolioUpdate) -> bool:
    """Raising the capital, or resuming a paused portfolio: the capital must fit again."""
    raising = (
        data.allocated_capital is not None and data.allocated_capital > portfolio.allocated_capital
    )
    resuming = (
        data.status is PortfolioStatus.ACTIVE and portfolio.status != PortfolioStatus.ACTIVE.value
    )
    return raising or resuming


def _update_action(data: PortfolioUpdate) -> AuditAction:
    if data.status is PortfolioStatus.PAUSED:
        return AuditAction.PORTFOLIO_PAUSE
    if data.status is PortfolioStatus.ACTIVE:
        return AuditAction.PORTFOLIO_RESUME
    return AuditAction.PORTFOLIO_UPDATE


def _insert_for(engine: Engine) -> Callable[[Table], PostgresqlInsert | SqliteInsert]:
    """The dialect's INSERT, which has ON CONFLICT (the OMS runs on PostgreSQL or SQLite)."""
    return postgresql_insert if is_postgres(engine) else sqlite_insert


def broker_position_map(positions: list[Position]) -> dict[str, Position]:
    return {p.symbol: p for p in positions}
