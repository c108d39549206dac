"""Reading orders back (Core statements: these sit on the trade path too)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

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
        # Portfolio names never change (there is no rename): id -> name, filled as read.
        self._portfolio_names: dict[int, str] = {}
        self._names_lock = threading.Lock()

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
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

    def remember_portfolio(self, portfolio_id: int, name: str) -> None:
        with self._names_lock:
            self._portfolio_names[portfolio_id] = name

    def order_id_for(self, broker_order: BrokerOrder) -> int | None:
        """Our order for a broker order: by broker id, else by client_order_id (the stream
        often beats the submit reply, so the broker id may not be stored yet)."""
        rows = self._read(
            lambda c: c.execute(
                select(ORDERS.c.id, ORDERS.c.broker_order_id).where(
                    or_(
                        ORDERS.c.broker_order_id == broker_order.id,
                        ORDERS.c.client_order_id == broker_order.client_order_id,
                    )
                )
            ).all()
        )
        for order_id, broker_order_id in rows:
            if broker_order_id == broker_order.id:
                return order_id
        return rows[0][0] if rows else None

    def open_orders(self, statuses: list[str]) -> list[Order]:
        rows = self._read(
            lambda c: (
                c.execute(select(ORDERS).where(ORDERS.c.status.in_(statuses)).order_by(ORDERS.c.id))
                .mappings()
                .all()
            )
        )
        return [order_from_row(dict(row)) for row in rows]
