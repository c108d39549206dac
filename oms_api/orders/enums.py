"""Enumerations of the order domain."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING_SUBMIT = "pending_submit"  # recorded, not yet sent
    SUBMITTED = "submitted"  # sent; no answer yet
    UNKNOWN = "unknown"  # sent; the answer was lost: ask the broker before anything else
    ACCEPTED = "accepted"  # the broker has it (new / accepted / pending_new / held)
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"  # cancel asked for; the broker has not confirmed
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"  # the broker said no (only the broker rejects)
    REPLACED = "replaced"
    # Certainly never reached the broker (no connection could be opened, or given up after the
    # broker kept saying it has no such order); nothing was placed.
    NOT_SENT = "not_sent"


TERMINAL_STATUSES = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.REJECTED,
        OrderStatus.REPLACED,
        OrderStatus.NOT_SENT,
    }
)
# Orders whose outcome at the broker is not settled yet.
UNSETTLED_STATUSES = frozenset(
    {OrderStatus.PENDING_SUBMIT, OrderStatus.SUBMITTED, OrderStatus.UNKNOWN}
)
WORKING_STATUSES = frozenset(
    {OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_CANCEL}
)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    OPG = "opg"
    CLS = "cls"
    IOC = "ioc"
    FOK = "fok"


class OrderClass(StrEnum):
    SIMPLE = "simple"
    BRACKET = "bracket"


class EventSource(StrEnum):
    API = "api"
    STREAM = "stream"
    POLL = "poll"
    RECOVERY = "recovery"
    RECONCILE = "reconcile"
    STOP = "stop"  # the emergency stop (its closing orders, adopted from the broker)


class OrderOrigin(StrEnum):
    TRADE = "trade"
    EMERGENCY_SELL = "emergency_sell"
    STOP = "stop"  # a closing order the broker made for an emergency stop
    EXTERNAL = "external"  # found at the broker, placed elsewhere


class PortfolioStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
