"""The order service: the one place that changes order state, and the only way in for the rest
of the OMS (routes, the runtime, later the trading controls and reconciliation).

Promises (see the reliability notes): the order row is committed before the broker is called;
a lost answer makes the order `unknown`, settled by asking the broker for the client_order_id
(re-sending with the same id, which the broker refuses to duplicate); only the broker rejects;
fills are recorded once per execution; every change goes through the transition table and is
logged in order_events with its source.

The work is split by responsibility:
- `placing.TradePlacement`: check, record, send, answer (and idempotent replays);
- `writer.OrderWriter`: every write of order state, broker news included;
- `settling.Settlement`: unknown outcomes, polls, cancels, start-up recovery, the sweep;
- this module wires them and takes the trade stream's events in batches.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.engine import Engine

from oms_api.broker.models import BrokerOrder, TradeEvent
from oms_api.orders.context import (
    Broker,
    OrderContext,
    ServiceSettings,
    TradeOutcome,
)
from oms_api.orders.enums import TERMINAL_STATUSES, EventSource, OrderOrigin, OrderStatus
from oms_api.orders.models import Fill, Order
from oms_api.orders.placing import InFlight, TradePlacement
from oms_api.orders.reads import OrderReads
from oms_api.orders.requests import TradeRequest
from oms_api.orders.settling import Settlement
from oms_api.orders.watch import OrderWatch
from oms_api.orders.writer import Adoption, AuditNote, BrokerNews, OrderWriter

log = logging.getLogger(__name__)

__all__ = ["OrderService", "ServiceSettings", "TradeOutcome"]

# trade_updates events that only acknowledge an order (no execution, no state of their own).
ACK_EVENTS = frozenset({"new", "pending_new", "accepted"})
# An order recorded this recently by another worker is in that worker's hands: it writes the
# broker's reply (and if it died, the sweep settles the order by client_order_id).
SENDER_WRITES_ACK_SECONDS = 5.0


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
        self.watch = watch or OrderWatch()
        # This process's mark on its own change notifications (PostgreSQL NOTIFY).
        self.notify_tag = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.writer = OrderWriter(engine, self.watch, now=now, notify_tag=self.notify_tag)
        self.reads = OrderReads(engine)
        self.ctx = OrderContext(
            broker=broker,
            writer=self.writer,
            watch=self.watch,
            settings=self.settings,
            now=now,
            sleep=sleep,
        )
        self.in_flight = InFlight()
        self.settlement = Settlement(self.ctx, self.reads)
        self.placement = TradePlacement(
            self.ctx, engine, self.reads, self.settlement, self.in_flight
        )

    @property
    def stream_live(self) -> Callable[[], bool]:
        return self.ctx.stream_live

    @stream_live.setter
    def stream_live(self, check: Callable[[], bool]) -> None:
        """Whether the trade stream is heard right now (set by the runtime)."""
        self.ctx.stream_live = check

    # ------------------------------------------------------------------ trader actions
    def place_trade(
        self,
        request: TradeRequest,
        idempotency_key: str | None,
        *,
        origin: OrderOrigin = OrderOrigin.TRADE,
    ) -> TradeOutcome:
        """A trade; `origin` emergency_sell is placed even while its portfolio is paused or
        trading is halted (it reduces risk)."""
        return self.placement.place_trade(request, idempotency_key, origin=origin)

    def await_fill(self, order: Order) -> TradeOutcome:
        """An order the broker made for us (adopted): waited on as a trade's fill is, then
        shown as the API shows a trade."""
        order, _ = self.placement.wait_for_fill(order)
        return self.outcome_of(order)

    def cancel(
        self, order_id: int, requested_by: str | None = None, requested_by_name: str | None = None
    ) -> Order:
        return self.settlement.cancel(order_id, requested_by, requested_by_name)

    def working_orders(self, portfolio_id: int | None = None) -> list[Order]:
        """Orders the broker may still act on (every one, or one portfolio's)."""
        working = [s.value for s in OrderStatus if s not in TERMINAL_STATUSES]
        orders = self.reads.open_orders(working)
        if portfolio_id is not None:
            orders = [o for o in orders if o.portfolio_id == portfolio_id]
        return orders

    def adopt(
        self,
        broker_order: BrokerOrder,
        *,
        origin: OrderOrigin,
        note: str,
        portfolio_id: int | None = None,
        stop_id: int | None = None,
        allocations: dict[int, Decimal] | None = None,
        audit: AuditNote | None = None,
    ) -> Order:
        """Record an order the broker made for the OMS (an emergency stop's closing orders,
        a whole-position close) and apply its state; the same broker order adopted twice is one
        order. `audit`: the action's audit row, written with it."""
        return self.writer.adopt(
            broker_order,
            origin=origin.value,
            note=note,
            portfolio_id=portfolio_id,
            stop_id=stop_id,
            allocations=allocations,
            audit=audit,
        )

    def adopt_many(
        self,
        items: list[Adoption],
        *,
        origin: OrderOrigin,
        stop_id: int | None = None,
        source: EventSource = EventSource.STOP,
        external: bool = False,
        requested_by: str = "system",
    ) -> list[Order]:
        """`adopt` for several broker orders at once (a stop's closing orders; orders
        reconciliation found at the broker: `source` RECONCILE, `external` for those placed
        outside the OMS, `requested_by` who asked)."""
        return self.writer.adopt_many(
            items,
            origin=origin.value,
            stop_id=stop_id,
            source=source,
            external=external,
            requested_by=requested_by,
        )

    def known_broker_orders(self, broker_orders: list[BrokerOrder]) -> dict[str, int]:
        """Broker order id -> OMS order id, for those the OMS has (by either id)."""
        return self.writer.find_many(broker_orders) if broker_orders else {}

    def apply_broker_orders(
        self,
        seen: list[tuple[int, BrokerOrder]],
        *,
        source: EventSource = EventSource.POLL,
        audits: dict[int, AuditNote] | None = None,
    ) -> dict[int, Order]:
        """What the broker says of several of our orders, read in one list: one batch.
        `source` RECONCILE for a repair, with `audits` (order id -> the repair's audit row,
        written in the same transaction as the change). The transition table still decides:
        a change it refuses is logged on the order and the status stays."""
        audits = audits or {}
        news = [
            BrokerNews(order_id, order, source, audit=audits.get(order_id))
            for order_id, order in seen
        ]
        return self.writer.apply(news) if news else {}

    # ------------------------------------------------------------------ keeping in step
    def settle(
        self, order_id: int, source: EventSource, *, allow_resend: bool, force_resend: bool = False
    ) -> Order:
        return self.settlement.settle(
            order_id, source, allow_resend=allow_resend, force_resend=force_resend
        )

    def apply_broker_order(
        self, order_id: int, broker_order: BrokerOrder, source: EventSource
    ) -> Order:
        """What the broker says of one of our orders, read elsewhere (e.g. in a list)."""
        return self.writer.apply_one(order_id, broker_order, source)

    def poll(self, order_id: int, source: EventSource, *, resend_cancel: bool = False) -> Order:
        return self.settlement.poll(order_id, source, resend_cancel=resend_cancel)

    def recover(self) -> int:
        """At start-up: settle every order a previous run left unsettled."""
        return self.settlement.recover()

    def sweep(self, *, older_than_seconds: float, full: bool = True) -> int:
        """Check open orders with the broker (see Settlement.sweep)."""
        return self.settlement.sweep(full=full, older_than_seconds=older_than_seconds)

    def apply_trade_event(self, event: TradeEvent) -> None:
        self.apply_trade_events([event])

    def apply_trade_events(self, events: list[TradeEvent]) -> None:
        """trade_updates messages, in the order they came, written in one transaction.

        An acknowledgement of an order a request thread is sending is handed to that thread
        (it writes it, or the fill's write carries it); one that repeats what the submit reply
        already brought writes nothing. Orders the OMS does not know are left to
        reconciliation."""
        news: list[BrokerNews] = []
        for position, event in enumerate(events):
            order_id = self.writer.known_order_id(event.order.client_order_id)
            if event.event in ACK_EVENTS and any(
                later.order.id == event.order.id for later in events[position + 1 :]
            ):
                continue  # a later event of this batch carries the newer view of the order
            if order_id is None:
                row = self.reads.order_for(event.order)
                if row is None:
                    log.info("trade update for an order the OMS does not know: %s", event.order.id)
                    continue
                order_id = row["id"]
                age = (self.ctx.now() - row["created_at"]).total_seconds()
                if (
                    event.event in ACK_EVENTS
                    and row["status"] == OrderStatus.PENDING_SUBMIT
                    and age < SENDER_WRITES_ACK_SECONDS
                ):
                    # Another worker is sending this order right now and records the broker's
                    # reply itself: writing its acknowledgement here too would cost a commit,
                    # ahead of the fill that usually follows.
                    continue
                # Just read: the writer may use it as the guard of its one-statement path.
                self.writer.remember_row(row)
            if event.event in ACK_EVENTS and (
                self.in_flight.offer(order_id, event.order)
                or self.writer.already_applied(order_id, event.order)
            ):
                continue
            news.append(BrokerNews(order_id, event.order, EventSource.STREAM, event))
        if not news:
            return
        try:
            self.writer.apply(news)
        except Exception:
            if len(news) == 1:
                raise
            # One bad piece of news must not cost the others: apply them one by one.
            log.exception("a batch of %d trade updates failed; applying them one by one", len(news))
            for item in news:
                try:
                    self.writer.apply([item])
                except Exception:
                    log.exception("could not apply trade update for order %s", item.order_id)

    # ------------------------------------------------------------------ reads
    def get_order(self, order_id: int) -> Order:
        return self.reads.get_order(order_id)

    def fills_of(self, order_id: int) -> list[Fill]:
        return self.reads.fills_of(order_id)

    def portfolio_name(self, portfolio_id: int | None) -> str | None:
        return self.reads.portfolio_name(portfolio_id)

    def outcome_of(self, order: Order) -> TradeOutcome:
        """A stored trade as the API shows it (no clock look-up, no error mapping)."""
        assert order.id is not None
        return TradeOutcome(
            order=order,
            portfolio_name=self.portfolio_name(order.portfolio_id),
            fills=self.fills_of(order.id),
        )

    def order_changed_elsewhere(self, order_ids: list[int]) -> None:
        """Another worker committed changes to these orders: waiters here look again."""
        for order_id in order_ids:
            self.watch.touch(order_id)
