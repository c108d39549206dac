"""The broker mirror: the account's orders and positions as the broker reports them, the sync's
cursor, and each mirrored order's trade (the orders of one strategy)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Date, Index
from sqlmodel import Field, SQLModel

from oms_api.db.types import ExactDecimal, UTCDateTime, utcnow

# Every status Alpaca documents, plus the two alpaca-py also knows (held, pending_review).
BROKER_STATUSES: tuple[str, ...] = (
    "new",
    "partially_filled",
    "filled",
    "done_for_day",
    "canceled",
    "expired",
    "replaced",
    "pending_cancel",
    "pending_replace",
    "pending_review",
    "accepted",
    "pending_new",
    "accepted_for_bidding",
    "stopped",
    "rejected",
    "suspended",
    "calculated",
    "held",
)
# Orders that can still change at the broker.
BROKER_OPEN_STATUSES: frozenset[str] = frozenset(BROKER_STATUSES) - {
    "filled",
    "canceled",
    "expired",
    "replaced",
    "rejected",
}
STRATEGIES: tuple[str, ...] = (
    "equity",
    "single_leg",
    "vertical_spread",
    "straddle",
    "strangle",
    "iron_condor",
    "options",
)


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _money() -> Any:
    return Field(default=None, sa_column=Column(ExactDecimal(18, 6), nullable=True))


def _qty(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(ExactDecimal(20, 9), nullable=nullable))


def _time(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class BrokerOrderRecord(SQLModel, table=True):
    """One order (or one leg of a multi-leg / bracket order) as the broker reported it last."""

    __tablename__ = "broker_orders"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(BROKER_STATUSES)})", name="ck_broker_orders_status"),
        CheckConstraint("side IS NULL OR side IN ('buy', 'sell')", name="ck_broker_orders_side"),
        CheckConstraint(
            "option_type IS NULL OR option_type IN ('call', 'put')",
            name="ck_broker_orders_option_type",
        ),
        CheckConstraint(
            f"strategy IS NULL OR strategy IN ({_in(STRATEGIES)})",
            name="ck_broker_orders_strategy",
        ),
        CheckConstraint(
            "(leg_number IS NULL) = (parent_broker_order_id IS NULL)",
            name="ck_broker_orders_leg_has_parent",
        ),
        CheckConstraint("leg_number IS NULL OR leg_number >= 1", name="ck_broker_orders_leg"),
        CheckConstraint("CAST(filled_qty AS REAL) >= 0", name="ck_broker_orders_filled_nonneg"),
        Index("ix_broker_orders_submitted", "submitted_at", "id"),
        Index("ix_broker_orders_symbol_submitted", "symbol", "submitted_at"),
        Index("ix_broker_orders_underlying_submitted", "underlying", "submitted_at"),
        Index("ix_broker_orders_status_submitted", "status", "submitted_at"),
        Index("ix_broker_orders_strategy_submitted", "strategy", "submitted_at"),
        Index("ix_broker_orders_trade", "trade_id"),
        Index("ix_broker_orders_client_order_id", "client_order_id"),
        Index("ix_broker_orders_parent", "parent_broker_order_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    broker_order_id: str = Field(max_length=64, unique=True)
    client_order_id: str = Field(max_length=128)
    # A leg's parent (multi-leg or bracket order) and its place among the legs, from 1.
    parent_broker_order_id: str | None = Field(default=None, max_length=64)
    leg_number: int | None = None
    symbol: str = Field(default="", max_length=32)  # "" for a multi-leg parent, as Alpaca shows it
    underlying: str = Field(default="", max_length=16)  # the stock; an option's root
    asset_class: str = Field(default="", max_length=16)
    side: str | None = Field(default=None, max_length=4)
    position_intent: str | None = Field(default=None, max_length=16)
    qty: Decimal | None = _qty()
    notional: Decimal | None = _money()
    ratio_qty: Decimal | None = _qty()
    filled_qty: Decimal = Field(
        default=Decimal(0), sa_column=Column(ExactDecimal(20, 9), nullable=False)
    )
    filled_avg_price: Decimal | None = _money()
    limit_price: Decimal | None = _money()
    stop_price: Decimal | None = _money()
    order_type: str = Field(default="", max_length=16)
    order_class: str = Field(default="simple", max_length=16)
    time_in_force: str = Field(default="", max_length=8)
    status: str = Field(max_length=24)
    extended_hours: bool = False
    # Parsed from an OCC symbol (root, yymmdd, C/P, strike x 1000).
    option_expiry: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    option_strike: Decimal | None = _money()
    option_type: str | None = Field(default=None, max_length=4)
    # The orders of one strategy share a trade id (deterministic: derived from its members).
    trade_id: str | None = Field(default=None, max_length=40)
    strategy: str | None = Field(default=None, max_length=20)
    broker_created_at: datetime | None = _time()
    broker_updated_at: datetime | None = _time()
    submitted_at: datetime | None = _time()
    filled_at: datetime | None = _time()
    expired_at: datetime | None = _time()
    canceled_at: datetime | None = _time()
    failed_at: datetime | None = _time()
    raw: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # A digest of `raw`: a re-sync that brings nothing new writes nothing.
    content_hash: str = Field(max_length=64)
    first_seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    # When this row last changed (the broker reported something new), not when it was last seen.
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class BrokerPositionRecord(SQLModel, table=True):
    """One open position as the broker reported it in the last snapshot."""

    __tablename__ = "broker_positions"
    __table_args__ = (
        CheckConstraint("side IN ('long', 'short')", name="ck_broker_positions_side"),
        CheckConstraint(
            "option_type IS NULL OR option_type IN ('call', 'put')",
            name="ck_broker_positions_option_type",
        ),
        Index("ix_broker_positions_underlying", "underlying"),
    )

    symbol: str = Field(primary_key=True, max_length=32)
    asset_id: str | None = Field(default=None, max_length=64)
    asset_class: str = Field(default="", max_length=16)
    underlying: str = Field(default="", max_length=16)
    side: str = Field(max_length=5)
    qty: Decimal = Field(sa_column=Column(ExactDecimal(20, 9), nullable=False))  # negative: short
    avg_entry_price: Decimal | None = _money()
    market_value: Decimal | None = _money()
    cost_basis: Decimal | None = _money()
    unrealized_pl: Decimal | None = _money()
    current_price: Decimal | None = _money()
    option_expiry: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    option_strike: Decimal | None = _money()
    option_type: str | None = Field(default=None, max_length=4)
    raw: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    first_seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    synced_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class BrokerSyncState(SQLModel, table=True):
    """Where the history sync stands (one row per thing synced: `orders`)."""

    __tablename__ = "broker_sync_state"

    name: str = Field(primary_key=True, max_length=32)
    # The newest submission time stored with every order up to it: the incremental start.
    cursor_at: datetime | None = _time()
    full_synced_at: datetime | None = _time()  # when the first whole-history walk finished
    last_run_at: datetime | None = _time()
    last_success_at: datetime | None = _time()
    last_error: str | None = Field(default=None, max_length=500)
    last_broker_calls: int = 0
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
