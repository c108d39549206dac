"""Reading orders back (Core statements: these sit on the trade path too)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from oms_api.broker.models import BrokerOrder
from oms_api.errors import ServiceError
from oms_api.orders.models import Fill, Order, fill_from_row, order_from_row
from oms_api.portfolios.models import Portfolio

log = logging.getLogger(__name__)

ORDERS = Order.__table__  # type: ignore[attr-defined]
FILLS = Fill.__table__  # type: ignore[attr-defined]
PORTFOLIOS = Portfolio.__table__  # type: ignore[attr-defined]

T = TypeVar("T")


class OrderReads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Reads need no transaction: on PostgreSQL one round trip each instead of three
        # (BEGIN, the query, ROLLBACK).
        self._reader = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )
        # Portfolio names never change (there is no rename): id -> name, filled as read.
        self._portfolio_names: dict[int, str] = {}
        self._portfolio_ids: dict[str, int] = {}
        self._names_lock = threading.Lock()

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        try:
            with self._reader.connect() as connection:
                yield connection
        except OperationalError as error:
            log.error("database unavailable: %s", error.__class__.__name__)
            raise ServiceError(
                503, "database_unavailable", "database unavailable — nothing was sent"
            ) from None

    def _read(self, query: Callable[[Connection], T]) -> T:
        with self._connection() as connection:
            return query(connection)

    def get_order(self, order_id: int) -> Order:
        row = self._read(
            lambda c: c.execute(select(ORDERS).where(ORDERS.c.id == order_id)).mappings().first()
        )
        if row is None:
            raise ServiceError(404, "trade_not_found", f"trade {order_id} does not exist")
        return order_from_row(dict(row))

    def order_with_fills(self, order_id: int) -> tuple[Order, list[Fill]]:
        """The order and its fills in one round trip (what a waiter needs to answer)."""
        fill_columns = [column.label(f"fill_{column.name}") for column in FILLS.columns]
        query = (
            select(ORDERS, *fill_columns)
            .outerjoin(FILLS, FILLS.c.order_id == ORDERS.c.id)
            .where(ORDERS.c.id == order_id)
            .order_by(FILLS.c.id)
        )
        rows = self._read(lambda c: c.execute(query).mappings().all())
        if not rows:
            raise ServiceError(404, "trade_not_found", f"trade {order_id} does not exist")
        order = order_from_row({column.name: rows[0][column.name] for column in ORDERS.columns})
        fills = [
            fill_from_row({column.name: row[f"fill_{column.name}"] for column in FILLS.columns})
            for row in rows
            if row["fill_id"] is not None
        ]
        return order, fills

    def find_by_idempotency_key(self, key: str) -> Order | None:
        row = self._read(
            lambda c: (
                c.execute(select(ORDERS).where(ORDERS.c.idempotency_key == key)).mappings().first()
            )
        )
        return order_from_row(dict(row)) if row is not None else None

    def fills_of(self, order_id: int) -> list[Fill]:
        rows = self._read(
            lambda c: (
                c.execute(select(FILLS).where(FILLS.c.order_id == order_id).order_by(FILLS.c.id))
                .mappings()
                .all()
            )
        )
        return [fill_from_row(dict(row)) for row in rows]

    def portfolio_name(self, portfolio_id: int | None) -> str | None:
        if portfolio_id is None:
            return None
        name = self._portfolio_names.get(portfolio_id)
        if name is None:
            name = self._read(
                lambda c: c.execute(
                    select(PORTFOLIOS.c.name).where(PORTFOLIOS.c.id == portfolio_id)
                ).scalar()
            )
            if name is not None:
                self.remember_portfolio(portfolio_id, name)
        return name

    def portfolio_id(self, name: str) -> int | None:
        """The id of the portfolio with this name (ids and names never change, and portfolios
        are never deleted: a found one is remembered). Whether it is active is for the caller
        to check at the moment it matters."""
        key = name.strip().lower()
        known = self._portfolio_ids.get(key)
        if known is not None:
            return known
        found = self._read(
            lambda c: c.execute(select(PORTFOLIOS.c.id).where(PORTFOLIOS.c.name == key)).scalar()
        )
        if found is not None:
            self.remember_portfolio(found, key)
        return found

    def portfolio_status(self, portfolio_id: int) -> str | None:
        return self._read(
            lambda c: c.execute(
                select(PORTFOLIOS.c.status).where(PORTFOLIOS.c.id == portfolio_id)
            ).scalar()
        )

    def remember_portfolio(self, portfolio_id: int, name: str) -> None:
        with self._names_lock:
            self._portfolio_names[portfolio_id] = name
            self._portfolio_ids[name] = portfolio_id

    def order_for(self, broker_order: BrokerOrder) -> dict[str, Any] | None:
        """Our order (its row) for a broker order: by broker id, else by client_order_id (the
        stream often beats the submit reply, so the broker id may not be stored yet)."""
        rows = self._read(
            lambda c: (
                c.execute(
                    select(ORDERS).where(
                        or_(
                            ORDERS.c.broker_order_id == broker_order.id,
                            ORDERS.c.client_order_id == broker_order.client_order_id,
                        )
                    )
                )
                .mappings()
                .all()
            )
        )
        for row in rows:
            if row["broker_order_id"] == broker_order.id:
                return dict(row)
        return dict(rows[0]) if rows else None

    def open_orders(self, statuses: list[str]) -> list[Order]:
        rows = self._read(
            lambda c: (
                c.execute(select(ORDERS).where(ORDERS.c.status.in_(statuses)).order_by(ORDERS.c.id))
                .mappings()
                .all()
            )
        )
        return [order_from_row(dict(row)) for row in rows]
