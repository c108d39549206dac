"""The order service: the one place that changes order state.

Promises (see the reliability notes): the order row is committed before the broker is
called; a lost answer makes the order `unknown`, settled by asking the broker for the
client_order_id (re-sending with the same id, which the broker refuses to duplicate); fills
are recorded once per execution; every change goes through the transition table and is
logged in order_events with its source.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select as sa_select
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, select

from oms_api.broker.models import (
    Asset,
    BrokerError,
    BrokerOrder,
    BrokerRejected,
    BrokerUnavailable,
    CancelOutcome,
    MarketClock,
    OrderSubmission,
    Outcome,
    SubmitResult,
    TradeEvent,
)
from oms_api.db.engine import is_postgres, new_session
from oms_api.errors import ServiceError
from oms_api.orders.enums import (
    TERMINAL_STATUSES,
    UNSETTLED_STATUSES,
    EventSource,
    OrderStatus,
    PortfolioStatus,
)
from oms_api.orders.ids import new_client_order_id, portfolio_id_of
from oms_api.orders.models import Fill, Order, OrderEvent
from oms_api.orders.requests import TradeRejected, TradeRequest, validate_trade
from oms_api.orders.state import can_transition, from_broker_status
from oms_api.portfolios.models import Portfolio

log = logging.getLogger(__name__)

AVG_PRICE_PLACES = Decimal("0.000001")
# trade_updates events that only acknowledge an order (no execution, no state of their own).
_ACK_EVENTS = frozenset({"new", "pending_new", "accepted"})


class Broker(Protocol):
    """What the order service needs from the broker gateway."""

    def submit_order(self, submission: OrderSubmission) -> SubmitResult: ...
    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder | None: ...
    def get_order(self, broker_order_id: str) -> BrokerOrder | None: ...
    def cancel_order(self, broker_order_id: str) -> CancelOutcome: ...
    def get_asset(self, symbol: str) -> Asset | None: ...
    def get_clock(self) -> MarketClock: ...


# How a stored failure reads back to the client (so an idempotent replay answers the same).
ERROR_STATUS: dict[str, int] = {
    "insufficient_buying_power": 402,
    "insufficient_qty": 400,
    "invalid_symbol": 400,
    "invalid_parameters": 400,
    "broker_rejected": 400,
    "broker_unavailable": 503,
    "outcome_unknown": 503,
    "stale_unsent": 503,
}


@dataclass
class TradeOutcome:
    order: Order
    portfolio_name: str | None
    replayed: bool = False
    clock: MarketClock | None = None
    error: ServiceError | None = None
    fills: list[Fill] = field(default_factory=list)


class OrderWatch:
    """Wakes request threads waiting for an order to change, and hands them the order as it
    was committed (so a waiter need not read it back). Fed by every apply in this process."""

    MAX_TRACKED = 10_000  # recent orders remembered; older ones fall back to a database read

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._versions: dict[int, int] = {}
        self._latest: dict[int, tuple[Order, list[Fill] | None]] = {}

    def touch(
        self, order_id: int, order: Order | None = None, fills: list[Fill] | None = None
    ) -> None:
        with self._cond:
            self._versions[order_id] = self._versions.pop(order_id, 0) + 1
            if order is not None:
                self._latest[order_id] = (order, fills)
            else:
                self._latest.pop(order_id, None)
            while len(self._versions) > self.MAX_TRACKED:
                oldest = next(iter(self._versions))
                del self._versions[oldest]
                self._latest.pop(oldest, None)
            self._cond.notify_all()

    def version(self, order_id: int) -> int:
        with self._cond:
            return self._versions.get(order_id, 0)

    def latest(self, order_id: int) -> tuple[int, tuple[Order, list[Fill] | None] | None]:
        """The version and, when this process committed it, the order as of that version."""
        with self._cond:
            return self._versions.get(order_id, 0), self._latest.get(order_id)

    def wait(self, order_id: int, since: int, timeout: float) -> bool:
        """True if the order changed after `since` within `timeout` seconds."""
        if timeout <= 0:
            return self.version(order_id) != since
        with self._cond:
            return self._cond.wait_for(
                lambda: self._versions.get(order_id, 0) != since, timeout=timeout
            )

    def forget(self, order_id: int) -> None:
        with self._cond:
            self._versions.pop(order_id, None)
            self._latest.pop(order_id, None)


@dataclass
class ServiceSettings:
    reject_when_market_closed: bool = False
    fill_wait_polls: int = 3
    fill_poll_interval_seconds: float = 1.0
    # After the broker accepts, how long the request waits for the stream before writing the
    # reply itself (the stream's fill usually follows within milliseconds).
    stream_wait_seconds: float = 0.25
    unknown_grace_seconds: float = 10.0
    settle_attempts: int = 3  # in-request look-up / re-send rounds for an unknown outcome
    settle_backoff_seconds: float = 0.5
    resend_max_age_seconds: float = 300.0  # older unsent orders are not sent late


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OrderService:
    def __init__(
        self,
        engine: Engine,
        broker: Broker,
        settings: ServiceSettings | None = None,
        *,
        now: Callable[[], datetime] = _utcnow,
        sleep: Callable[[float], None] = time.sleep,
        watch: OrderWatch | None = None,
    ) -> None:
        self.engine = engine
        self.broker = broker
        self.settings = settings or ServiceSettings()
        self.now = now
        self.sleep = sleep
        self.watch = watch or OrderWatch()
        # SQLite serialises writers per process; PostgreSQL uses row locks instead.
        self._sqlite_write_lock = threading.RLock()
        self.recovered = threading.Event()
        # client_order_id -> order id for orders this process recorded (immutable pairs), so a
        # stream event finds its order without a query.
        self._order_ids: dict[str, int] = {}
        # order id -> the last broker view (broker id, status, filled qty) this process applied.
        self._applied: dict[int, tuple[str, str, Decimal]] = {}
        self._memo_lock = threading.Lock()
        # order id -> the broker's latest acknowledgement, while the request thread that sent
        # the order waits for the stream to bring more (see _await_stream_news).
        self._in_flight: dict[int, BrokerOrder] = {}
        # Whether this process hears the trade stream right now (set by the runtime).
        self.stream_live: Callable[[], bool] = lambda: False

    # ------------------------------------------------------------------ sessions
    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with new_session(self.engine) as session:
                yield session
        except OperationalError as error:
            log.error("database unavailable: %s", error.__class__.__name__)
            raise ServiceError(
                503, "database_unavailable", "database unavailable — nothing was sent"
            ) from None

    @contextmanager
    def _locked(self, order_id: int) -> Iterator[tuple[Session, Order]]:
        """A session holding the order row for update."""
        with self._sqlite_write_lock if not is_postgres(self.engine) else _null():  # noqa: SIM117
            with self._session() as session:
                order = session.exec(
                    select(Order).where(Order.id == order_id).with_for_update()
                ).one()
                yield session, order

    # ------------------------------------------------------------------ placing trades
    def place_trade(self, request: TradeRequest, idempotency_key: str | None) -> TradeOutcome:
        valid = validate_trade(request)
        fingerprint = request.fingerprint()
        if idempotency_key is not None:
            existing = self._find_by_idempotency_key(idempotency_key)
            if existing is not None:
                return self._replay(existing, fingerprint)

        portfolio = self._active_portfolio(request.portfolio)
        asset = self._asset(valid.symbol)
        if valid.fractional and not asset.fractionable:
            raise TradeRejected(
                "invalid_quantity",
                f"{valid.symbol} does not trade in fractional shares or dollar amounts",
                "qty" if request.qty is not None else "notional",
            )
        clock = self._clock()
        if self.settings.reject_when_market_closed and clock is not None and not clock.is_open:
            raise ServiceError(
                503,
                "market_closed",
                f"the market is closed; it opens at {clock.next_open.isoformat()} — "
                "nothing was sent",
                {"market_open": False, "next_open": clock.next_open.isoformat()},
            )

        order = self._record(
            request, valid.symbol, valid.order_class.value, portfolio, idempotency_key, fingerprint
        )
        if order is None:  # lost an Idempotency-Key race to a concurrent identical request
            assert idempotency_key is not None
            existing = self._find_by_idempotency_key(idempotency_key)
            assert existing is not None
            return self._replay(existing, fingerprint)

        try:
            result = self._send(order, first=True)
            if self._stream_follows(result):
                order = self._await_stream_news(order, result)
            else:
                order = self._handle_submit_result(order, result)
            if order.status == OrderStatus.UNKNOWN:
                order = self._settle_unknown_now(order)
            fills = self._handed_fills(order)
            if order.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
                order, fills = self._wait_for_fill(order)
        except ServiceError as error:
            if error.code != "database_unavailable":
                raise
            # The order went out: "nothing was sent" would invite a second order. The row is
            # committed, so the poller (or the next start-up) settles it by client_order_id.
            raise ServiceError(
                503,
                "database_unavailable",
                "database unavailable after the order was sent to the broker — do not place it "
                "again; its outcome is recorded when the database is back",
                {"trade_id": order.id, "client_order_id": order.client_order_id},
            ) from None
        return self._outcome(order, portfolio.name, clock, fills)

    def _find_by_idempotency_key(self, key: str) -> Order | None:
        with self._session() as session:
            return session.exec(select(Order).where(Order.idempotency_key == key)).first()

    def _replay(self, order: Order, fingerprint: str) -> TradeOutcome:
        if order.request_fingerprint != fingerprint:
            raise ServiceError(
                409,
                "idempotency_conflict",
                "this Idempotency-Key was already used for a different trade",
                {"trade_id": order.id},
            )
        assert order.id is not None
        # A concurrent twin may still be talking to the broker: give it a moment to settle.
        for _ in range(50):
            if order.status not in (OrderStatus.PENDING_SUBMIT, OrderStatus.SUBMITTED):
                break
            self.watch.wait(order.id, self.watch.version(order.id), 0.1)
            order = self.get_order(order.id)
        if order.status == OrderStatus.UNKNOWN:
            # A client retrying after "outcome unknown" wants the outcome: ask the broker now
            # (a re-send, if due, reuses the client_order_id, so it cannot place it twice).
            order = self.settle(order.id, EventSource.API, allow_resend=True)
        fills = None
        if order.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
            # Answer as the original request does (it waits for the fill), not mid-flight.
            order, fills = self._wait_for_fill(order)
        outcome = self._outcome(
            order, self.portfolio_name(order.portfolio_id), self._clock(), fills
        )
        outcome.replayed = True
        return outcome

    def _active_portfolio(self, name: str) -> Portfolio:
        table = Portfolio.__table__  # type: ignore[attr-defined]
        query = sa_select(table.c.id, table.c.name, table.c.status).where(
            table.c.name == name.strip().lower()
        )
        try:
            with self.engine.connect() as conn:
                if is_postgres(self.engine):
                    # One read, no transaction around it: one round trip instead of three.
                    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                row = conn.execute(query).first()
        except OperationalError as error:
            log.error("database unavailable: %s", error.__class__.__name__)
            raise ServiceError(
                503, "database_unavailable", "database unavailable — nothing was sent"
            ) from None
        if row is None:
            raise TradeRejected(
                "portfolio_not_found", f"portfolio {name!r} does not exist", "portfolio"
            )
        if row.status != PortfolioStatus.ACTIVE:
            raise TradeRejected(
                "portfolio_paused", f"portfolio {name!r} is paused", "portfolio", status=409
            )
        return Portfolio.model_construct(id=row.id, name=row.name, status=row.status)

    def _asset(self, symbol: str) -> Asset:
        try:
            asset = self.broker.get_asset(symbol)
        except BrokerUnavailable as error:
            raise ServiceError(
                503, "broker_unavailable", f"broker unavailable — nothing was sent ({error})"
            ) from None
        except BrokerRejected as error:
            raise ServiceError(
                503, "broker_unavailable", f"broker refused the request: {error}"
            ) from None
        if asset is None:
            raise TradeRejected("invalid_symbol", f"invalid symbol: {symbol}", "symbol")
        if not asset.tradable or asset.status != "active":
            raise TradeRejected("invalid_symbol", f"{symbol} is not tradable", "symbol")
        return asset

    def _clock(self) -> MarketClock | None:
        try:
            return self.broker.get_clock()
        except (BrokerUnavailable, BrokerRejected):
            return None

    def _record(
        self,
        request: TradeRequest,
        symbol: str,
        order_class: str,
        portfolio: Portfolio,
        idempotency_key: str | None,
        fingerprint: str,
    ) -> Order | None:
        assert portfolio.id is not None
        now = self.now()
        order = Order(
            client_order_id=new_client_order_id(portfolio.id),
            portfolio_id=portfolio.id,
            symbol=symbol,
            side=request.side.value,
            qty=request.qty,
            notional=request.notional,
            order_type=request.order_type.value,
            time_in_force=request.time_in_force.value,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            order_class=order_class,
            take_profit_limit_price=request.take_profit.limit_price
            if request.take_profit
            else None,
            stop_loss_stop_price=request.stop_loss.stop_price if request.stop_loss else None,
            stop_loss_limit_price=request.stop_loss.limit_price if request.stop_loss else None,
            extended_hours=request.extended_hours,
            status=OrderStatus.PENDING_SUBMIT.value,
            reason=request.reason,
            requested_by=request.requested_by,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            send_attempts=1,  # recorded as about to be sent: the first send follows at once
            created_at=now,
            submitted_at=now,
            updated_at=now,
        )
        orders = Order.__table__  # type: ignore[attr-defined]
        events = OrderEvent.__table__  # type: ignore[attr-defined]
        values = {c.name: getattr(order, c.name) for c in orders.columns if c.name != "id"}
        # Core statements: this write sits on every trade's path, before the broker call.
        try:
            with self.engine.begin() as conn:
                # Parameters passed apart from the statement: its compiled form is cached.
                order.id = conn.execute(orders.insert(), values).inserted_primary_key[0]
                conn.execute(
                    events.insert(),
                    {
                        "order_id": order.id,
                        "from_status": None,
                        "to_status": OrderStatus.PENDING_SUBMIT.value,
                        "source": EventSource.API.value,
                        "note": "recorded before sending",
                        "created_at": now,
                    },
                )
        except IntegrityError:
            if idempotency_key is not None:
                return None  # a concurrent twin recorded this Idempotency-Key first
            raise
        except OperationalError as error:
            log.error("database unavailable: %s", error.__class__.__name__)
            raise ServiceError(
                503, "database_unavailable", "database unavailable — nothing was sent"
            ) from None
        assert order.id is not None
        self._remember(self._order_ids, order.client_order_id, order.id)
        return order

    def _remember(self, memo: dict[Any, Any], key: Any, value: Any) -> None:
        with self._memo_lock:
            memo.pop(key, None)
            memo[key] = value
            if len(memo) > OrderWatch.MAX_TRACKED:
                del memo[next(iter(memo))]

    @staticmethod
    def _submission(order: Order) -> OrderSubmission:
        return OrderSubmission(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            time_in_force=order.time_in_force,
            qty=order.qty,
            notional=order.notional,
            limit_price=order.limit_price,
            stop_price=order.stop_price,
            extended_hours=order.extended_hours,
            take_profit_limit_price=order.take_profit_limit_price,
            stop_loss_stop_price=order.stop_loss_stop_price,
            stop_loss_limit_price=order.stop_loss_limit_price,
        )

    def _send(self, order: Order, *, first: bool = False) -> SubmitResult:
        """Call the broker. A re-send is counted (and committed) before it goes out; the first
        attempt was counted when the order was recorded."""
        assert order.id is not None
        if not first:
            with self._locked(order.id) as (session, row):
                row.send_attempts += 1
                row.submitted_at = self.now()
                row.updated_at = self.now()
                session.add(row)
                session.commit()
        return self.broker.submit_order(self._submission(order))

    def _stream_follows(self, result: SubmitResult) -> bool:
        """The broker took the order, nothing is filled yet, and this process hears the
        trade stream: its events for the order follow within milliseconds."""
        return (
            result.outcome is Outcome.ACCEPTED
            and result.order is not None
            and result.order.filled_qty == 0
            and from_broker_status(result.order.status) is OrderStatus.ACCEPTED
            and self.stream_live()
        )

    def _await_stream_news(self, order: Order, result: SubmitResult) -> Order:
        """Let the stream's next write carry the broker's reply too: one transaction instead
        of two on the way to the fill. If the stream stays quiet, write the reply here.

        Safe either way: until one of these writes lands the order reads pending_submit, and
        the poller or start-up recovery settles that by client_order_id."""
        assert order.id is not None and result.order is not None
        since = self.watch.version(order.id)
        with self._memo_lock:
            self._in_flight[order.id] = result.order
        try:
            settings = self.settings
            window = min(settings.stream_wait_seconds, settings.fill_poll_interval_seconds)
            changed = self.watch.wait(order.id, since, window)
        finally:
            with self._memo_lock:
                reply = self._in_flight.pop(order.id, result.order)
        if changed:
            _, latest = self.watch.latest(order.id)
            return latest[0] if latest is not None else self.get_order(order.id)
        # The stream's acknowledgement, if it came, is the newer view of the same order.
        return self._handle_submit_result(order, SubmitResult(Outcome.ACCEPTED, reply))

    def _handle_submit_result(
        self, order: Order, result: SubmitResult, source: EventSource = EventSource.API
    ) -> Order:
        assert order.id is not None
        if result.outcome is Outcome.ACCEPTED and result.order is not None:
            return self.apply_broker_order(order.id, result.order, source)
        if result.outcome is Outcome.REJECTED:
            code, message = _rejection(result.error)
            return self._finish_rejected(order.id, code, message, source, result.error)
        if result.outcome is Outcome.NOT_SENT:
            message = "broker unavailable — nothing was sent"
            if result.error is not None:
                message += f" ({result.error.message})"
            return self._finish_rejected(
                order.id, "broker_unavailable", message, source, result.error
            )
        return self._mark_unknown(order.id, result.error, source)

    def _finish_rejected(
        self,
        order_id: int,
        code: str,
        message: str,
        source: EventSource,
        error: BrokerError | None,
    ) -> Order:
        with self._locked(order_id) as (session, order):
            previous = order.status
            if not can_transition(OrderStatus(previous), OrderStatus.REJECTED):
                return order
            order.error_code = code
            order.error_message = message[:500]
            self._set_status(session, order, OrderStatus.REJECTED, source, message, error)
        self.watch.touch(order_id, order)
        return order

    def _set_status(
        self,
        session: Session,
        order: Order,
        status: OrderStatus,
        source: EventSource,
        note: str,
        error: BrokerError | None,
    ) -> None:
        """Change the status (already checked against the table), log it, commit."""
        previous = order.status
        order.status = status.value
        order.updated_at = self.now()
        session.add(order)
        session.add(
            OrderEvent(
                order_id=order.id,
                from_status=previous,
                to_status=order.status,
                source=source.value,
                note=note[:500],
                payload=_error_payload(error),
                created_at=self.now(),
            )
        )
        session.commit()

    def _mark_unknown(self, order_id: int, error: BrokerError | None, source: EventSource) -> Order:
        with self._locked(order_id) as (session, order):
            previous = order.status
            if previous == OrderStatus.UNKNOWN or not can_transition(
                OrderStatus(previous), OrderStatus.UNKNOWN
            ):
                return order
            order.error_code = "outcome_unknown"
            order.error_message = (error.message if error else "no answer from the broker")[:500]
            note = "the broker's answer was lost; settling by client_order_id"
            self._set_status(session, order, OrderStatus.UNKNOWN, source, note, error)
        return order

    def _settle_unknown_now(self, order: Order) -> Order:
        """Inside the request: look the order up, re-send with the same id if it is not there."""
        assert order.id is not None
        backoff = self.settings.settle_backoff_seconds
        for attempt in range(self.settings.settle_attempts):
            self.sleep(backoff * (2**attempt))
            order = self.settle(order.id, EventSource.API, allow_resend=True, force_resend=True)
            if order.status != OrderStatus.UNKNOWN:
                break
        return order

    def settle(
        self,
        order_id: int,
        source: EventSource,
        *,
        allow_resend: bool,
        force_resend: bool = False,
    ) -> Order:
        """Resolve an order whose outcome we do not know, by its client_order_id."""
        order = self.get_order(order_id)
        if order.status not in UNSETTLED_STATUSES:
            return order
        try:
            found = self.broker.get_order_by_client_id(order.client_order_id)
        except (BrokerUnavailable, BrokerRejected) as error:
            log.warning("settling order %s: look-up failed (%s)", order_id, error)
            return self._mark_unknown(order_id, getattr(error, "error", None), source)
        if found is not None:
            return self.apply_broker_order(order_id, found, source)
        if not allow_resend:
            return order
        age = (self.now() - order.created_at).total_seconds()
        if age > self.settings.resend_max_age_seconds:
            return self._finish_rejected(
                order_id,
                "stale_unsent",
                "the broker never received this order and it is too old to send now",
                source,
                None,
            )
        last_try = order.submitted_at or order.created_at
        waited = (self.now() - last_try).total_seconds()
        if not force_resend and waited < self.settings.unknown_grace_seconds:
            return order
        # Same client_order_id: the broker refuses a duplicate, so this cannot double-place.
        result = self._send(order)
        return self._handle_submit_result(order, result, source)

    # ------------------------------------------------------------------ waiting for fills
    def _wait_for_fill(self, order: Order) -> tuple[Order, list[Fill] | None]:
        """Wait for the stream to fill the order; poll the broker when it stays quiet.
        Returns the order and, when the applier handed them over, its fills."""
        assert order.id is not None
        interval = self.settings.fill_poll_interval_seconds
        polls = 0
        fills: list[Fill] | None = None
        while True:
            # Take the version with the order it belongs to: a fill applied in between is
            # not missed. An order this process committed comes from memory, not the database.
            since, latest = self.watch.latest(order.id)
            if latest is not None:
                order, fills = latest
            else:
                order, fills = self.get_order(order.id), None
            if order.status in TERMINAL_STATUSES:
                return order, fills
            if self.watch.wait(order.id, since, interval):
                continue
            if polls >= self.settings.fill_wait_polls:
                return self.get_order(order.id), None
            polls += 1
            order = self.poll(order.id, EventSource.POLL)

    def poll(self, order_id: int, source: EventSource, *, resend_cancel: bool = False) -> Order:
        order = self.get_order(order_id)
        if order.broker_order_id is None:
            return self.settle(order_id, source, allow_resend=False)
        try:
            found = self.broker.get_order(order.broker_order_id)
        except (BrokerUnavailable, BrokerRejected) as error:
            log.warning("polling order %s failed: %s", order_id, error)
            return order
        if found is None:
            return order
        order = self.apply_broker_order(order_id, found, source)
        if (
            resend_cancel
            and order.status == OrderStatus.PENDING_CANCEL
            and from_broker_status(found.status)
            in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)
        ):
            # The broker still works the order: our cancel never reached it (a 5xx or reset
            # before it was processed). Ask again; the broker's answer decides the state.
            log.warning("order %s: cancel not seen by the broker, sending it again", order_id)
            outcome = self.broker.cancel_order(found.id)
            if outcome in (CancelOutcome.REQUESTED, CancelOutcome.NOT_CANCELABLE):
                return self.poll(order_id, source)
        return order

    # ------------------------------------------------------------------ broker updates
    def apply_trade_event(self, event: TradeEvent) -> Order | None:
        """A trade_updates message. Unknown orders are ignored here (reconciliation imports
        them); everything else goes through apply_broker_order."""
        order_id = self._order_id_for(event.order)
        if order_id is None:
            log.info("trade update for an order the OMS does not know: %s", event.order.id)
            return None
        if event.event in _ACK_EVENTS:
            with self._memo_lock:
                if order_id in self._in_flight:
                    # The request thread holding the submit reply writes it (or the fill's
                    # write carries it); hand it this newer view instead of writing now.
                    self._in_flight[order_id] = event.order
                    return None
        return self.apply_broker_order(order_id, event.order, EventSource.STREAM, event=event)

    def _order_id_for(self, broker_order: BrokerOrder) -> int | None:
        known = self._order_ids.get(broker_order.client_order_id)
        if known is not None:
            return known
        # One query for both keys (the stream often beats the submit reply, so the broker id is
        # not stored yet); a broker id match wins over a client_order_id match.
        with self._session() as session:
            rows = session.exec(
                select(Order.id, Order.broker_order_id).where(
                    (Order.broker_order_id == broker_order.id)
                    | (Order.client_order_id == broker_order.client_order_id)
                )
            ).all()
        for order_id, broker_order_id in rows:
            if broker_order_id == broker_order.id:
                return order_id
        return rows[0][0] if rows else None

    def apply_broker_order(
        self,
        order_id: int,
        broker_order: BrokerOrder,
        source: EventSource,
        event: TradeEvent | None = None,
    ) -> Order:
        view = (broker_order.id, broker_order.status, broker_order.filled_qty)
        if event is not None and event.event in _ACK_EVENTS and self._applied.get(order_id) == view:
            # The submit reply already brought this exact view (the stream's "new" follows it):
            # applying it again would change nothing. Fills and other events always go through.
            return self._known(order_id)
        now = self.now()
        with self._locked(order_id) as (session, order):
            previous = order.status
            changed = False
            if order.broker_order_id is None:
                order.broker_order_id = broker_order.id
                changed = True
            fills = self._record_fills(session, order, broker_order, event, source, now)
            changed = changed or fills is not None

            target = self._target_status(order, broker_order, event)
            note = None
            if target is not None and target.value != previous:
                if can_transition(OrderStatus(previous), target):
                    order.status = target.value
                    order.broker_status = broker_order.status
                    changed = True
                    if target in (OrderStatus.ACCEPTED, OrderStatus.FILLED) and (
                        order.error_code == "outcome_unknown"
                    ):
                        order.error_code = None
                        order.error_message = None
                    if target is OrderStatus.CANCELED:
                        order.canceled_at = broker_order.canceled_at or now
                    if target is OrderStatus.REJECTED:
                        order.error_code = order.error_code or "broker_rejected"
                        order.error_message = order.error_message or "rejected by the broker"
                elif target is OrderStatus.ACCEPTED:
                    pass  # a stale "new" snapshot arriving after later news: nothing to do
                else:
                    note = f"ignored transition {previous} -> {target.value} ({source.value})"
                    log.warning("order %s: %s", order_id, note)
            elif order.broker_status != broker_order.status and target is not None:
                order.broker_status = broker_order.status
                changed = True
            if order.status == OrderStatus.FILLED and order.filled_at is None:
                order.filled_at = broker_order.filled_at or now
                changed = True
            if order.submitted_at is None and broker_order.submitted_at is not None:
                order.submitted_at = broker_order.submitted_at
                changed = True
            if changed or note:
                order.updated_at = now
                session.add(
                    OrderEvent(
                        order_id=order_id,
                        from_status=previous,
                        to_status=order.status,
                        source=source.value,
                        broker_status=broker_order.status,
                        note=note or (f"{event.event}" if event else None),
                        payload=_event_payload(broker_order, event),
                        created_at=now,
                    )
                )
            if changed or note or source in (EventSource.POLL, EventSource.RECOVERY):
                # A poll that found nothing new still records when it looked (the poller
                # schedules by it); a stream or API echo of what we hold writes nothing.
                order.last_broker_check_at = now
                session.add(order)
                self._commit_broker_news(session)
        self._remember(self._applied, order_id, view)
        if changed:
            self.watch.touch(order_id, order, fills)
        return order

    def _commit_broker_news(self, session: Session) -> None:
        """Commit what the broker told us. On PostgreSQL without waiting for the disk flush:
        this state is re-derivable from the broker (a change lost to a database crash leaves
        the order open, and the poller or start-up recovery asks the broker again). The order
        row itself, cancel requests and re-send counts are committed durably."""
        if is_postgres(self.engine):
            session.execute(text("SET LOCAL synchronous_commit = off"))
        session.commit()

    def _known(self, order_id: int) -> Order:
        _, latest = self.watch.latest(order_id)
        return latest[0] if latest is not None else self.get_order(order_id)

    def _target_status(
        self, order: Order, broker_order: BrokerOrder, event: TradeEvent | None
    ) -> OrderStatus | None:
        target = from_broker_status(broker_order.status)
        if target is None:
            return None
        # The fills we hold decide filled vs partially filled, not a possibly stale snapshot.
        if target in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED):
            total = order.qty
            if total is not None and order.filled_qty < total:
                target = (
                    OrderStatus.PARTIALLY_FILLED if order.filled_qty > 0 else OrderStatus.ACCEPTED
                )
            elif total is None and broker_order.status == "filled":
                target = OrderStatus.FILLED
        current = OrderStatus(order.status)
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
        return target

    def _record_fills(
        self,
        session: Session,
        order: Order,
        broker_order: BrokerOrder,
        event: TradeEvent | None,
        source: EventSource,
        now: datetime,
    ) -> list[Fill] | None:
        """Record executions once. Stream events carry execution ids; a poll only shows the
        broker's cumulative quantity, so any shortfall becomes one synthetic fill. A real
        execution arriving later counts only for what the total still lacks.

        Returns every fill of the order when one was added, else None."""
        assert order.id is not None
        broker_total = broker_order.filled_qty
        is_execution = bool(
            event is not None
            and event.event in ("fill", "partial_fill")
            and event.execution_id
            and event.qty
            and event.price
        )
        if not is_execution and broker_total <= order.filled_qty:
            return None  # nothing the fills we hold lack: no need to read them
        fills: list[Fill] = []
        if order.filled_qty > 0:  # filled_qty is derived from the fills: zero means none
            # No autoflush: it would send the order's pending changes (e.g. broker_order_id)
            # as an extra UPDATE here, and the commit sends them again with the rest.
            with session.no_autoflush:
                fills = list(
                    session.exec(
                        select(Fill).where(Fill.order_id == order.id).order_by(Fill.id)  # type: ignore[arg-type]
                    ).all()
                )
        have_qty = sum((f.qty for f in fills), Decimal(0))
        have_value = sum((f.qty * f.price for f in fills), Decimal(0))
        added: list[Fill] = []
        if is_execution:
            assert event is not None and event.qty is not None and event.price is not None
            # Execution ids are unique per account; the table's unique constraint backs this up.
            seen = any(f.execution_id == event.execution_id for f in fills)
            qty = min(event.qty, broker_total - have_qty)
            if not seen and qty > 0:
                added.append(
                    Fill(
                        execution_id=event.execution_id,
                        order_id=order.id,
                        qty=qty,
                        price=event.price,
                        filled_at=event.timestamp,
                        source=source.value,
                        created_at=now,
                    )
                )
                have_qty += qty
                have_value += qty * event.price
        if broker_total > have_qty and broker_order.filled_avg_price is not None:
            missing = broker_total - have_qty
            price = (broker_order.filled_avg_price * broker_total - have_value) / missing
            added.append(
                Fill(
                    execution_id=f"sync-{broker_order.id}-{broker_total}",
                    order_id=order.id,
                    qty=missing,
                    price=price.quantize(AVG_PRICE_PLACES),
                    filled_at=broker_order.filled_at or broker_order.updated_at or now,
                    source=source.value,
                    created_at=now,
                )
            )
            have_qty += missing
            have_value += missing * price
        if not added:
            return None
        for fill in added:
            session.add(fill)
        session.flush()
        order.filled_qty = have_qty
        order.filled_avg_price = (have_value / have_qty).quantize(AVG_PRICE_PLACES)
        return fills + added

    # ------------------------------------------------------------------ cancel
    def cancel(self, order_id: int, requested_by: str | None = None) -> Order:
        order = self.get_order(order_id)
        if order.status in TERMINAL_STATUSES:
            raise ServiceError(409, "not_cancelable", f"trade {order_id} is already {order.status}")
        if order.broker_order_id is None:
            order = self.settle(order_id, EventSource.API, allow_resend=False)
            if order.broker_order_id is None:
                raise ServiceError(
                    409,
                    "not_cancelable_yet",
                    f"trade {order_id} has not reached the broker yet ({order.status}); "
                    "try again in a moment",
                )
        with self._locked(order_id) as (session, row):
            previous = row.status
            if OrderStatus(previous) not in TERMINAL_STATUSES and previous != "pending_cancel":
                row.status = OrderStatus.PENDING_CANCEL.value
                row.cancel_requested_at = self.now()
                row.updated_at = self.now()
                session.add(row)
                session.add(
                    OrderEvent(
                        order_id=order_id,
                        from_status=previous,
                        to_status=row.status,
                        source=EventSource.API.value,
                        note=f"cancel requested by {requested_by or 'api'}",
                        created_at=self.now(),
                    )
                )
                session.commit()
        assert order.broker_order_id is not None
        outcome = self.broker.cancel_order(order.broker_order_id)
        if outcome is CancelOutcome.NOT_CANCELABLE or outcome is CancelOutcome.REQUESTED:
            # Either way the broker's view decides the final state; ask it once now.
            return self.poll(order_id, EventSource.API)
        if outcome is CancelOutcome.NOT_FOUND:
            log.error("cancel: the broker does not know order %s", order.broker_order_id)
        # UNKNOWN: stays pending_cancel; the poller confirms it later.
        return self.get_order(order_id)

    # ------------------------------------------------------------------ recovery / polling
    def recover(self) -> int:
        """At start-up: settle every order left pending_submit / submitted / unknown."""
        with self._session() as session:
            ids = session.exec(
                select(Order.id).where(Order.status.in_([s.value for s in UNSETTLED_STATUSES]))  # type: ignore[attr-defined]
            ).all()
        for order_id in ids:
            assert order_id is not None
            self.settle(order_id, EventSource.RECOVERY, allow_resend=True, force_resend=True)
        self.recovered.set()
        return len(ids)

    def poll_due(self, older_than_seconds: float) -> int:
        """Poll working orders nobody has heard about lately; settle unknown ones."""
        cutoff = self.now() - timedelta(seconds=older_than_seconds)
        with self._session() as session:
            rows = session.exec(
                select(Order.id, Order.status).where(
                    Order.status.notin_([s.value for s in TERMINAL_STATUSES]),  # type: ignore[attr-defined]
                    (Order.last_broker_check_at.is_(None))  # type: ignore[union-attr]
                    | (Order.last_broker_check_at < cutoff),  # type: ignore[operator]
                    Order.created_at < cutoff,  # type: ignore[operator]
                )
            ).all()
        for order_id, status in rows:
            assert order_id is not None
            if status in UNSETTLED_STATUSES:
                self.settle(order_id, EventSource.POLL, allow_resend=True)
            else:
                self.poll(order_id, EventSource.POLL, resend_cancel=True)
        return len(rows)

    # ------------------------------------------------------------------ reads
    def get_order(self, order_id: int) -> Order:
        with self._session() as session:
            order = session.get(Order, order_id)
        if order is None:
            raise ServiceError(404, "trade_not_found", f"trade {order_id} does not exist")
        return order

    def portfolio_name(self, portfolio_id: int | None) -> str | None:
        if portfolio_id is None:
            return None
        with self._session() as session:
            portfolio = session.get(Portfolio, portfolio_id)
            return portfolio.name if portfolio else None

    def fills_of(self, order_id: int) -> list[Fill]:
        with self._session() as session:
            return list(
                session.exec(
                    select(Fill).where(Fill.order_id == order_id).order_by(Fill.id)  # type: ignore[arg-type]
                ).all()
            )

    def _outcome(
        self,
        order: Order,
        portfolio_name: str | None,
        clock: MarketClock | None,
        fills: list[Fill] | None = None,
    ) -> TradeOutcome:
        assert order.id is not None
        error = None
        if order.status == OrderStatus.REJECTED or order.status == OrderStatus.UNKNOWN:
            code = order.error_code or "broker_rejected"
            status = ERROR_STATUS.get(code, 400)
            message = order.error_message or "the broker rejected the order"
            if order.status == OrderStatus.UNKNOWN:
                code, status = "outcome_unknown", 503
                message = (
                    "broker unavailable — the order's outcome is not known yet; the OMS keeps "
                    "checking by its client_order_id and will never place it twice"
                )
            error = ServiceError(status, code, message, {"trade_id": order.id})
        return TradeOutcome(
            order=order,
            portfolio_name=portfolio_name,
            clock=clock,
            error=error,
            fills=fills if fills is not None else self._fills_if_any(order),
        )

    def _handed_fills(self, order: Order) -> list[Fill] | None:
        """The fills committed with exactly this order object, when this process has them."""
        assert order.id is not None
        _, latest = self.watch.latest(order.id)
        return latest[1] if latest is not None and latest[0] is order else None

    def _fills_if_any(self, order: Order) -> list[Fill]:
        assert order.id is not None
        # filled_qty is derived from the fills: zero means there are none to read.
        return self.fills_of(order.id) if order.filled_qty > 0 else []

    def outcome_of(self, order: Order) -> TradeOutcome:
        """A stored trade as the API shows it (no clock look-up, no error mapping)."""
        assert order.id is not None
        return TradeOutcome(
            order=order,
            portfolio_name=self.portfolio_name(order.portfolio_id),
            fills=self.fills_of(order.id),
        )

    @staticmethod
    def portfolio_id_of(client_order_id: str) -> int | None:
        return portfolio_id_of(client_order_id)


@contextmanager
def _null() -> Iterator[None]:
    yield


def _rejection(error: BrokerError | None) -> tuple[str, str]:
    if error is None:
        return "broker_rejected", "the broker rejected the order"
    message = error.message or "the broker rejected the order"
    lowered = message.lower()
    if "buying power" in lowered:
        return "insufficient_buying_power", f"insufficient buying power: {message}"
    if "insufficient qty" in lowered:
        return "insufficient_qty", message
    if error.http_status == 422 and ("asset" in lowered or "symbol" in lowered):
        return "invalid_symbol", message
    if error.http_status in (400, 422):
        return "invalid_parameters", message
    return "broker_rejected", message


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
