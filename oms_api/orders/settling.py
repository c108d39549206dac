"""Settling what the OMS does not know yet, and keeping working orders in step with the broker:
unknown outcomes (by client_order_id), polls, cancels, start-up recovery and the sweep of
working orders.

Only a definitive broker answer makes an order `rejected`. A re-send the OMS itself holds back
(its request budget is spent, no connection) leaves the order `unknown`: the first attempt may
still land, and the broker will say so.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from datetime import timedelta

from oms_api.audit.service import Actor
from oms_api.broker.budget import BudgetExhausted, Priority
from oms_api.broker.models import (
    BrokerError,
    BrokerOrder,
    BrokerRejected,
    BrokerUnavailable,
    CancelOutcome,
    OrderSubmission,
    Outcome,
)
from oms_api.errors import ServiceError
from oms_api.orders.context import OrderContext, rejection
from oms_api.orders.enums import (
    TERMINAL_STATUSES,
    UNSETTLED_STATUSES,
    EventSource,
    OrderStatus,
)
from oms_api.orders.models import Order
from oms_api.orders.reads import OrderReads
from oms_api.orders.state import from_broker_status

log = logging.getLogger(__name__)

LOST_ANSWER_NOTE = "the broker's answer was lost; settling by client_order_id"


def submission_of(order: Order) -> OrderSubmission:
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


class Settlement:
    def __init__(self, ctx: OrderContext, reads: OrderReads) -> None:
        self.ctx = ctx
        self.reads = reads

    # ------------------------------------------------------------------ unknown outcomes
    def settle_now(self, order: Order) -> Order:
        """Inside the request: look the order up, re-send with the same id if it is not
        there, backing off between rounds."""
        assert order.id is not None
        backoff = self.ctx.settings.settle_backoff_seconds
        for attempt in range(self.ctx.settings.settle_attempts):
            self.ctx.sleep(backoff * (2**attempt))
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
        ctx = self.ctx
        order = self.reads.get_order(order_id)
        if order.status not in UNSETTLED_STATUSES:
            return order
        # A trader is waiting on an in-request settle: it goes before background polls.
        priority = Priority.SUBMIT if source is EventSource.API else Priority.POLL
        try:
            found = ctx.broker.get_order_by_client_id(order.client_order_id, priority)
        except (BrokerUnavailable, BrokerRejected) as error:
            log.warning("settling order %s: look-up failed (%s)", order_id, error)
            if order.status == OrderStatus.UNKNOWN:
                return order
            return ctx.writer.mark_unknown(order_id, error.error, source, LOST_ANSWER_NOTE)
        if found is not None:
            return ctx.writer.apply_one(order_id, found, source)
        if not allow_resend:
            return order
        age = (ctx.now() - order.created_at).total_seconds()
        if age > ctx.settings.resend_max_age_seconds:
            return ctx.writer.mark_not_sent(
                order_id,
                "stale_unsent",
                "the broker never received this order and it is too old to send now — "
                "nothing was placed",
                source,
                None,
            )
        last_try = order.submitted_at or order.created_at
        waited = (ctx.now() - last_try).total_seconds()
        if not force_resend and waited < ctx.settings.unknown_grace_seconds:
            return order
        return self._resend(order, source)

    def _resend(self, order: Order, source: EventSource) -> Order:
        """Same client_order_id: the broker refuses a duplicate, so this cannot double-place."""
        assert order.id is not None
        ctx = self.ctx
        with ExitStack() as slot:
            try:
                slot.enter_context(ctx.broker.reserved(Priority.SUBMIT))
            except BudgetExhausted as error:
                return self._still_unknown(order, source, f"re-send held back: {error}")
            ctx.writer.count_resend(order.id)  # counted, durably, before it goes out
            result = ctx.broker.submit_order(submission_of(order))
        if result.outcome is Outcome.ACCEPTED and result.order is not None:
            return ctx.writer.apply_one(order.id, result.order, source)
        if result.outcome is Outcome.REJECTED:
            code, message = rejection(result.error)
            return ctx.writer.mark_rejected(order.id, code, message, source, result.error)
        if result.outcome is Outcome.NOT_SENT:
            # Not this attempt; the first one may still land: only the broker can say.
            reason = result.error.message if result.error else "not sent"
            return self._still_unknown(order, source, f"re-send did not go out: {reason}")
        return ctx.writer.mark_unknown(order.id, result.error, source, LOST_ANSWER_NOTE)

    def _still_unknown(self, order: Order, source: EventSource, note: str) -> Order:
        assert order.id is not None
        log.warning("order %s: %s; its outcome stays unknown", order.id, note)
        error = BrokerError(None, None, note)
        return self.ctx.writer.mark_unknown(order.id, error, source, note)

    # ------------------------------------------------------------------ polls and cancels
    def poll(self, order_id: int, source: EventSource, *, resend_cancel: bool = False) -> Order:
        ctx = self.ctx
        order = self.reads.get_order(order_id)
        if order.broker_order_id is None:
            return self.settle(order_id, source, allow_resend=False)
        try:
            found = ctx.broker.get_order(order.broker_order_id)
        except (BrokerUnavailable, BrokerRejected) as error:
            log.warning("polling order %s failed: %s", order_id, error)
            return order
        if found is None:
            return order
        order = ctx.writer.apply_one(order_id, found, source)
        if resend_cancel and self._cancel_not_seen(order, found):
            # The broker still works the order: our cancel never reached it (a 5xx or reset
            # before it was processed). Ask again; the broker's answer decides the state.
            log.warning("order %s: cancel not seen by the broker, sending it again", order_id)
            outcome = ctx.broker.cancel_order(found.id)
            if outcome in (CancelOutcome.REQUESTED, CancelOutcome.NOT_CANCELABLE):
                return self.poll(order_id, source)
        return order

    @staticmethod
    def _cancel_not_seen(order: Order, found: BrokerOrder) -> bool:
        return order.status == OrderStatus.PENDING_CANCEL and from_broker_status(found.status) in (
            OrderStatus.ACCEPTED,
            OrderStatus.PARTIALLY_FILLED,
        )

    def cancel(
        self, order_id: int, requested_by: str | None = None, requested_by_name: str | None = None
    ) -> Order:
        ctx = self.ctx
        order = self.reads.get_order(order_id)
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
        ctx.writer.request_cancel(order_id, Actor.of(requested_by, requested_by_name))
        assert order.broker_order_id is not None
        outcome = ctx.broker.cancel_order(order.broker_order_id)
        if outcome is CancelOutcome.NOT_CANCELABLE or outcome is CancelOutcome.REQUESTED:
            # Either way the broker's view decides the final state; ask it once now.
            return self.poll(order_id, EventSource.API)
        if outcome is CancelOutcome.NOT_FOUND:
            log.error("cancel: the broker does not know order %s", order.broker_order_id)
        # UNKNOWN: stays pending_cancel; the sweep confirms it, or sends the cancel again.
        return self.reads.get_order(order_id)

    # ------------------------------------------------------------------ recovery and sweep
    def recover(self) -> int:
        """At start-up: settle every order left pending_submit / submitted / unknown."""
        unsettled = self.reads.open_orders([s.value for s in UNSETTLED_STATUSES])
        for order in unsettled:
            assert order.id is not None
            self.settle(order.id, EventSource.RECOVERY, allow_resend=True, force_resend=True)
        return len(unsettled)

    def sweep(self, *, full: bool, older_than_seconds: float) -> int:
        """Check what the OMS holds open against the broker. Returns the orders looked at.

        - Unsettled orders (recorded, sent, answer lost) older than `older_than_seconds`: by
          client_order_id, re-sent after the grace period.
        - Cancels the broker has not confirmed for a while: asked about one by one (and sent
          again if the broker never saw them).
        - `full`: every working order, with one `GET /v2/orders?status=open` (500 a page);
          only those the broker no longer lists as open, or lists differently, are looked at
          further. With the trade stream up this runs rarely: the stream tells of changes.
        """
        ctx = self.ctx
        now = ctx.now()
        cutoff = now - timedelta(seconds=older_than_seconds)
        doubt = now - timedelta(seconds=min(older_than_seconds, ctx.settings.cancel_doubt_seconds))
        held = self.reads.open_orders([s.value for s in OrderStatus if s not in TERMINAL_STATUSES])
        looked = 0
        working: list[Order] = []
        for order in held:
            assert order.id is not None
            if order.created_at >= cutoff:
                continue  # may still be in the hands of the request that placed it
            if order.status in UNSETTLED_STATUSES:
                self.settle(order.id, EventSource.POLL, allow_resend=True)
                looked += 1
            elif order.status == OrderStatus.PENDING_CANCEL and (
                order.cancel_requested_at is None or order.cancel_requested_at < doubt
            ):
                self.poll(order.id, EventSource.POLL, resend_cancel=True)
                looked += 1
            elif order.broker_order_id is not None and order.status != OrderStatus.PENDING_CANCEL:
                working.append(order)
        if full and working:
            looked += self._check_working(working)
        return looked

    def _check_working(self, working: list[Order]) -> int:
        ctx = self.ctx
        try:
            listed = {order.id: order for order in ctx.broker.list_open_orders()}
        except (BrokerUnavailable, BrokerRejected) as error:
            log.warning("checking working orders: the broker's open orders unavailable (%s)", error)
            return 0
        looked = 0
        for order in working:
            assert order.id is not None and order.broker_order_id is not None
            at_broker = listed.get(order.broker_order_id)
            if at_broker is None:
                # No longer open at the broker, and the stream did not say why: ask.
                self.poll(order.id, EventSource.POLL)
                looked += 1
            elif at_broker.filled_qty != order.filled_qty or from_broker_status(
                at_broker.status
            ) not in (OrderStatus(order.status), None):
                ctx.writer.apply_one(order.id, at_broker, EventSource.POLL)
                looked += 1
        return looked
