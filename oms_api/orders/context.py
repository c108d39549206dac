"""What the parts of the order service share: the broker they need, their settings, the
answer a trade gets, and how broker errors read to a trader."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from oms_api.broker.budget import Priority
from oms_api.broker.models import (
    Asset,
    BrokerError,
    BrokerOrder,
    CancelOutcome,
    MarketClock,
    OrderSubmission,
    SubmitResult,
)
from oms_api.errors import ServiceError
from oms_api.orders.models import Fill, Order
from oms_api.orders.watch import OrderWatch
from oms_api.orders.writer import OrderWriter


class Broker(Protocol):
    """What the order service needs from the broker gateway."""

    def submit_order(self, submission: OrderSubmission) -> SubmitResult: ...
    def get_order_by_client_id(
        self, client_order_id: str, priority: Priority = ...
    ) -> BrokerOrder | None: ...
    def get_order(self, broker_order_id: str, priority: Priority = ...) -> BrokerOrder | None: ...
    def list_open_orders(self) -> list[BrokerOrder]: ...
    def cancel_order(self, broker_order_id: str) -> CancelOutcome: ...
    def get_asset(self, symbol: str) -> Asset | None: ...
    def get_clock(self) -> MarketClock: ...
    def reserved(self, priority: Priority = ...) -> AbstractContextManager[None]: ...


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
    # Working orders the stream said nothing about: checked with the broker this often.
    sweep_seconds_streaming: float = 60.0
    sweep_seconds_polling: float = 5.0
    # A cancel the broker has not confirmed after this long is in doubt: asked about alone.
    cancel_doubt_seconds: float = 5.0


@dataclass
class OrderContext:
    """The collaborators every part of the order service works with."""

    broker: Broker
    writer: OrderWriter
    watch: OrderWatch
    settings: ServiceSettings
    now: Callable[[], datetime]
    sleep: Callable[[float], None]
    # Whether the trade stream is heard right now (here, or in the worker that runs it).
    stream_live: Callable[[], bool] = lambda: False


@dataclass
class TradeOutcome:
    order: Order
    portfolio_name: str | None
    replayed: bool = False
    clock: MarketClock | None = None
    error: ServiceError | None = None
    fills: list[Fill] = field(default_factory=list)


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

OUTCOME_UNKNOWN_MESSAGE = (
    "the order's outcome is unknown (the broker's answer was lost) — do not place it again: "
    "the OMS keeps checking with the broker by its client_order_id and will never place it twice"
)


def rejection(error: BrokerError | None) -> tuple[str, str]:
    """(code, one sentence) for a definitive refusal by the broker."""
    if error is None:
        return "broker_rejected", "the broker rejected the order"
    message = error.message or "the broker rejected the order"
    lowered = message.lower()
    if "buying power" in lowered:
        # Alpaca's own words already say what is missing ("insufficient buying power").
        return "insufficient_buying_power", f"the broker refused the order: {message}"
    if "insufficient qty" in lowered:
        return "insufficient_qty", message
    if error.http_status == 422 and ("asset" in lowered or "symbol" in lowered):
        return "invalid_symbol", message
    if error.http_status in (400, 422):
        return "invalid_parameters", message
    return "broker_rejected", message


def stored_error(order: Order) -> ServiceError | None:
    """The error a rejected, unsent or unknown order answers with."""
    assert order.id is not None
    if order.status == "unknown":
        return ServiceError(503, "outcome_unknown", OUTCOME_UNKNOWN_MESSAGE, {"trade_id": order.id})
    if order.status not in ("rejected", "not_sent"):
        return None
    code = order.error_code or ("broker_unavailable" if order.status == "not_sent" else "")
    code = code or "broker_rejected"
    default = "nothing was sent" if order.status == "not_sent" else "the broker rejected the order"
    status = ERROR_STATUS.get(code, 503 if order.status == "not_sent" else 400)
    return ServiceError(status, code, order.error_message or default, {"trade_id": order.id})
