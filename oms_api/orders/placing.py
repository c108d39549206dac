"""Placing a trade: check it, record it, send it, and answer with what the broker did.

The order row is committed before the broker is called (record before send); the broker
request slot is taken before that, so a busy budget refuses a trade with nothing written. A lost
answer makes the order `unknown`, settled by client_order_id inside the request and, if need
be, later by the sweep.
"""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack
from decimal import Decimal
from typing import Any, cast

from sqlalchemy.engine import Engine

from oms_api.audit.models import AuditResult
from oms_api.audit.service import Actor, AuditAction, audit_values, record
from oms_api.broker.budget import BudgetExhausted, Priority
from oms_api.broker.models import (
    Asset,
    BrokerBusy,
    BrokerOrder,
    BrokerRejected,
    BrokerUnavailable,
    MarketClock,
    Outcome,
    Quote,
    SubmitResult,
)
from oms_api.controls.state import read_state
from oms_api.errors import ServiceError, broker_busy
from oms_api.market.service import BrokerReads, MarketService
from oms_api.orders.context import OrderContext, TradeOutcome, rejection, stored_error
from oms_api.orders.enums import (
    TERMINAL_STATUSES,
    EventSource,
    OrderOrigin,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from oms_api.orders.ids import new_client_order_id
from oms_api.orders.models import Fill, Order
from oms_api.orders.reads import OrderReads
from oms_api.orders.requests import TradeRejected, TradeRequest, validate_trade
from oms_api.orders.settling import LOST_ANSWER_NOTE, Settlement, submission_of
from oms_api.orders.state import from_broker_status
from oms_api.orders.writer import RecordRefused
from oms_api.portfolios.models import Portfolio
from oms_api.portfolios.service import PortfolioService
from oms_api.risk.pretrade import LatestPrices, PreTradeChecks, ProposedOrder

log = logging.getLogger(__name__)

PORTFOLIOS = Portfolio.__table__  # type: ignore[attr-defined]
NOTHING_SENT = "nothing was sent"


class InFlight:
    """Orders a request thread is sending right now, and the broker's latest acknowledgement
    of each that the stream brought meanwhile: the request writes it (or the fill's write
    carries it), so the stream's `new` echo never costs a commit of its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._orders: dict[int, BrokerOrder | None] = {}

    def start(self, order_id: int) -> None:
        with self._lock:
            self._orders[order_id] = None

    def offer(self, order_id: int, acknowledgement: BrokerOrder) -> bool:
        """Hand the request an acknowledgement; False when no request holds this order."""
        with self._lock:
            if order_id not in self._orders:
                return False
            self._orders[order_id] = acknowledgement
            return True

    def finish(self, order_id: int) -> BrokerOrder | None:
        with self._lock:
            return self._orders.pop(order_id, None)


class TradePlacement:
    def __init__(
        self,
        ctx: OrderContext,
        engine: Engine,
        reads: OrderReads,
        settlement: Settlement,
        in_flight: InFlight,
    ) -> None:
        self.ctx = ctx
        self.engine = engine
        self.reads = reads
        self.settlement = settlement
        self.in_flight = in_flight
        # Capital and limits, checked when an order is recorded; prices from the broker's
        # quote (the market service's, with its errors), cached briefly for estimates.
        self.market = MarketService(cast(BrokerReads, ctx.broker))
        self.risk = PreTradeChecks(PortfolioService(engine), LatestPrices(self._quote))

    def place_trade(
        self,
        request: TradeRequest,
        idempotency_key: str | None,
        *,
        origin: OrderOrigin = OrderOrigin.TRADE,
    ) -> TradeOutcome:
        """A trade, or (origin emergency_sell) a sell that reduces risk: that one is placed
        even while its portfolio is paused or trading is halted."""
        ctx = self.ctx
        valid = validate_trade(request)
        fingerprint = request.fingerprint()
        if idempotency_key is not None:
            existing = self.reads.find_by_idempotency_key(idempotency_key)
            if existing is not None:
                return self.replay(existing, fingerprint)

        portfolio_id, portfolio_name = self._portfolio(request.portfolio)
        asset = self._asset(valid.symbol)
        if valid.fractional and not asset.fractionable:
            raise TradeRejected(
                "invalid_quantity",
                f"{valid.symbol} does not trade in fractional shares or dollar amounts",
                "qty" if request.qty is not None else "notional",
            )
        clock = self._clock()
        if ctx.settings.reject_when_market_closed and clock is not None and not clock.is_open:
            raise ServiceError(
                503,
                "market_closed",
                f"the market is closed; it opens at {clock.next_open.isoformat()} — {NOTHING_SENT}",
                {"market_open": False, "next_open": clock.next_open.isoformat()},
            )
        risk_reducing = origin is OrderOrigin.EMERGENCY_SELL
        # The price estimate is read before the broker slot is taken (the slot pays for the
        # submit); the checks themselves run when the order is recorded.
        estimated_price, risk_check = None, None
        if not risk_reducing:
            price_error = None
            try:
                estimated_price = self.risk.estimated_price(request, valid.symbol)
            except ServiceError as error:
                if request.side is not Side.SELL:
                    raise
                # A sell is not refused for want of a price unless a limit needs it (the
                # check says so under the portfolio's lock): cutting a position stays possible.
                price_error = error
            risk_check = self.risk.check(
                ProposedOrder(
                    portfolio_id=portfolio_id,
                    portfolio=portfolio_name,
                    symbol=valid.symbol,
                    side=request.side,
                    qty=request.qty,
                    notional=request.notional,
                    price=estimated_price,
                    price_error=price_error,
                )
            )

        with ExitStack() as slot:
            try:
                # The broker request slot first: a busy budget refuses with nothing written.
                slot.enter_context(ctx.broker.reserved(Priority.SUBMIT))
            except BudgetExhausted as error:
                twin = (
                    self.reads.find_by_idempotency_key(idempotency_key)
                    if idempotency_key is not None
                    else None
                )
                if twin is not None:  # a concurrent twin got a slot and recorded it: replay
                    return self.replay(twin, fingerprint)
                raise broker_busy(error.wait_needed) from None
            values = self._values(request, valid.symbol, valid.order_class.value, portfolio_id) | {
                "idempotency_key": idempotency_key,
                "request_fingerprint": fingerprint,
                "origin": origin.value,
                "estimated_price": estimated_price,
            }
            actor = Actor.of(request.requested_by, request.requested_by_name)
            action = (
                AuditAction.TRADE if origin is OrderOrigin.TRADE else AuditAction.EMERGENCY_SELL
            )
            try:
                order = ctx.writer.record_new(
                    values,
                    audit_values(actor, action, None, _trade_details(values, portfolio_name)),
                    allow_paused=risk_reducing,
                    allow_halted=risk_reducing,
                    check=risk_check,
                )
            except RecordRefused:
                raise self._refusal(request, portfolio_id, actor, action) from None
            if order is None:  # lost an Idempotency-Key race to a concurrent identical request
                slot.close()
                assert idempotency_key is not None
                existing = self.reads.find_by_idempotency_key(idempotency_key)
                assert existing is not None
                return self.replay(existing, fingerprint)
            assert order.id is not None
            # Taken before the send, so a fill applied while the reply is on its way is seen;
            # and the order is in flight before the stream can say anything about it.
            since = ctx.watch.version(order.id)
            self.in_flight.start(order.id)
            try:
                result = ctx.broker.submit_order(submission_of(order))
            except BaseException:
                self.in_flight.finish(order.id)
                raise

        try:
            order, fills = self._after_send(order, result, since, clock)
        except ServiceError as error:
            if error.code != "database_unavailable":
                raise
            # The order went out: "nothing was sent" would invite a second order. The row is
            # committed, so the sweep (or the next start-up) settles it by client_order_id.
            raise ServiceError(
                503,
                "database_unavailable",
                "database unavailable after the order was sent to the broker — do not place it "
                "again; its outcome is recorded when the database is back",
                {"trade_id": order.id, "client_order_id": order.client_order_id},
            ) from None
        return self.outcome(order, portfolio_name, clock, fills)

    # ------------------------------------------------------------------ after the send
    def _after_send(
        self, order: Order, result: SubmitResult, since: int, clock: MarketClock | None
    ) -> tuple[Order, list[Fill] | None]:
        ctx = self.ctx
        assert order.id is not None
        waits = fills_at_once(order, clock)
        if (
            waits
            and result.outcome is Outcome.ACCEPTED
            and result.order is not None
            and result.order.filled_qty == 0
            and from_broker_status(result.order.status) is OrderStatus.ACCEPTED
            and ctx.stream_live()
        ):
            order = self._await_stream_news(order, result.order, since)
        else:
            acknowledged = self.in_flight.finish(order.id)
            order = self._record_result(order, result, acknowledged)
        fills = self._handed_fills(order)
        if waits and order.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
            order, fills = self.wait_for_fill(order)
        return order, fills

    def _record_result(
        self, order: Order, result: SubmitResult, acknowledged: BrokerOrder | None
    ) -> Order:
        writer = self.ctx.writer
        assert order.id is not None
        if result.outcome is Outcome.ACCEPTED and result.order is not None:
            return writer.apply_one(order.id, result.order, EventSource.API)
        if result.outcome is Outcome.REJECTED:
            code, message = rejection(result.error)
            return writer.mark_rejected(order.id, code, message, EventSource.API, result.error)
        if result.outcome is Outcome.NOT_SENT:
            # Certain: the connection was never opened (or the order could not be built).
            message = f"broker unavailable — {NOTHING_SENT}"
            if result.error is not None:
                message += f" ({result.error.message})"
            return writer.mark_not_sent(
                order.id, "broker_unavailable", message, EventSource.API, result.error
            )
        if acknowledged is not None:
            # The answer was lost, but the stream already said the broker has the order.
            return writer.apply_one(order.id, acknowledged, EventSource.STREAM)
        order = writer.mark_unknown(order.id, result.error, EventSource.API, LOST_ANSWER_NOTE)
        return self.settlement.settle_now(order)

    def _await_stream_news(self, order: Order, accepted: BrokerOrder, since: int) -> Order:
        """Let the stream's next write carry the broker's reply too: one transaction instead
        of two on the way to the fill. If the stream stays quiet, write the reply here.

        Safe either way: until one of these writes lands the order reads pending_submit, and
        the sweep or start-up recovery settles that by client_order_id."""
        ctx = self.ctx
        assert order.id is not None
        window = min(ctx.settings.stream_wait_seconds, ctx.settings.fill_poll_interval_seconds)
        try:
            changed = ctx.watch.wait(order.id, since, window)
        finally:
            acknowledged = self.in_flight.finish(order.id)
        if changed:
            _, latest = ctx.watch.latest(order.id)
            if latest is not None:
                return latest[0]
            # Another worker wrote it (the one that runs the stream): read it with its fills,
            # and keep them as the latest copy so the answer needs no second read.
            order, fills = self.reads.order_with_fills(order.id)
            ctx.watch.refresh(order.id, order, fills)
            return order
        # The stream's acknowledgement, if it came, is the newer view of the same order.
        return ctx.writer.apply_one(order.id, acknowledged or accepted, EventSource.API)

    def _handed_fills(self, order: Order) -> list[Fill] | None:
        """The fills committed with exactly this order object, when this process has them."""
        assert order.id is not None
        _, latest = self.ctx.watch.latest(order.id)
        return latest[1] if latest is not None and latest[0] is order else None

    def wait_for_fill(self, order: Order) -> tuple[Order, list[Fill] | None]:
        """Wait for the stream to fill the order; poll the broker when it stays quiet.
        Returns the order and, when the writer handed them over, its fills."""
        ctx = self.ctx
        assert order.id is not None
        interval = ctx.settings.fill_poll_interval_seconds
        polls = 0
        fills: list[Fill] | None = None
        stale = False
        while True:
            # The version with the copy it belongs to: a change after it is not missed. A copy
            # this process committed (or read under the row lock) is current; another
            # worker's write drops it (NOTIFY), and the order is read again.
            since, latest = ctx.watch.latest(order.id)
            if latest is not None:
                order, fills = latest
            elif stale:
                order, fills = self.reads.order_with_fills(order.id)
            if order.status in TERMINAL_STATUSES:
                return order, fills
            if ctx.watch.wait(order.id, since, interval):
                stale = True
                continue
            if polls >= ctx.settings.fill_wait_polls:
                return order, fills
            polls += 1
            # The poll's answer is the broker's view now: it is used, never an older copy.
            order, fills, stale = self.settlement.poll(order.id, EventSource.POLL), None, False

    # ------------------------------------------------------------------ replays
    def replay(self, order: Order, fingerprint: str) -> TradeOutcome:
        ctx = self.ctx
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
            ctx.watch.wait(order.id, ctx.watch.version(order.id), 0.1)
            order = self.reads.get_order(order.id)
        if order.status == OrderStatus.UNKNOWN:
            # A client retrying after "outcome unknown" wants the outcome: ask the broker now
            # (a re-send, if due, reuses the client_order_id, so it cannot place it twice).
            order = self.settlement.settle(order.id, EventSource.API, allow_resend=True)
        clock = self._clock()
        fills = None
        if fills_at_once(order, clock) and order.status in (
            OrderStatus.ACCEPTED,
            OrderStatus.PARTIALLY_FILLED,
        ):
            # Answer as the original request does (it waits for the fill), not mid-flight.
            order, fills = self.wait_for_fill(order)
        outcome = self.outcome(order, self.reads.portfolio_name(order.portfolio_id), clock, fills)
        outcome.replayed = True
        return outcome

    def outcome(
        self,
        order: Order,
        portfolio_name: str | None,
        clock: MarketClock | None,
        fills: list[Fill] | None = None,
    ) -> TradeOutcome:
        assert order.id is not None
        if fills is None:
            # filled_qty is derived from the fills: zero means there are none to read.
            fills = self.reads.fills_of(order.id) if order.filled_qty > 0 else []
        return TradeOutcome(
            order=order,
            portfolio_name=portfolio_name,
            clock=clock,
            error=stored_error(order),
            fills=fills,
        )

    # ------------------------------------------------------------------ checks
    def _portfolio(self, name: str) -> tuple[int, str]:
        """The portfolio's id (whether it is active is checked when the order is recorded, in
        the same statement, so a pause from any worker takes effect at once)."""
        portfolio_id = self.reads.portfolio_id(name)
        if portfolio_id is None:
            raise TradeRejected(
                "portfolio_not_found", f"portfolio {name!r} does not exist", "portfolio"
            )
        return portfolio_id, name.strip().lower()

    def _refusal(
        self, request: TradeRequest, portfolio_id: int, actor: Actor, action: AuditAction
    ) -> Exception:
        """Why the order could not be recorded (trading halted, or the portfolio paused), with
        the refused attempt in the audit trail."""
        with self.engine.begin() as connection:
            state = read_state(connection)
            if state.halted:
                refusal: Exception = state.refusal()
                why = "trading is halted"
            elif self.reads.portfolio_status(portfolio_id) is None:
                refusal = TradeRejected(
                    "portfolio_not_found",
                    f"portfolio {request.portfolio!r} does not exist",
                    "portfolio",
                )
                why = "no such portfolio"
            else:
                refusal = TradeRejected(
                    "portfolio_paused",
                    f"portfolio {request.portfolio!r} is paused",
                    "portfolio",
                    status=409,
                )
                why = "the portfolio is paused"
            details = {"symbol": request.symbol, "side": request.side.value, "refused": why}
            record(
                connection,
                actor,
                action,
                f"portfolio {request.portfolio}",
                details,
                AuditResult.REFUSED,
            )
        return refusal

    def _asset(self, symbol: str) -> Asset:
        try:
            asset = self.ctx.broker.get_asset(symbol)
        except BrokerBusy as error:
            raise broker_busy(error.retry_after) from None
        except BrokerUnavailable as error:
            raise ServiceError(
                503, "broker_unavailable", f"broker unavailable — {NOTHING_SENT} ({error})"
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

    def _quote(self, symbol: str) -> Quote:
        """The latest price for an order's estimate. Part of placing the order, so paid at the
        submit's priority: a trade is never refused for want of a (lower) read slot, and a
        spent budget refuses it here, with nothing written or sent."""
        try:
            with self.ctx.broker.reserved(Priority.SUBMIT):
                return self.market.quote(symbol)
        except BudgetExhausted as error:
            raise broker_busy(error.wait_needed) from None

    def _clock(self) -> MarketClock | None:
        try:
            return self.ctx.broker.get_clock()
        except (BrokerUnavailable, BrokerRejected):
            return None

    def _values(
        self, request: TradeRequest, symbol: str, order_class: str, portfolio_id: int
    ) -> dict[str, Any]:
        now = self.ctx.now()
        take_profit, stop_loss = request.take_profit, request.stop_loss
        return {
            "client_order_id": new_client_order_id(portfolio_id),
            "broker_order_id": None,
            "portfolio_id": portfolio_id,
            "symbol": symbol,
            "side": request.side.value,
            "qty": request.qty,
            "notional": request.notional,
            "order_type": request.order_type.value,
            "time_in_force": request.time_in_force.value,
            "limit_price": request.limit_price,
            "stop_price": request.stop_price,
            "order_class": order_class,
            "take_profit_limit_price": take_profit.limit_price if take_profit else None,
            "stop_loss_stop_price": stop_loss.stop_price if stop_loss else None,
            "stop_loss_limit_price": stop_loss.limit_price if stop_loss else None,
            "estimated_price": None,
            "extended_hours": request.extended_hours,
            "status": OrderStatus.PENDING_SUBMIT.value,
            "broker_status": None,
            "filled_qty": Decimal(0),
            "filled_avg_price": None,
            "reason": request.reason,
            "requested_by": request.requested_by,
            "idempotency_key": None,
            "request_fingerprint": None,
            "external": False,
            "origin": OrderOrigin.TRADE.value,
            "stop_id": None,
            "error_code": None,
            "error_message": None,
            "send_attempts": 1,  # recorded as about to be sent: the first send follows at once
            "created_at": now,
            "submitted_at": now,
            "filled_at": None,
            "canceled_at": None,
            "cancel_requested_at": None,
            "last_broker_check_at": None,
            "updated_at": now,
        }


def fills_at_once(order: Order, clock: MarketClock | None) -> bool:
    """Whether the broker fills (or finishes) this order right away, so the answer waits for
    it: a market order while the market is open, or an immediate-or-cancel / fill-or-kill
    order. A resting limit or stop order, or one queued for the open, answers as soon as the
    broker has accepted it."""
    tif = order.time_in_force
    if tif in (TimeInForce.IOC, TimeInForce.FOK):
        return True
    if order.order_type != OrderType.MARKET or tif in (TimeInForce.OPG, TimeInForce.CLS):
        return False
    return clock is None or clock.is_open


def _trade_details(values: dict[str, Any], portfolio: str) -> dict[str, Any]:
    """What the audit trail keeps of a trade request."""
    keep = (
        "symbol",
        "side",
        "qty",
        "notional",
        "order_type",
        "limit_price",
        "stop_price",
        "time_in_force",
        "client_order_id",
        "reason",
        "idempotency_key",
        "origin",
    )
    return {"portfolio": portfolio} | {
        key: str(values[key]) for key in keep if values.get(key) is not None
    }
