"""The emergency stop: halt, cancel, flatten, verify — under a lock, idempotent, resumable.

1. HALTED and a stop record are committed (with the audit row and the alerts) before any
   broker call; a second request while one runs gets that stop.
2. One bulk cancel (`DELETE /v2/orders`), then one bulk close (`DELETE /v2/positions?
   cancel_orders=true`: shorts are bought back, fractions closed). The closing orders the broker
   makes are adopted as OMS orders of the stop, allotted to the portfolios whose books held the
   symbol, so history and P&L stay complete; their fills are recorded once (by the stream, or
   by asking the broker for the order).
3. Verify: positions and open orders, with back-off, until nothing is left or the deadline; a
   symbol still held is closed on its own (each attempt recorded).
4. The stop ends `flat`, `incomplete` (what is left and why) or, with the market closed,
   `queued_for_open` (it completes, and says so, when the queued orders fill). Trading stays
   HALTED until someone resumes it.
The stop runs in one worker at a time (PostgreSQL advisory lock); a worker that starts up finds
a stop still `running` (its worker died) and finishes it. Its broker write calls go first in the
shared budget.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from oms_api.alerts.outbox import AlertKind, enqueue
from oms_api.audit.models import AuditResult
from oms_api.audit.service import Actor, AuditAction, record
from oms_api.broker.budget import Priority
from oms_api.broker.models import BrokerOrder, BrokerRejected, BrokerUnavailable, Position
from oms_api.controls.books import Books, allot
from oms_api.controls.models import (
    EmergencyStop,
    StopStatus,
    StopSymbol,
    SymbolOutcome,
    TradingStateValue,
)
from oms_api.controls.state import set_state
from oms_api.db.engine import singleton_lock
from oms_api.errors import ServiceError
from oms_api.orders.enums import OrderOrigin, OrderStatus
from oms_api.orders.models import Order
from oms_api.orders.service import OrderService
from oms_api.orders.writer import Adoption
from oms_api.portfolios.service import PortfolioService

log = logging.getLogger(__name__)

STOPS = EmergencyStop.__table__  # type: ignore[attr-defined]
SYMBOLS = StopSymbol.__table__  # type: ignore[attr-defined]
STOP_LOCK = "oms-emergency-stop"
# Per-symbol closes of what is still held, at most this many each.
MAX_SYMBOL_ATTEMPTS = 3


@dataclass(frozen=True)
class StopSettings:
    verify_seconds: float = 60.0  # how long to verify (and retry) before `incomplete`
    first_delay: float = 0.05  # verification back-off: first wait, doubling up to max
    max_delay: float = 2.0


@dataclass
class SymbolView:
    symbol: str
    side: str
    qty_before: Decimal
    close_trade_id: int | None
    close_broker_order_id: str | None
    close_client_order_id: str | None
    filled_qty: Decimal
    fill_price: Decimal | None
    outcome: str
    attempts: int
    note: str | None


@dataclass
class StopView:
    id: int
    status: str
    phase: str
    reason: str
    requested_by: str
    requested_by_name: str | None
    channel_id: str | None
    started_at: datetime
    finished_at: datetime | None
    orders_canceled: int
    broker_write_calls: int
    error: str | None
    symbols: list[SymbolView] = field(default_factory=list)
    already_running: bool = False


class EmergencyStops:
    def __init__(
        self,
        engine: Engine,
        broker: Any,
        orders: OrderService,
        portfolios: PortfolioService,
        mode: str,
        settings: StopSettings | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.broker = broker
        self.orders = orders
        self.portfolios = portfolios
        self.mode = mode
        self.settings = settings or StopSettings()
        self.now = now
        self.monotonic = monotonic
        self.sleep = sleep
        self._threads: list[threading.Thread] = []
        # stop id -> every book's positions when it began closing (for allotting its orders)
        self._books: dict[int, Books] = {}

    # ------------------------------------------------------------------ starting
    def start(self, actor: Actor, reason: str, channel_id: str | None = None) -> StopView:
        """Persist HALTED and the stop (audit row, alerts) before any broker call. Idempotent:
        while a stop runs, its record is answered instead."""
        running = self._running_id()
        if running is not None:
            view = self.get(running)
            view.already_running = True
            return view
        now = self.now()
        try:
            with self.engine.begin() as connection:
                stop_id = connection.execute(
                    STOPS.insert().values(
                        status=StopStatus.RUNNING.value,
                        phase="halting",
                        reason=reason[:500],
                        requested_by=actor.id[:100],
                        requested_by_name=actor.name[:100] if actor.name else None,
                        channel_id=channel_id,
                        started_at=now,
                        orders_canceled=0,
                        broker_write_calls=0,
                    )
                ).inserted_primary_key[0]
                set_state(connection, TradingStateValue.HALTED, actor, reason, now, stop_id)
                record(
                    connection,
                    actor,
                    AuditAction.EMERGENCY_STOP,
                    f"stop {stop_id}",
                    {"reason": reason, "channel_id": channel_id},
                )
                who = {"by": actor.id, "by_name": actor.name, "mode": self.mode}
                body = {
                    "stop_id": stop_id,
                    "reason": reason,
                    "requested_by": actor.id,
                    "requested_by_name": actor.name,
                    "mode": self.mode,
                }
                enqueue(
                    connection,
                    AlertKind.STOP_STARTED,
                    "Emergency stop started",
                    body,
                    severity="critical",
                )
                enqueue(
                    connection,
                    AlertKind.HALTED,
                    "Trading halted",
                    {"reason": reason, "stop_id": stop_id, **who},
                    severity="critical",
                )
        except IntegrityError:  # another worker started one at this very moment
            running = self._running_id()
            if running is None:
                raise
            view = self.get(running)
            view.already_running = True
            return view
        return self.get(stop_id)

    def _running_id(self) -> int | None:
        with self.engine.connect() as connection:
            return connection.execute(
                select(STOPS.c.id).where(STOPS.c.status == StopStatus.RUNNING.value)
            ).scalar()

    def run_in_background(self, stop_id: int, wait: bool = True) -> threading.Thread:
        thread = threading.Thread(
            target=self._run_logged,
            args=(stop_id, wait),
            name=f"emergency-stop-{stop_id}",
            daemon=True,
        )
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()
        return thread

    def busy(self) -> bool:
        """A stop is being run by this process."""
        return any(thread.is_alive() for thread in self._threads)

    def _run_logged(self, stop_id: int, wait: bool) -> None:
        try:
            self.run(stop_id, wait)
        except Exception:
            log.exception(
                "emergency stop %s failed; a restart or the next check resumes it", stop_id
            )

    def resume_unfinished(self) -> int | None:
        """At start-up: a stop left `running` (its worker died) is finished here."""
        running = self._running_id()
        if running is not None:
            log.warning("emergency stop %s was still running: continuing it", running)
            # Not waiting: if another worker holds the stop's lock, it is running it.
            self.run_in_background(running, wait=False)
        return running

    def join(self, timeout: float = 30.0) -> None:
        for thread in list(self._threads):
            thread.join(timeout)

    # ------------------------------------------------------------------ running
    def run(self, stop_id: int, wait: bool = True) -> StopView:
        """Cancel, close, verify; one worker at a time (`wait`: for the worker that runs one;
        else leave it to that worker)."""
        with singleton_lock(self.engine, STOP_LOCK, blocking=wait) as got:
            view = self.get(stop_id)
            if not got:
                return view
            if view.status != StopStatus.RUNNING:
                return view
            try:
                # A run that got as far as closing before its worker died may have left closing
                # orders at the broker that were never adopted: adopt them first.
                orphans = self._adopt_orphans(view) if view.phase != "halting" else {}
                self._cancel_everything(stop_id)
                adopted = {**orphans, **self._close_everything(stop_id)}
                status = self._verify(stop_id, adopted)
                return self._finish(stop_id, status)
            finally:
                self._books.pop(stop_id, None)

    def _adopt_orphans(self, view: StopView) -> dict[str, int]:
        """Orders the broker made since the stop began that the OMS does not know. The OMS
        records every order of its own before sending it, so these are the stop's closing
        orders from a run that died before adopting them (or a trade made by hand in Alpaca's
        dashboard meanwhile, which is then on the stop's record for all to see)."""
        try:
            self.broker.forget_clock()
            broker_now = self.broker.get_clock().timestamp
            # The broker's clock, not ours, bounds its list: ours may be off.
            since = view.started_at + (broker_now - self.now()) - timedelta(seconds=60)
            seen = self.broker.list_orders(status="all", after=since, priority=Priority.SUBMIT)
        except (BrokerUnavailable, BrokerRejected) as error:
            self._note(view.id, f"could not look for closing orders of the earlier run: {error}")
            return {}
        known = self.orders.known_broker_orders(seen)
        orphans = [o for o in seen if o.id not in known and o.order_type in (None, "market")]
        if not orphans:
            return {}
        log.warning("emergency stop %s: adopting %d closing order(s)", view.id, len(orphans))
        adopted = self._adopt(
            view.id, orphans, "closed by the emergency stop (adopted after a restart)"
        )
        self._write_symbols(view.id, [(o.symbol, self._order_values(o), o) for o in adopted])
        return {o.symbol: o.id for o in adopted if o.id is not None}

    def _cancel_everything(self, stop_id: int) -> None:
        self._phase(stop_id, "cancelling")
        try:
            answers = self.broker.cancel_all_orders()
        except (BrokerUnavailable, BrokerRejected) as error:
            # The bulk close below cancels open orders too (cancel_orders=true).
            self._note(stop_id, f"cancelling every open order failed: {error}", write_call=True)
            return
        canceled = sum(1 for answer in answers if answer.status == 200)
        with self.engine.begin() as connection:
            connection.execute(
                update(STOPS)
                .where(STOPS.c.id == stop_id)
                .values(orders_canceled=canceled, broker_write_calls=STOPS.c.broker_write_calls + 1)
            )

    def _close_everything(self, stop_id: int) -> dict[str, int]:
        """Snapshot what is held (at the broker, and in each book), close it all in one
        request, adopt the closing orders in one batch."""
        self._phase(stop_id, "closing")
        try:
            held = self.broker.get_positions(Priority.SUBMIT)
        except (BrokerUnavailable, BrokerRejected) as error:
            held = []
            self._note(stop_id, f"reading positions before closing failed: {error}")
        self._books[stop_id] = self.portfolios.all_holdings()
        try:
            closes = self.broker.close_all_positions(cancel_orders=True)
        except (BrokerUnavailable, BrokerRejected) as error:
            self._symbol_rows(stop_id, held)
            self._note(stop_id, f"closing every position failed: {error}", write_call=True)
            return {}
        self._count_write(stop_id)
        self._symbol_rows(stop_id, held)
        orders = [c.order for c in closes if c.order is not None]
        adopted_orders = self._adopt(stop_id, orders, "closed by the emergency stop")
        adopted = {o.symbol: o.id for o in adopted_orders if o.id is not None}
        updates: list[tuple[str, dict[str, Any], Order | None]] = [
            (o.symbol, {**self._order_values(o), "attempts": 1}, o) for o in adopted_orders
        ]
        updates += [
            (c.symbol, self._note_values(f"the broker did not close it: {c.error}"), None)
            for c in closes
            if c.order is None
        ]
        self._write_symbols(stop_id, updates)
        return adopted

    def _verify(self, stop_id: int, adopted: dict[str, int]) -> StopStatus:
        """Two reads a round (positions, open orders), with back-off, until nothing is left or
        the deadline; a symbol still held without a working closing order is closed alone."""
        self._phase(stop_id, "verifying")
        deadline = self.monotonic() + self.settings.verify_seconds
        delay = self.settings.first_delay
        attempts: dict[str, int] = dict.fromkeys(adopted, 1)
        while True:
            held, working = self._what_is_left()
            if held is not None:
                if not held and not working:
                    self._refresh(stop_id, adopted)
                    return StopStatus.FLAT
                if self._queued_for_open(held, working, adopted):
                    self._refresh(stop_id, adopted)
                    return StopStatus.QUEUED_FOR_OPEN
                closing = {o.id for o in working}
                self._symbol_rows(stop_id, held)
                for position in held:
                    order_id = adopted.get(position.symbol)
                    broker_id = (
                        self.orders.get_order(order_id).broker_order_id if order_id else None
                    )
                    tried = attempts.get(position.symbol, 0)
                    if broker_id not in closing and tried < MAX_SYMBOL_ATTEMPTS:
                        attempts[position.symbol] = tried + 1
                        new_id = self._close_one(stop_id, position.symbol, tried + 1)
                        if new_id is not None:
                            adopted[position.symbol] = new_id
            if self.monotonic() >= deadline:
                self._refresh(stop_id, adopted)
                return StopStatus.INCOMPLETE
            self.sleep(delay)
            delay = min(delay * 2, self.settings.max_delay)

    def _what_is_left(self) -> tuple[list[Position] | None, list[BrokerOrder]]:
        try:
            held = self.broker.get_positions(Priority.SUBMIT)
            working = self.broker.list_open_orders(priority=Priority.SUBMIT)
        except (BrokerUnavailable, BrokerRejected) as error:
            log.warning("emergency stop: could not read what is left (%s)", error)
            return None, []
        return held, working

    def _refresh(self, stop_id: int, adopted: dict[str, int]) -> None:
        """The closing orders as the broker has them now (their fills recorded once, whoever
        hears first: the stream or this), one request for all of them, into the symbol rows."""
        if not adopted:
            return
        orders = {symbol: self.orders.get_order(order_id) for symbol, order_id in adopted.items()}
        # The broker's own times (its clock, not ours) bound the listing.
        submitted = [o.submitted_at for o in orders.values() if o.submitted_at is not None]
        after = min(submitted) - timedelta(seconds=1) if submitted else None
        try:
            at_broker = {
                o.id: o
                for o in self.broker.list_orders(
                    status="all", after=after, priority=Priority.SUBMIT
                )
            }
        except (BrokerUnavailable, BrokerRejected) as error:
            log.warning("emergency stop %s: could not read its closing orders (%s)", stop_id, error)
            at_broker = {}
        seen = [
            (order.id, at_broker[order.broker_order_id])
            for order in orders.values()
            if order.id is not None and order.broker_order_id in at_broker
        ]
        now = self.orders.apply_broker_orders(seen)
        self._write_symbols(
            stop_id,
            [
                (symbol, self._order_values(now.get(o.id or 0, o)), now.get(o.id or 0, o))
                for symbol, o in orders.items()
            ],
        )

    def _queued_for_open(
        self, held: list[Position], working: list[BrokerOrder], adopted: dict[str, int]
    ) -> bool:
        """The market is closed and every symbol still held has a closing order waiting."""
        if not held:
            return False
        waiting = {o.id for o in working}
        for position in held:
            order_id = adopted.get(position.symbol)
            if order_id is None or self.orders.get_order(order_id).broker_order_id not in waiting:
                return False
        try:
            self.broker.forget_clock()  # the open or close may have come and gone: ask
            clock = self.broker.get_clock()
        except (BrokerUnavailable, BrokerRejected):
            return False
        return not clock.is_open

    def _close_one(self, stop_id: int, symbol: str, attempt: int) -> int | None:
        try:
            order = self.broker.close_position(symbol)
        except (BrokerUnavailable, BrokerRejected) as error:
            self._count_write(stop_id)
            note = f"closing it on its own failed (attempt {attempt}): {error}"
            self._write_symbols(stop_id, [(symbol, self._note_values(note, attempt), None)])
            return None
        self._count_write(stop_id)
        if order is None:  # nothing left to close after all
            return None
        (adopted,) = self._adopt(
            stop_id, [order], f"closed on its own by the emergency stop ({attempt})"
        )
        values = {**self._order_values(adopted), "attempts": attempt}
        self._write_symbols(stop_id, [(symbol, values, adopted)])
        return adopted.id

    def _adopt(self, stop_id: int, broker_orders: list[BrokerOrder], note: str) -> list[Order]:
        """The closing orders as OMS orders of the stop, each allotted to the books that held
        its symbol when the stop began closing."""
        books = self._books.get(stop_id)
        if books is None:  # resumed after a restart: the books as they are now
            books = self._books[stop_id] = self.portfolios.all_holdings()
        items = [
            Adoption(
                order,
                f"{note} (stop {stop_id})",
                allot(books, order.symbol, order.qty or Decimal(0), order.side == "sell"),
            )
            for order in broker_orders
        ]
        return self.orders.adopt_many(items, origin=OrderOrigin.STOP, stop_id=stop_id)

    # ------------------------------------------------------------------ finishing
    def _finish(self, stop_id: int, status: StopStatus) -> StopView:
        view = self.get(stop_id)
        now = self.now()
        with self.engine.begin() as connection:
            self._settle_symbols(connection, stop_id, status)
            connection.execute(
                update(STOPS)
                .where(STOPS.c.id == stop_id)
                .values(
                    status=status.value,
                    phase="waiting_for_open" if status is StopStatus.QUEUED_FOR_OPEN else "done",
                    finished_at=None if status is StopStatus.QUEUED_FOR_OPEN else now,
                )
            )
        view = self.get(stop_id)
        with self.engine.begin() as connection:
            self._announce(connection, view)
        log.warning("emergency stop %s: %s", stop_id, status.value)
        return view

    def _settle_symbols(self, connection: Connection, stop_id: int, status: StopStatus) -> None:
        for row in connection.execute(select(SYMBOLS).where(SYMBOLS.c.stop_id == stop_id)):
            if row.outcome in (SymbolOutcome.CLOSED, SymbolOutcome.FAILED):
                continue
            outcome = {
                StopStatus.FLAT: SymbolOutcome.CLOSED,
                StopStatus.QUEUED_FOR_OPEN: SymbolOutcome.QUEUED,
                StopStatus.INCOMPLETE: SymbolOutcome.OPEN,
            }[status]
            if status is StopStatus.INCOMPLETE and row.filled_qty >= abs(row.qty_before):
                outcome = SymbolOutcome.CLOSED
            connection.execute(
                update(SYMBOLS)
                .where(SYMBOLS.c.id == row.id)
                .values(outcome=outcome.value, updated_at=self.now())
            )

    def _announce(self, connection: Connection, view: StopView) -> None:
        """The result, to the alerts channel and to the channel the stop was started from; its
        audit row. Trading stays HALTED: resuming is an explicit act."""
        titles = {
            StopStatus.FLAT: "Emergency stop finished: flat",
            StopStatus.INCOMPLETE: "Emergency stop INCOMPLETE: positions are still open",
            StopStatus.QUEUED_FOR_OPEN: "Emergency stop: closing orders queued for the open",
        }
        status = StopStatus(view.status)
        kind = (
            AlertKind.STOP_INCOMPLETE
            if status is StopStatus.INCOMPLETE
            else AlertKind.STOP_FINISHED
        )
        severity = "critical" if status is StopStatus.INCOMPLETE else "warning"
        body = stop_alert_body(view, self.mode)
        channels = [None] + ([view.channel_id] if view.channel_id else [])
        for channel in channels:
            enqueue(connection, kind, titles[status], body, severity=severity, channel_id=channel)
        record(
            connection,
            Actor.of(view.requested_by, view.requested_by_name),
            AuditAction.EMERGENCY_STOP,
            f"stop {view.id}",
            {
                "status": view.status,
                "left": [s.symbol for s in view.symbols if s.outcome == "open"],
            },
            AuditResult.OK if status is not StopStatus.INCOMPLETE else AuditResult.FAILED,
        )

    def complete_queued(self) -> list[int]:
        """Stops waiting for the open: finished (and said so) once nothing is held any more."""
        with self.engine.connect() as connection:
            waiting = (
                connection.execute(
                    select(STOPS.c.id).where(STOPS.c.status == StopStatus.QUEUED_FOR_OPEN.value)
                )
                .scalars()
                .all()
            )
        done = []
        for stop_id in waiting:
            with singleton_lock(self.engine, STOP_LOCK) as got:
                if not got:
                    continue
                held, working = self._what_is_left()
                if held is None or held or working:
                    continue
                adopted = {
                    s.symbol: s.close_trade_id
                    for s in self.get(stop_id).symbols
                    if s.close_trade_id is not None
                }
                self._refresh(stop_id, adopted)
                with self.engine.begin() as connection:
                    connection.execute(
                        update(STOPS)
                        .where(STOPS.c.id == stop_id)
                        .values(status=StopStatus.FLAT.value, phase="done", finished_at=self.now())
                    )
                    self._settle_symbols(connection, stop_id, StopStatus.FLAT)
                with self.engine.begin() as connection:
                    self._announce(connection, self.get(stop_id))
                done.append(stop_id)
        return done

    # ------------------------------------------------------------------ records
    def _phase(self, stop_id: int, phase: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(STOPS).where(STOPS.c.id == stop_id).values(phase=phase))

    def _count_write(self, stop_id: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(STOPS)
                .where(STOPS.c.id == stop_id)
                .values(broker_write_calls=STOPS.c.broker_write_calls + 1)
            )

    def _note(self, stop_id: int, message: str, write_call: bool = False) -> None:
        log.warning("emergency stop %s: %s", stop_id, message)
        values: dict[str, Any] = {"error": message[:500]}
        if write_call:
            values["broker_write_calls"] = STOPS.c.broker_write_calls + 1
        with self.engine.begin() as connection:
            connection.execute(update(STOPS).where(STOPS.c.id == stop_id).values(values))

    def _symbol_rows(self, stop_id: int, held: list[Position]) -> None:
        """Each symbol's row, with what was held when the stop first saw it (one transaction)."""
        if not held:
            return
        with self.engine.begin() as connection:
            known = set(
                connection.execute(
                    select(SYMBOLS.c.symbol).where(SYMBOLS.c.stop_id == stop_id)
                ).scalars()
            )
            rows = [
                {
                    "stop_id": stop_id,
                    "symbol": position.symbol,
                    "side": "short" if position.qty < 0 else "long",
                    "qty_before": position.qty,
                    "filled_qty": Decimal(0),
                    "outcome": SymbolOutcome.PENDING.value,
                    "attempts": 0,
                    "updated_at": self.now(),
                }
                for position in held
                if position.symbol not in known
            ]
            if rows:
                connection.execute(SYMBOLS.insert(), rows)

    def _order_values(self, order: Order) -> dict[str, Any]:
        """A symbol row's columns from its closing order."""
        values: dict[str, Any] = {
            "close_order_id": order.id,
            "close_broker_order_id": order.broker_order_id,
            "close_client_order_id": order.client_order_id,
            "filled_qty": order.filled_qty,
            "fill_price": order.filled_avg_price,
            "updated_at": self.now(),
        }
        if order.status == OrderStatus.FILLED:
            values["outcome"] = SymbolOutcome.CLOSED.value
        elif order.status == OrderStatus.REJECTED:
            values["outcome"] = SymbolOutcome.FAILED.value
        return values

    def _note_values(self, note: str, attempts: int | None = None) -> dict[str, Any]:
        values: dict[str, Any] = {"note": note[:500], "updated_at": self.now()}
        if attempts is not None:
            values["attempts"] = attempts
        return values

    def _write_symbols(
        self, stop_id: int, updates: list[tuple[str, dict[str, Any], Order | None]]
    ) -> None:
        """Update symbol rows in one transaction; a symbol not seen in the snapshot (the read
        failed) gets its row from its closing order."""
        if not updates:
            return
        with self.engine.begin() as connection:
            for symbol, values, order in updates:
                updated = connection.execute(
                    update(SYMBOLS)
                    .where(SYMBOLS.c.stop_id == stop_id, SYMBOLS.c.symbol == symbol)
                    .values(values)
                )
                if updated.rowcount:
                    continue
                qty = order.qty if order is not None and order.qty is not None else Decimal(0)
                side = "short" if order is not None and order.side == "buy" else "long"
                row = {
                    "stop_id": stop_id,
                    "symbol": symbol,
                    "side": side,
                    "qty_before": -qty if side == "short" else qty,
                    "outcome": SymbolOutcome.PENDING.value,
                    "filled_qty": Decimal(0),
                    "attempts": 0,
                    **values,
                }
                connection.execute(SYMBOLS.insert().values(row))

    # ------------------------------------------------------------------ reading
    def get(self, stop_id: int) -> StopView:
        with self.engine.connect() as connection:
            row = connection.execute(select(STOPS).where(STOPS.c.id == stop_id)).mappings().first()
            if row is None:
                raise ServiceError(
                    404, "stop_not_found", f"emergency stop {stop_id} does not exist"
                )
            symbols = (
                connection.execute(
                    select(SYMBOLS).where(SYMBOLS.c.stop_id == stop_id).order_by(SYMBOLS.c.symbol)
                )
                .mappings()
                .all()
            )
        return StopView(
            id=row["id"],
            status=row["status"],
            phase=row["phase"],
            reason=row["reason"],
            requested_by=row["requested_by"],
            requested_by_name=row["requested_by_name"],
            channel_id=row["channel_id"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            orders_canceled=row["orders_canceled"],
            broker_write_calls=row["broker_write_calls"],
            error=row["error"],
            symbols=[
                SymbolView(
                    symbol=s["symbol"],
                    side=s["side"],
                    qty_before=s["qty_before"],
                    close_trade_id=s["close_order_id"],
                    close_broker_order_id=s["close_broker_order_id"],
                    close_client_order_id=s["close_client_order_id"],
                    filled_qty=s["filled_qty"],
                    fill_price=s["fill_price"],
                    outcome=s["outcome"],
                    attempts=s["attempts"],
                    note=s["note"],
                )
                for s in symbols
            ],
        )

    def list(self, limit: int = 20, before_id: int | None = None) -> list[StopView]:
        query = select(STOPS.c.id).order_by(STOPS.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(STOPS.c.id < before_id)
        with self.engine.connect() as connection:
            ids = connection.execute(query).scalars().all()
        return [self.get(stop_id) for stop_id in ids]


def stop_alert_body(view: StopView, mode: str) -> dict[str, Any]:
    return {
        "stop_id": view.id,
        "status": view.status,
        "reason": view.reason,
        "requested_by": view.requested_by,
        "requested_by_name": view.requested_by_name,
        "started_at": view.started_at.isoformat(),
        "finished_at": view.finished_at.isoformat() if view.finished_at else None,
        "orders_canceled": view.orders_canceled,
        "symbols": [
            {
                "symbol": s.symbol,
                "side": s.side,
                "qty_before": str(s.qty_before),
                "filled_qty": str(s.filled_qty),
                "fill_price": str(s.fill_price) if s.fill_price is not None else None,
                "outcome": s.outcome,
                "note": s.note,
            }
            for s in view.symbols
        ],
        "mode": mode,
    }
