"""Broker-neutral shapes the gateway hands to the rest of the OMS (Decimal everywhere)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # the broker has the order
    REJECTED = "rejected"  # the broker definitively refused it
    UNKNOWN = "unknown"  # no reliable answer: it may or may not be there
    NOT_SENT = "not_sent"  # certainly never reached the broker (no connection, local budget)


@dataclass(frozen=True)
class BrokerOrder:
    id: str
    client_order_id: str
    symbol: str
    side: str
    status: str  # Alpaca's status string
    order_type: str
    time_in_force: str
    qty: Decimal | None
    notional: Decimal | None
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    order_class: str
    extended_hours: bool
    submitted_at: datetime | None
    filled_at: datetime | None
    canceled_at: datetime | None
    updated_at: datetime | None
    legs: tuple[BrokerOrder, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class BrokerError:
    """What the broker (or the transport) said when a call failed."""

    http_status: int | None
    code: int | None
    message: str


@dataclass(frozen=True)
class SubmitResult:
    outcome: Outcome
    order: BrokerOrder | None = None
    error: BrokerError | None = None


class CancelOutcome(StrEnum):
    REQUESTED = "requested"  # the broker took the cancel request (final state comes later)
    NOT_CANCELABLE = "not_cancelable"  # already filled / canceled / expired
    NOT_FOUND = "not_found"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class OrderSubmission:
    client_order_id: str
    symbol: str
    side: str
    order_type: str
    time_in_force: str
    qty: Decimal | None = None
    notional: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    extended_hours: bool = False
    take_profit_limit_price: Decimal | None = None
    stop_loss_stop_price: Decimal | None = None
    stop_loss_limit_price: Decimal | None = None

    @property
    def is_bracket(self) -> bool:
        return self.take_profit_limit_price is not None


@dataclass(frozen=True)
class TradeEvent:
    """One trade_updates message."""

    event: str
    order: BrokerOrder
    execution_id: str | None
    price: Decimal | None
    qty: Decimal | None
    position_qty: Decimal | None
    timestamp: datetime


@dataclass(frozen=True)
class Asset:
    symbol: str
    name: str | None
    tradable: bool
    fractionable: bool
    shortable: bool
    status: str


@dataclass(frozen=True)
class MarketClock:
    timestamp: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime


@dataclass(frozen=True)
class Account:
    account_number: str
    status: str
    equity: Decimal
    cash: Decimal
    buying_power: Decimal
    portfolio_value: Decimal
    currency: str
    # Equity at the previous trading day's close: today's P&L is equity - last_equity.
    last_equity: Decimal | None = None


@dataclass(frozen=True)
class BulkCancel:
    """One order of a cancel-all request, as the broker answered for it."""

    broker_order_id: str
    status: int  # 200: the cancel was taken
    error: str | None = None


@dataclass(frozen=True)
class PositionClose:
    """One position of a close-all request: the closing order the broker made, or why not."""

    symbol: str
    status: int  # 200: a closing order was made
    order: BrokerOrder | None = None
    error: str | None = None


@dataclass(frozen=True)
class Position:
    symbol: str
    qty: Decimal
    side: str
    avg_entry_price: Decimal
    current_price: Decimal | None
    market_value: Decimal | None
    cost_basis: Decimal
    unrealized_pl: Decimal | None
    unrealized_plpc: Decimal | None
    # The price at the previous trading day's close: today's P&L is qty x (current - this).
    lastday_price: Decimal | None = None


@dataclass(frozen=True)
class PortfolioHistoryPoint:
    """The account at one point of its history: the window starting `at`, valued at its end."""

    at: datetime  # UTC, the start of the window (Alpaca labels windows by their start)
    equity: Decimal
    profit_loss: Decimal  # from the base value (per day, under 1D, by default)
    profit_loss_pct: Decimal | None  # a fraction: 0.012 is 1.2 %


@dataclass(frozen=True)
class PortfolioHistory:
    """Alpaca's portfolio history: equity and P/L over time, oldest first."""

    points: list[PortfolioHistoryPoint]
    base_value: Decimal | None
    timeframe: str
    # The trading day whose closing equity is the base; None: the first point is the base.
    base_value_asof: date | None = None


@dataclass(frozen=True)
class Bar:
    """One price bar (candle); `at` is the start of its interval, in UTC."""

    at: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True)
class Quote:
    symbol: str
    price: Decimal  # latest trade
    bid: Decimal | None
    ask: Decimal | None
    timestamp: datetime


@dataclass(frozen=True)
class BrokerContact:
    """How the broker last answered this process: what /health reports without asking it."""

    last_ok_at: datetime | None = None
    last_ok_monotonic: float | None = None
    failure: str | None = None  # the latest failure since the last good answer
    failure_at: datetime | None = None

    def answered(self, monotonic_now: float) -> BrokerContact:
        return BrokerContact(datetime.now(UTC), monotonic_now)

    def failed(self, problem: str) -> BrokerContact:
        return replace(self, failure=problem, failure_at=datetime.now(UTC))


class BrokerUnavailable(Exception):
    """The broker could not be reached or answered ambiguously (timeout, 5xx, 429, reset)."""

    def __init__(self, error: BrokerError) -> None:
        super().__init__(error.message)
        self.error = error


class BrokerBusy(BrokerUnavailable):
    """The OMS's own request budget has no slot in time: the request was not sent."""

    def __init__(self, error: BrokerError, retry_after: float) -> None:
        super().__init__(error)
        self.retry_after = retry_after


class BrokerRejected(Exception):
    """The broker definitively refused a request (4xx with a reason)."""

    def __init__(self, error: BrokerError) -> None:
        super().__init__(error.message)
        self.error = error
