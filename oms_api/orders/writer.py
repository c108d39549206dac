"""The one place that writes order state: recording an order before it is sent, applying what
the broker says about it, and the few conclusions the OMS draws itself (unknown, not sent).

Every status change goes through the transition table (`oms_api.orders.state`) and is logged in
`order_events` with its source; fills are recorded once per execution. Statements are
SQLAlchemy Core (this sits on every trade's path), each write one transaction:
- PostgreSQL: the order rows are locked with SELECT ... FOR UPDATE; the same statement queues
  the NOTIFY that tells other workers which orders changed (delivered only if the transaction
  commits) and, for broker news, switches the commit to asynchronous: that state can always be
  asked from the broker again, while the order row itself, cancel requests and re-send counts
  are committed durably.
- SQLite (one process): a process-wide lock serialises the writers.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from oms_api.alerts.outbox import AlertKind, enqueue
from oms_api.audit.models import AuditEntry
from oms_api.audit.service import Actor, AuditAction, audit_values, record
from oms_api.broker.models import BrokerError, BrokerOrder, TradeEvent
from oms_api.controls.models import TradingState
from oms_api.db.engine import is_postgres
from oms_api.db.notify import ORDERS_CHANNEL
from oms_api.errors import ServiceError
from oms_api.orders.enums import EventSource, OrderStatus
from oms_api.orders.fastpath import apply_statement, record_statement
from oms_api.orders.models import (
    Fill,
    Order,
    OrderAllocation,
    OrderEvent,
    fill_from_row,
    order_from_row,
)
from oms_api.orders.state import can_transition, from_broker_status
from oms_api.orders.watch import OrderWatch
from oms_api.portfolios.models import Portfolio

log = logging.getLogger(__name__)

ORDERS = Order.__table__  # type: ignore[attr-defined]
FILLS = Fill.__table__  # type: ignore[attr-defined]
EVENTS = OrderEvent.__table__  # type: ignore[attr-defined]
PORTFOLIOS = Portfolio.__table__  # type: ignore[attr-defined]
ALLOCATIONS = OrderAllocation.__table__  # type: ignore[attr-defined]
AUDIT = AuditEntry.__table__  # type: ignore[attr-defined]
TRADING_STATE = TradingState.__table__  # type: ignore[attr-defined]

AVG_PRICE_PLACES = Decimal("0.000001")
# The columns a write may change (the rest are fixed when the order is recorded).
MUTABLE_COLUMNS = (
    "broker_order_id",
    "status",
    "broker_status",
    "filled_qty",
    "filled_avg_price",
    "error_code",
    "error_message",
    "send_attempts",
    "submitted_at",
    "filled_at",
    "canceled_at",
    "cancel_requested_at",
    "last_broker_check_at",
    "updated_at",
)
MEMO_SIZE = 10_000
Row = dict[str, Any]
# Who, which action, on what, with which details: the audit row written with a change.
AuditNote = tuple[Actor, AuditAction, str, dict[str, Any]]


@dataclass(frozen=True)
class BrokerNews:
    """What the broker said about one of our orders: a reply, a poll or a stream event."""

    order_id: int
    order: BrokerOrder
    source: EventSource
    event: TradeEvent | None = None
    # The audit row of an explicit act (a reconciliation repair), written in the same
    # transaction as the change, with the order's status and fills after it.
    audit: AuditNote | None = None


@dataclass(frozen=True)
class Adoption:
    """A broker-made order to adopt: why, each portfolio's share, the action's audit row."""

    order: BrokerOrder
    note: str
    allocations: dict[int, Decimal]
    audit: AuditNote | None = None
    portfolio_id: int | None = None


class RecordRefused(Exception):
    """The order was not recorded: its portfolio is paused (or gone), or trading is halted.
    Nothing was written; the caller reads which, to say so."""


def database_unavailable(message: str = "database unavailable — nothing was sent") -> ServiceError:
    return ServiceError(503, "database_unavailable", message)


class OrderWriter:
    def __init__(
        self,
        engine: Engine,
        watch: OrderWatch,
        *,
        now: Callable[[], datetime],
        notify_tag: str,
    ) -> None:
        self.engine = engine
        self.watch = watch
        self.now = now
        # Set by the runtime: the mode alerts carry, and which order outcomes make one
        # (ALERT_ON_FILLS, ALERT_ON_REJECTIONS). None: no alerts (e.g. a bare service).
        self.alert_mode: str | None = None
        self.alert_on_fills = True
        self.alert_on_rejections = True
        self._postgres = is_postgres(engine)
        # Marks this process's notifications, so its own listener can skip them.
        self._notify_tag = notify_tag
        self._sqlite_lock = threading.RLock()
        self._memo_lock = threading.Lock()
        # client_order_id -> order id, for orders this process recorded (immutable pairs).
        self._order_ids: dict[str, int] = {}
        # order id -> the last broker view (broker id, status, filled qty) applied here.
        self._applied: dict[int, tuple[str, str, Decimal]] = {}
        self._update = (
            update(ORDERS)
            .where(ORDERS.c.id == bindparam("order_id"))
            .values({name: bindparam(name) for name in MUTABLE_COLUMNS})
        )
        # order id -> the row as this process last committed it (the hot path's guard).
        self._rows: dict[int, Row] = {}
        if self._postgres:
            self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
            self._record_statement = record_statement(ORDERS, EVENTS, AUDIT)
            self._apply_statement = apply_statement(ORDERS, FILLS, EVENTS, MUTABLE_COLUMNS)

    # ------------------------------------------------------------------ memos
    def _remember(self, memo: dict[Any, Any], key: Any, value: Any) -> None:
        with self._memo_lock:
            memo.pop(key, None)
            memo[key] = value
            if len(memo) > MEMO_SIZE:
                del memo[next(iter(memo))]

    def known_order_id(self, client_order_id: str) -> int | None:
        return self._order_ids.get(client_order_id)

    def already_applied(self, order_id: int, broker_order: BrokerOrder) -> bool:
        """This exact broker view (id, status, filled qty) was the last one applied here."""
        view = (broker_order.id, broker_order.status, broker_order.filled_qty)
        return self._applied.get(order_id) == view

    # ------------------------------------------------------------------ transactions
    @contextlib.contextmanager
    def _locked(
        self, order_ids: list[int], *, durable: bool
    ) -> Iterator[tuple[Connection, dict[int, Row], Callable[[], None]]]:
        """A transaction holding the orders' rows. Yields the connection, the rows (id ->
        column values) and `commit`; leaving without calling it rolls back (nothing written,
        nobody notified)."""
        ids = sorted(set(order_ids))
        query = select(ORDERS).where(ORDERS.c.id.in_(ids)).order_by(ORDERS.c.id)
        if self._postgres:
            payload = self._notify_tag + ":" + ",".join(map(str, ids))
            extra = [func.pg_notify(ORDERS_CHANNEL, payload).label("_notified")]
            if not durable:
                extra.append(func.set_config("synchronous_commit", "off", True).label("_async"))
            query = (
                select(ORDERS, *extra)
                .where(ORDERS.c.id.in_(ids))
                .order_by(ORDERS.c.id)
                .with_for_update(of=ORDERS)
            )
        lock = contextlib.nullcontext() if self._postgres else self._sqlite_lock
        try:
            with lock, self.engine.connect() as connection:
                transaction = connection.begin()
                try:
                    rows: dict[int, Row] = {}
                    for record in connection.execute(query):
                        row = dict(record._mapping)
                        row.pop("_notified", None)
                        row.pop("_async", None)
                        rows[row["id"]] = row
                    yield connection, rows, transaction.commit
                finally:
                    if transaction.is_active:
                        transaction.rollback()
        except OperationalError as error:
            log.error("database unavailable: %s", error.__class__.__name__)
            raise database_unavailable() from None

    def _write_order(self, connection: Connection, row: Row) -> None:
        connection.execute(
            self._update, {"order_id": row["id"], **{n: row[n] for n in MUTABLE_COLUMNS}}
        )

    def _event(
        self,
        row: Row,
        previous: str | None,
        source: EventSource,
        note: str | None,
        *,
        broker_status: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Row:
        return {
            "order_id": row["id"],
            "from_status": previous,
            "to_status": row["status"],
            "source": source.value,
            "broker_status": broker_status,
            "note": note[:500] if note else None,
            "payload": payload,
            "created_at": self.now(),
        }

    # ------------------------------------------------------------------ recording
    def record_new(
        self,
        values: Row,
        audit: Row | None = None,
        *,
        allow_paused: bool = False,
        allow_halted: bool = False,
        check: Callable[[Connection], None] | None = None,
    ) -> Order | None:
        """Commit a new order (pending_submit), its first event and its audit row, durably,
        before anything is sent, if its portfolio is active and trading is not halted at that
        moment (else RecordRefused); an emergency sell may pass either check. None when a
        concurrent request recorded the same Idempotency-Key first.

        `check` (the pre-trade risk checks) runs in the same transaction, after those two and
        with the portfolio's row locked until the order is committed, so the portfolio's
        checked orders are recorded one at a time, each seeing the ones before it; whatever it
        raises refuses the order with nothing written."""
        first_event = self._event(
            {**values, "id": None}, None, EventSource.API, "recorded before sending"
        )
        guards = {"allow_paused": allow_paused, "allow_halted": allow_halted}
        if audit is None:  # the plain trade row, for a caller with nothing more to say
            details = {"symbol": values["symbol"], "side": values["side"], "qty": values["qty"]}
            audit = audit_values(
                Actor.of(values.get("requested_by")), AuditAction.TRADE, None, details
            )
        try:
            if self._postgres and check is None:
                order_id = self._record_postgres(values, first_event, audit, guards)
            else:
                order_id = self._record_in_transaction(values, first_event, audit, guards, check)
        except IntegrityError:
            if values.get("idempotency_key") is not None:
                return None
            raise
        except OperationalError as error:
            log.error("database unavailable: %s", error.__class__.__name__)
            raise database_unavailable() from None
        if order_id is None:
            raise RecordRefused(values["portfolio_id"])
        self._remember(self._order_ids, values["client_order_id"], order_id)
        row = {**values, "id": order_id}
        self._cache(row)
        return order_from_row(row)

    def _record_postgres(
        self, values: Row, first_event: Row, audit: Row, guards: Row
    ) -> int | None:
        params = {
            **values,
            **guards,
            **{f"e_{k}": v for k, v in first_event.items() if k != "order_id"},
            **{f"a_{k}": v for k, v in audit.items() if k != "target"},
        }
        with self._autocommit.connect() as connection:
            return connection.execute(self._record_statement, params).scalar()

    def _record_in_transaction(
        self,
        values: Row,
        first_event: Row,
        audit: Row,
        guards: Row,
        check: Callable[[Connection], None] | None,
    ) -> int | None:
        """SQLite's way of recording (one process: its writers take turns), and both databases'
        when a pre-trade check must run between the guards and the insert."""
        lock = contextlib.nullcontext() if self._postgres else self._sqlite_lock
        with lock, self.engine.begin() as connection:
            if check is not None:
                self._lock_portfolio(connection, values["portfolio_id"])
            if not guards["allow_paused"]:
                active = connection.execute(
                    select(PORTFOLIOS.c.id).where(
                        PORTFOLIOS.c.id == values["portfolio_id"],
                        PORTFOLIOS.c.status == "active",
                    )
                ).first()
                if active is None:
                    return None
            if not guards["allow_halted"]:
                halted = connection.execute(
                    select(TRADING_STATE.c.id).where(TRADING_STATE.c.state == "halted")
                ).first()
                if halted is not None:
                    return None
            if check is not None and not self._key_recorded(connection, values):
                check(connection)  # raises to refuse: the transaction is rolled back
            # Parameters apart from the statement: its compiled form is cached.
            order_id = connection.execute(ORDERS.insert(), values).inserted_primary_key[0]
            connection.execute(EVENTS.insert(), {**first_event, "order_id": order_id})
            connection.execute(AUDIT.insert(), {**audit, "target": f"trade {order_id}"})
            return order_id

    @staticmethod
    def _key_recorded(connection: Connection, values: Row) -> bool:
        """A twin request recorded this Idempotency-Key first: its answer is replayed, so this
        one is not checked (its refusal would contradict the first answer); the insert below
        meets the unique key instead."""
        key = values.get("idempotency_key")
        if key is None:
            return False
        found = connection.execute(select(ORDERS.c.id).where(ORDERS.c.idempotency_key == key))
        return found.first() is not None

    def _lock_portfolio(self, connection: Connection, portfolio_id: int) -> None:
        """Hold the portfolio's row until the transaction ends. SQLite locks the database, not
        rows: a write (that changes nothing) takes its one write lock now, so no other
        connection or process writes between the check and the insert."""
        if self._postgres:
            connection.execute(
                select(PORTFOLIOS.c.id).where(PORTFOLIOS.c.id == portfolio_id).with_for_update()
            )
        else:
            connection.execute(
                update(PORTFOLIOS)
                .where(PORTFOLIOS.c.id == portfolio_id)
                .values(status=PORTFOLIOS.c.status, updated_at=PORTFOLIOS.c.updated_at)
            )

    def adopt(
        self,
        broker_order: BrokerOrder,
        *,
        origin: str,
        note: str,
        portfolio_id: int | None = None,
        stop_id: int | None = None,
        allocations: dict[int, Decimal] | None = None,
        audit: AuditNote | None = None,
    ) -> Order:
        """Record an order the broker made (a stop's closing order, a whole-position close) as
        an OMS order, with how much of it belongs to each portfolio's book, then apply what the
        broker says of it. Adopting the same broker order twice returns the one recorded."""
        item = Adoption(broker_order, note, allocations or {}, audit, portfolio_id)
        return self.adopt_many([item], origin=origin, stop_id=stop_id)[0]

    def adopt_many(
        self,
        items: list[Adoption],
        *,
        origin: str,
        stop_id: int | None = None,
        source: EventSource = EventSource.STOP,
        external: bool = False,
        requested_by: str = "system",
    ) -> list[Order]:
        """`adopt` for several broker orders: one look-up, one transaction for the new rows
        (orders, first events, allocations, audit rows), one batch applying the broker's view.
        Orders already adopted (another worker, a resumed stop) are left as they are.
        `source` marks their events, `external` orders placed outside the OMS, `requested_by`
        who adopted them (the OMS itself for a stop's closing orders)."""
        if not items:
            return []
        found = self.find_many([item.order for item in items])
        new = [item for item in items if item.order.id not in found]
        if new:
            try:
                with self._sqlite_lock if not self._postgres else contextlib.nullcontext():  # noqa: SIM117
                    with self.engine.begin() as connection:
                        for item in new:
                            found[item.order.id] = self._insert_adopted(
                                connection, item, origin, stop_id, source, external, requested_by
                            )
            except IntegrityError:  # adopted meanwhile: what was committed is the record
                found = self.find_many([item.order for item in items])
                missing = [item.order.id for item in items if item.order.id not in found]
                if missing:
                    raise
            except OperationalError as error:
                log.error("database unavailable: %s", error.__class__.__name__)
                raise database_unavailable() from None
        news = [BrokerNews(found[item.order.id], item.order, source) for item in items]
        applied = self.apply(news)
        return [applied[found[item.order.id]] for item in items]

    def _insert_adopted(
        self,
        connection: Connection,
        item: Adoption,
        origin: str,
        stop_id: int | None,
        source: EventSource,
        external: bool,
        requested_by: str,
    ) -> int:
        now = self.now()
        broker_order = item.order
        values: Row = {
            "client_order_id": broker_order.client_order_id[:48],
            "broker_order_id": broker_order.id,
            "portfolio_id": item.portfolio_id,
            "symbol": broker_order.symbol,
            "side": broker_order.side,
            "qty": broker_order.qty,
            "notional": broker_order.notional if broker_order.qty is None else None,
            "order_type": broker_order.order_type or "market",
            "time_in_force": broker_order.time_in_force or "day",
            "limit_price": broker_order.limit_price,
            "stop_price": broker_order.stop_price,
            "order_class": "simple",
            "take_profit_limit_price": None,
            "stop_loss_stop_price": None,
            "stop_loss_limit_price": None,
            "extended_hours": broker_order.extended_hours,
            "status": OrderStatus.SUBMITTED.value,
            "broker_status": None,
            "filled_qty": Decimal(0),
            "filled_avg_price": None,
            "reason": item.note[:500],
            "requested_by": requested_by[:100],
            "idempotency_key": None,
            "request_fingerprint": None,
            "external": external,
            "origin": origin,
            "stop_id": stop_id,
            "error_code": None,
            "error_message": None,
            "send_attempts": 0,
            "created_at": now,
            "submitted_at": broker_order.submitted_at or now,
            "filled_at": None,
            "canceled_at": None,
            "cancel_requested_at": None,
            "last_broker_check_at": now,
            "updated_at": now,
        }
        order_id = connection.execute(ORDERS.insert(), values).inserted_primary_key[0]
        event = self._event({**values, "id": order_id}, None, source, item.note)
        connection.execute(EVENTS.insert(), {**event, "order_id": order_id})
        if item.audit is not None:
            who, action, target, details = item.audit
            record(connection, who, action, target, {**details, "trade_id": order_id})
        shares = [
            {"order_id": order_id, "portfolio_id": pid, "qty": qty}
            for pid, qty in item.allocations.items()
            if qty > 0
        ]
        if shares:
            connection.execute(ALLOCATIONS.insert(), shares)
        self._remember(self._order_ids, values["client_order_id"], order_id)
        return order_id

    def find_many(self, broker_orders: list[BrokerOrder]) -> dict[str, int]:
        """Broker order id -> OMS order id, for those already recorded (by either id)."""
        by_client = {o.client_order_id[:48]: o.id for o in broker_orders}
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(ORDERS.c.id, ORDERS.c.broker_order_id, ORDERS.c.client_order_id).where(
                    ORDERS.c.broker_order_id.in_([o.id for o in broker_orders])
                    | ORDERS.c.client_order_id.in_(list(by_client))
                )
            ).all()
        found: dict[str, int] = {}
        for order_id, broker_id, client_id in rows:
            key = broker_id if broker_id in by_client.values() else by_client.get(client_id)
            if key is not None:
                found[key] = order_id
        return found

    def remember_row(self, row: Row) -> None:
        """A row read just now (without a lock): a guard for the one-statement path, which
        touches nothing if the row changed since."""
        self._cache(row)

    def _cache(self, row: Row) -> None:
        self._remember(self._rows, row["id"], row)

    def count_resend(self, order_id: int) -> Order:
        """A re-send is counted (durably) before it goes out."""
        with self._locked([order_id], durable=True) as (connection, rows, commit):
            row = rows[order_id]
            now = self.now()
            row.update(send_attempts=row["send_attempts"] + 1, submitted_at=now, updated_at=now)
            self._write_order(connection, row)
            commit()
        return self._changed(row)

    def request_cancel(self, order_id: int, actor: Actor) -> Order:
        """pending_cancel (durably, with its audit row) before the cancel goes out; a terminal
        order is left as it is."""
        with self._locked([order_id], durable=True) as (connection, rows, commit):
            row = rows[order_id]
            previous = row["status"]
            if not can_transition(OrderStatus(previous), OrderStatus.PENDING_CANCEL) or (
                previous == OrderStatus.PENDING_CANCEL
            ):
                return order_from_row(row)
            now = self.now()
            row.update(status=OrderStatus.PENDING_CANCEL.value, cancel_requested_at=now)
            row["updated_at"] = now
            self._write_order(connection, row)
            note = f"cancel requested by {actor.name or actor.id}"
            connection.execute(EVENTS.insert(), self._event(row, previous, EventSource.API, note))
            record(
                connection,
                actor,
                AuditAction.CANCEL,
                f"trade {order_id}",
                {"symbol": row["symbol"], "was": previous},
            )
            commit()
        return self._changed(row)

    # ------------------------------------------------------------------ the OMS's own verdicts
    def mark_unknown(
        self, order_id: int, error: BrokerError | None, source: EventSource, note: str
    ) -> Order:
        """The outcome at the broker is not known: only the broker can settle it."""
        message = (error.message if error else "no answer from the broker")[:500]
        return self._conclude(
            order_id, OrderStatus.UNKNOWN, "outcome_unknown", message, source, note, error
        )

    def mark_rejected(
        self,
        order_id: int,
        code: str,
        message: str,
        source: EventSource,
        error: BrokerError | None,
    ) -> Order:
        """The broker said no (a definitive answer to a submit)."""
        return self._conclude(order_id, OrderStatus.REJECTED, code, message, source, message, error)

    def mark_not_sent(
        self,
        order_id: int,
        code: str,
        message: str,
        source: EventSource,
        error: BrokerError | None,
    ) -> Order:
        """Certainly never placed: the connection could not be opened, or the broker kept
        saying it has no such order until it was too old to send."""
        return self._conclude(order_id, OrderStatus.NOT_SENT, code, message, source, message, error)

    def _conclude(
        self,
        order_id: int,
        status: OrderStatus,
        code: str,
        message: str,
        source: EventSource,
        note: str,
        error: BrokerError | None,
    ) -> Order:
        with self._locked([order_id], durable=True) as (connection, rows, commit):
            row = rows[order_id]
            previous = row["status"]
            if previous == status.value and status is OrderStatus.UNKNOWN:
                # Still unknown: the attempt is history worth keeping, the status stays.
                pass
            elif previous == status.value or not can_transition(OrderStatus(previous), status):
                return order_from_row(row)
            else:
                row.update(status=status.value, error_code=code, error_message=message[:500])
                row["updated_at"] = self.now()
                self._write_order(connection, row)
                self._alert_outcome(connection, row, previous)
            connection.execute(
                EVENTS.insert(),
                self._event(row, previous, source, note, payload=_error_payload(error)),
            )
            commit()
        return self._changed(row)

    def _changed(self, row: Row, fills: list[Fill] | None = None) -> Order:
        self._cache(row)
        order = order_from_row(row)
        self.watch.touch(row["id"], order, fills)
        return order

    # ------------------------------------------------------------------ broker news
    def apply_one(
        self,
        order_id: int,
        broker_order: BrokerOrder,
        source: EventSource,
        event: TradeEvent | None = None,
    ) -> Order:
        return self.apply([BrokerNews(order_id, broker_order, source, event)])[order_id]

    def apply(self, news: list[BrokerNews]) -> dict[int, Order]:
        """Apply what the broker said, in order, in one transaction. Returns each order as it
        now stands."""
        if self._postgres and len(news) == 1 and news[0].audit is None:
            applied = self._apply_fast(news[0])
            if applied is not None:
                return applied
        now = self.now()
        with self._locked([n.order_id for n in news], durable=False) as (connection, rows, commit):
            fills: dict[int, list[Fill]] = {}
            new_fills: dict[int, list[Fill]] = {}
            events: list[Row] = []
            changed: set[int] = set()
            statuses_before = {oid: row["status"] for oid, row in rows.items()}
            for item in news:
                row = rows.get(item.order_id)
                if row is None:  # deleted meanwhile: nothing to apply it to
                    continue
                if self._apply_news(connection, row, item, now, fills, new_fills, events):
                    changed.add(row["id"])
                    if item.audit is not None:
                        who, action, target, details = item.audit
                        after = {
                            "status_after": row["status"],
                            "filled_qty_after": row["filled_qty"],
                        }
                        record(connection, who, action, target, {**details, **after})
            if not changed:
                unchanged = {oid: order_from_row(row) for oid, row in rows.items()}
                for oid, order in unchanged.items():
                    self._cache(rows[oid])
                    self.watch.refresh(oid, order)
                self._remember_views(news)
                return unchanged
            added = [fill for group in new_fills.values() for fill in group]
            if added:
                connection.execute(FILLS.insert(), [_fill_values(f) for f in added])
            connection.execute(
                self._update,
                [
                    {"order_id": rows[oid]["id"], **{n: rows[oid][n] for n in MUTABLE_COLUMNS}}
                    for oid in sorted(changed)
                ],
            )
            if events:
                connection.execute(EVENTS.insert(), events)
            for oid in sorted(changed):
                self._alert_outcome(connection, rows[oid], statuses_before[oid])
            commit()
        self._remember_views(news)
        result: dict[int, Order] = {}
        for oid, row in rows.items():
            if oid in changed:
                every_fill = fills.get(oid, []) + new_fills[oid] if oid in new_fills else None
                result[oid] = self._changed(row, every_fill)
            else:
                result[oid] = order_from_row(row)
                self._cache(row)
                self.watch.refresh(oid, result[oid])
        return result

    def _apply_fast(self, item: BrokerNews) -> dict[int, Order] | None:
        """One piece of news for an order this process wrote last, in one statement; None
        when it does not fit (the locking path then does it)."""
        cached = self._rows.get(item.order_id)
        if cached is None:
            return None
        event = item.event
        is_execution = event is not None and event.event in ("fill", "partial_fill")
        if cached["filled_qty"] > 0 and (
            is_execution or item.order.filled_qty > cached["filled_qty"]
        ):
            return None  # the fills held must be read to add one exactly once
        row = dict(cached)
        fills: dict[int, list[Fill]] = {item.order_id: []}
        new_fills: dict[int, list[Fill]] = {}
        events: list[Row] = []
        now = self.now()
        if not self._apply_news(None, row, item, now, fills, new_fills, events):  # type: ignore[arg-type]
            return None  # nothing to write: whether that is still so, the locking path reads
        added = new_fills.get(item.order_id, [])
        if len(added) > 1 or len(events) != 1:
            return None
        params: Row = {
            "order_id": item.order_id,
            "expected_updated_at": cached["updated_at"],
            **{name: row[name] for name in MUTABLE_COLUMNS},
            **{f"e_{k}": v for k, v in events[0].items() if k != "order_id"},
            "has_fill": bool(added),
            "channel": ORDERS_CHANNEL,
            "payload": f"{self._notify_tag}:{item.order_id}",
        }
        fill = _fill_values(added[0]) if added else dict.fromkeys(_FILL_KEYS)
        params.update({f"f_{k}": v for k, v in fill.items() if k != "order_id"})
        try:
            with self._autocommit.connect() as connection:
                written = connection.execute(self._apply_statement, params).scalar()
        except IntegrityError:
            return None  # e.g. an execution recorded meanwhile: the locking path sorts it out
        except OperationalError as error:
            log.error("database unavailable: %s", error.__class__.__name__)
            raise database_unavailable() from None
        if not written:  # someone else changed the order since: read it under its lock
            with self._memo_lock:
                self._rows.pop(item.order_id, None)
            return None
        self._remember_views([item])
        if self._alert_kind(row, cached["status"]) is not None:
            # The one-statement path has no transaction to add the alert to: recorded right
            # after, once per order (its dedupe key) whichever path gets there.
            try:
                with self.engine.begin() as connection:
                    self._alert_outcome(connection, row, cached["status"])
            except Exception:
                log.exception("could not record the alert for trade %s", item.order_id)
        return {item.order_id: self._changed(row, added or None)}

    # ------------------------------------------------------------------ outcome alerts
    def _alert_kind(self, row: Row, previous: str) -> AlertKind | None:
        if self.alert_mode is None or row["status"] == previous:
            return None
        if row["status"] == OrderStatus.FILLED.value:
            origin = row.get("origin")
            # A stop's closing fills are in its own result table; an emergency sell is always
            # announced; other fills as ALERT_ON_FILLS says.
            if origin in ("stop", "external"):
                # A stop's fills are in its own result; an order placed outside the OMS and
                # adopted by reconciliation is in the repair's report, not news of a trade.
                return None
            if origin == "emergency_sell" or self.alert_on_fills:
                return AlertKind.ORDER_FILLED
            return None
        if row["status"] == OrderStatus.REJECTED.value and self.alert_on_rejections:
            return AlertKind.ORDER_REJECTED
        return None

    def _alert_outcome(self, connection: Connection, row: Row, previous: str) -> None:
        """An order that became filled or rejected: its alert, in the caller's transaction,
        once per order (a dedupe key per order and outcome)."""
        kind = self._alert_kind(row, previous)
        if kind is None or self.alert_mode is None:
            return
        portfolio = None
        if row.get("portfolio_id") is not None:
            portfolio = connection.execute(
                select(PORTFOLIOS.c.name).where(PORTFOLIOS.c.id == row["portfolio_id"])
            ).scalar()
        body = {
            "trade_id": row["id"],
            "portfolio": portfolio,
            "symbol": row["symbol"],
            "side": row["side"],
            "qty": row["qty"],
            "notional": row["notional"],
            "filled_qty": row["filled_qty"],
            "filled_avg_price": row["filled_avg_price"],
            "broker_order_id": row["broker_order_id"],
            "requested_by": row["requested_by"],
            "origin": row.get("origin"),
            "code": row.get("error_code"),
            "message": row.get("error_message"),
            "mode": self.alert_mode,
        }
        filled = kind is AlertKind.ORDER_FILLED
        what = "Emergency sell" if row.get("origin") == "emergency_sell" else "Trade"
        title = f"{what} {row['id']} {'filled' if filled else 'rejected'}"
        enqueue(
            connection,
            kind,
            title,
            body,
            severity="info" if filled else "warning",
            dedupe_key=f"{kind.value}:{row['id']}",
        )

    def _remember_views(self, news: list[BrokerNews]) -> None:
        for item in news:
            view = (item.order.id, item.order.status, item.order.filled_qty)
            self._remember(self._applied, item.order_id, view)

    def _apply_news(
        self,
        connection: Connection,
        row: Row,
        item: BrokerNews,
        now: datetime,
        fills: dict[int, list[Fill]],
        new_fills: dict[int, list[Fill]],
        events: list[Row],
    ) -> bool:
        """Fold one piece of broker news into the row; True when something must be written."""
        broker_order, source, event = item.order, item.source, item.event
        previous = row["status"]
        changed = False
        if row["broker_order_id"] is None:
            row["broker_order_id"] = broker_order.id
            changed = True
        if self._record_fills(connection, row, broker_order, event, source, now, fills, new_fills):
            changed = True

        target = _target_status(row, broker_order, event)
        note = None
        if target is not None and target.value != previous:
            if can_transition(OrderStatus(previous), target):
                _move(row, target, broker_order, now)
                changed = True
                if OrderStatus(previous) in (OrderStatus.REJECTED, OrderStatus.NOT_SENT):
                    note = f"the broker has this order after all (it was {previous})"
                    log.warning("order %s: %s", row["id"], note)
            elif target is OrderStatus.ACCEPTED:
                pass  # a stale "new" snapshot arriving after later news: nothing to do
            else:
                note = f"ignored transition {previous} -> {target.value} ({source.value})"
                log.warning("order %s: %s", row["id"], note)
        elif target is not None and row["broker_status"] != broker_order.status:
            row["broker_status"] = broker_order.status
            changed = True
        if row["status"] == OrderStatus.FILLED and row["filled_at"] is None:
            row["filled_at"] = broker_order.filled_at or now
            changed = True
        if row["submitted_at"] is None and broker_order.submitted_at is not None:
            row["submitted_at"] = broker_order.submitted_at
            changed = True
        if changed or note:
            row["updated_at"] = now
            events.append(
                self._event(
                    row,
                    previous,
                    source,
                    note or (event.event if event else None),
                    broker_status=broker_order.status,
                    payload=_event_payload(broker_order, event),
                )
            )
        if changed or note or source in (EventSource.POLL, EventSource.RECOVERY):
            # A poll that found nothing new still records when it looked (the poller
            # schedules by it); a stream or API echo of what we hold writes nothing.
            row["last_broker_check_at"] = now
            return True
        return False

    def _record_fills(
        self,
        connection: Connection,
        row: Row,
        broker_order: BrokerOrder,
        event: TradeEvent | None,
        source: EventSource,
        now: datetime,
        fills: dict[int, list[Fill]],
        new_fills: dict[int, list[Fill]],
    ) -> bool:
        """Record executions once. Stream events carry execution ids; a poll only shows the
        broker's cumulative quantity, so any shortfall becomes one synthetic fill. A real
        execution arriving later counts only for what the total still lacks."""
        order_id = row["id"]
        broker_total = broker_order.filled_qty
        is_execution = bool(
            event is not None
            and event.event in ("fill", "partial_fill")
            and event.execution_id
            and event.qty
            and event.price
        )
        if not is_execution and broker_total <= row["filled_qty"]:
            return False  # nothing the fills we hold lack: no need to read them
        if order_id not in fills:
            # filled_qty is derived from the fills: zero means there are none to read.
            fills[order_id] = (
                [
                    fill_from_row(dict(r._mapping))
                    for r in connection.execute(
                        select(FILLS).where(FILLS.c.order_id == order_id).order_by(FILLS.c.id)
                    )
                ]
                if row["filled_qty"] > 0
                else []
            )
        held = fills[order_id] + new_fills.get(order_id, [])
        have_qty = sum((f.qty for f in held), Decimal(0))
        have_value = sum((f.qty * f.price for f in held), Decimal(0))
        added: list[Fill] = []
        if is_execution:
            assert event is not None and event.qty is not None and event.price is not None
            # Execution ids are unique per account; the table's unique constraint backs this up.
            seen = any(f.execution_id == event.execution_id for f in held)
            qty = min(event.qty, broker_total - have_qty)
            if not seen and qty > 0:
                added.append(
                    fill_from_row(
                        {
                            "id": None,
                            "execution_id": event.execution_id,
                            "order_id": order_id,
                            "qty": qty,
                            "price": event.price,
                            "filled_at": event.timestamp,
                            "source": source.value,
                            "created_at": now,
                        }
                    )
                )
                have_qty += qty
                have_value += qty * event.price
        if broker_total > have_qty and broker_order.filled_avg_price is not None:
            missing = broker_total - have_qty
            price = (broker_order.filled_avg_price * broker_total - have_value) / missing
            added.append(
                fill_from_row(
                    {
                        "id": None,
                        "execution_id": f"sync-{broker_order.id}-{broker_total}",
                        "order_id": order_id,
                        "qty": missing,
                        "price": price.quantize(AVG_PRICE_PLACES),
                        "filled_at": broker_order.filled_at or broker_order.updated_at or now,
                        "source": source.value,
                        "created_at": now,
                    }
                )
            )
            have_qty += missing
            have_value += missing * price
        if not added:
            return False
        new_fills.setdefault(order_id, []).extend(added)
        row["filled_qty"] = have_qty
        row["filled_avg_price"] = (have_value / have_qty).quantize(AVG_PRICE_PLACES)
        return True


def _target_status(
    row: Row, broker_order: BrokerOrder, event: TradeEvent | None
) -> OrderStatus | None:
    target = from_broker_status(broker_order.status)
    if target is None:
        return None
    # The fills we hold decide filled vs partially filled, not a possibly stale snapshot.
    if target in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED):
        total, filled = row["qty"], row["filled_qty"]
        if total is not None and filled < total:
            target = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED
        elif total is None and broker_order.status == "filled":
            target = OrderStatus.FILLED
    current = OrderStatus(row["status"])
    if current in (OrderStatus.CANCELED, OrderStatus.EXPIRED) and target in (
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.ACCEPTED,
    ):
        # A late (or stale, reordered) partial fill is recorded, but a closed order stays
        # closed; only fills covering the whole order turn it into `filled`.
        return None
    if (
        current is OrderStatus.PENDING_CANCEL
        and target in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)
        and (event is None or event.event != "order_cancel_rejected")
    ):
        # A cancel stays pending until the broker confirms or refuses it.
        return None
    if (
        current is OrderStatus.REJECTED
        and row["broker_status"] == "rejected"
        and target in (OrderStatus.ACCEPTED, OrderStatus.PENDING_CANCEL)
    ):
        # The broker itself rejected this order: an older acknowledgement arriving late does
        # not reopen it (a fill, a fact, still would).
        return None
    return target


def _move(row: Row, target: OrderStatus, broker_order: BrokerOrder, now: datetime) -> None:
    row["status"] = target.value
    row["broker_status"] = broker_order.status
    if target is OrderStatus.REJECTED:
        row["error_code"] = row["error_code"] or "broker_rejected"
        row["error_message"] = row["error_message"] or "rejected by the broker"
    elif row["error_code"] is not None:
        # The broker has the order and works it: an earlier "unknown", "not sent" or
        # "rejected" verdict no longer describes it.
        row["error_code"] = None
        row["error_message"] = None
    if target is OrderStatus.CANCELED:
        row["canceled_at"] = broker_order.canceled_at or now


_FILL_KEYS = ("execution_id", "qty", "price", "filled_at", "source", "created_at")


def _fill_values(fill: Fill) -> Row:
    return {
        "execution_id": fill.execution_id,
        "order_id": fill.order_id,
        "qty": fill.qty,
        "price": fill.price,
        "filled_at": fill.filled_at,
        "source": fill.source,
        "created_at": fill.created_at,
    }


def _error_payload(error: BrokerError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"http_status": error.http_status, "code": error.code, "message": error.message}


def _event_payload(broker_order: BrokerOrder, event: TradeEvent | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "broker_order_id": broker_order.id,
        "status": broker_order.status,
        "filled_qty": str(broker_order.filled_qty),
        "filled_avg_price": (
            str(broker_order.filled_avg_price) if broker_order.filled_avg_price else None
        ),
    }
    if event is not None:
        payload.update(
            event=event.event,
            execution_id=event.execution_id,
            price=str(event.price) if event.price is not None else None,
            qty=str(event.qty) if event.qty is not None else None,
        )
    return payload
