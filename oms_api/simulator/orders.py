"""Simulated orders, fills and positions, and their Alpaca JSON shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

OPEN_STATUSES = frozenset(
    {
        "new",
        "partially_filled",
        "accepted",
        "pending_new",
        "held",
        "pending_cancel",
        "pending_replace",
        "done_for_day",
        "accepted_for_bidding",
        "stopped",
        "calculated",
        "suspended",
    }
)
CLOSED_STATUSES = frozenset({"filled", "canceled", "expired", "rejected", "replaced"})
# Orders the matching engine may execute.
WORKING_STATUSES = frozenset({"new", "partially_filled"})


def rfc3339(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def dec(value: Decimal | None) -> str | None:
    """Alpaca's decimal strings: no exponent, no trailing zeros."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


@dataclass
class Fill:
    execution_id: str
    order_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    at: datetime


@dataclass
class BalanceChange:
    """Cash or shares changed by the control API, not by trading (`set_cash`, a seeded
    position): the account's history counts it at the moment it happened."""

    at: datetime
    cash: Decimal = Decimal(0)
    symbol: str | None = None
    qty: Decimal = Decimal(0)  # signed, like a position's qty


@dataclass
class SimOrder:
    id: str
    client_order_id: str
    symbol: str
    asset_id: str | None
    asset_class: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    extended_hours: bool
    order_class: str
    status: str
    created_at: datetime
    position_intent: str | None = None
    updated_at: datetime | None = None
    submitted_at: datetime | None = None
    filled_at: datetime | None = None
    expired_at: datetime | None = None
    canceled_at: datetime | None = None
    failed_at: datetime | None = None
    replaced_at: datetime | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    filled_qty: Decimal = Decimal(0)
    filled_value: Decimal = Decimal(0)  # sum of qty * price over fills
    legs: list[SimOrder] = field(default_factory=list)
    parent_id: str | None = None
    leg_role: str | None = None  # "take_profit" | "stop_loss" for bracket legs
    triggered: bool = False  # a stop that has been touched
    # Fill plan: quantities still to execute, and when the next one is due.
    fill_plan: list[Decimal] | None = None
    next_fill_at: datetime | None = None
    cancel_requested_at: datetime | None = None
    seeded_json: dict[str, Any] | None = None  # historical orders kept verbatim

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def total_qty(self) -> Decimal | None:
        """The quantity the order is for, known for notional orders only once it first fills."""
        if self.qty is not None:
            return self.qty
        if self.fill_plan is not None:
            return self.filled_qty + sum(self.fill_plan, Decimal(0))
        return None

    @property
    def filled_avg_price(self) -> Decimal | None:
        if self.filled_qty == 0:
            return None
        return (self.filled_value / self.filled_qty).quantize(Decimal("0.000001")).normalize()

    def to_json(self, nested: bool = True) -> dict[str, Any]:
        if self.seeded_json is not None:
            return dict(self.seeded_json)
        body: dict[str, Any] = {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at or self.created_at),
            "submitted_at": rfc3339(self.submitted_at or self.created_at),
            "filled_at": rfc3339(self.filled_at),
            "expired_at": rfc3339(self.expired_at),
            "canceled_at": rfc3339(self.canceled_at),
            "failed_at": rfc3339(self.failed_at),
            "replaced_at": rfc3339(self.replaced_at),
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": self.asset_id,
            "symbol": self.symbol,
            "asset_class": self.asset_class,
            "notional": dec(self.notional),
            "qty": dec(self.qty),
            "filled_qty": dec(self.filled_qty),
            "filled_avg_price": dec(self.filled_avg_price),
            "order_class": self.order_class if self.order_class != "simple" else "",
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "position_intent": self.position_intent,
            "time_in_force": self.time_in_force,
            "limit_price": dec(self.limit_price),
            "stop_price": dec(self.stop_price),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": [leg.to_json() for leg in self.legs] if (nested and self.legs) else None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
            "subtag": None,
            "source": None,
            "expires_at": None,
        }
        return body


@dataclass
class Position:
    symbol: str
    asset_id: str
    exchange: str
    qty: Decimal  # negative for a short
    avg_entry_price: Decimal

    @property
    def side(self) -> str:
        return "short" if self.qty < 0 else "long"

    def to_json(
        self, price: Decimal, prev_close: Decimal, qty_available: Decimal, marginable: bool
    ) -> dict[str, Any]:
        # Signed like qty, as Alpaca shows a short: negative value and cost basis, and a P&L
        # that is positive when the price falls.
        market_value = self.qty * price
        cost_basis = self.qty * self.avg_entry_price
        unrealized = market_value - cost_basis
        intraday = self.qty * (price - prev_close)
        last_value = self.qty * prev_close
        return {
            "asset_id": self.asset_id,
            "symbol": self.symbol,
            "exchange": self.exchange,
            "asset_class": "us_equity",
            "asset_marginable": marginable,
            "qty": dec(self.qty),
            "qty_available": dec(qty_available),
            "avg_entry_price": dec(self.avg_entry_price),
            "side": self.side,
            "market_value": dec(market_value.quantize(Decimal("0.0001"))),
            "cost_basis": dec(cost_basis.quantize(Decimal("0.0001"))),
            "unrealized_pl": dec(unrealized.quantize(Decimal("0.0001"))),
            # Percentages of the size of their base, so a losing short reads negative.
            "unrealized_plpc": dec(_ratio(unrealized, abs(cost_basis))),
            "unrealized_intraday_pl": dec(intraday.quantize(Decimal("0.0001"))),
            "unrealized_intraday_plpc": dec(_ratio(intraday, abs(last_value))),
            "current_price": dec(price),
            "lastday_price": dec(prev_close),
            "change_today": dec(_ratio(price - prev_close, prev_close)),
        }


def _ratio(part: Decimal, whole: Decimal) -> Decimal:
    if whole == 0:
        return Decimal(0)
    return (part / whole).quantize(Decimal("0.0000000001"))
