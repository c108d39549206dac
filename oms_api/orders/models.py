"""Order, fill and order-event tables, and their public shapes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import PlainSerializer
from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, Integer
from sqlalchemy.orm import configure_mappers
from sqlmodel import Field, SQLModel

from oms_api.db.types import ExactDecimal, UTCDateTime, utcnow
from oms_api.orders.enums import OrderStatus

_STATUSES = ", ".join(f"'{s.value}'" for s in OrderStatus)


def _money(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(ExactDecimal(18, 6), nullable=nullable))


def _qty(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(ExactDecimal(20, 9), nullable=nullable))


def _time(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class Order(SQLModel, table=True):
    """One order the OMS placed (or imported from the broker)."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUSES})", name="ck_orders_status"),
        CheckConstraint("side IN ('buy', 'sell')", name="ck_orders_side"),
        CheckConstraint(
            "order_type IN ('market', 'limit', 'stop', 'stop_limit')", name="ck_orders_type"
        ),
        CheckConstraint(
            "time_in_force IN ('day', 'gtc', 'opg', 'cls', 'ioc', 'fok')", name="ck_orders_tif"
        ),
        CheckConstraint("order_class IN ('simple', 'bracket')", name="ck_orders_class"),
        CheckConstraint("(qty IS NULL) <> (notional IS NULL)", name="ck_orders_qty_xor_notional"),
        CheckConstraint("qty IS NULL OR CAST(qty AS REAL) > 0", name="ck_orders_qty_positive"),
        CheckConstraint(
            "notional IS NULL OR CAST(notional AS REAL) > 0", name="ck_orders_notional_positive"
        ),
        CheckConstraint("CAST(filled_qty AS REAL) >= 0", name="ck_orders_filled_nonneg"),
        CheckConstraint(
            "origin IN ('trade', 'emergency_sell', 'stop', 'external')", name="ck_orders_origin"
        ),
        Index("ix_orders_portfolio_created", "portfolio_id", "created_at"),
        Index("ix_orders_symbol_created", "symbol", "created_at"),
        Index("ix_orders_status", "status"),
        Index("ix_orders_created", "created_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    client_order_id: str = Field(max_length=48, unique=True)
    broker_order_id: str | None = Field(default=None, max_length=64, unique=True)
    portfolio_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("portfolios.id", ondelete="RESTRICT"), index=False),
    )
    symbol: str = Field(max_length=21)
    side: str = Field(max_length=4)
    qty: Decimal | None = _qty()
    notional: Decimal | None = _money()
    order_type: str = Field(max_length=16)
    time_in_force: str = Field(max_length=8)
    limit_price: Decimal | None = _money()
    stop_price: Decimal | None = _money()
    order_class: str = Field(default="simple", max_length=16)
    take_profit_limit_price: Decimal | None = _money()
    stop_loss_stop_price: Decimal | None = _money()
    stop_loss_limit_price: Decimal | None = _money()
    # The price the pre-trade checks valued the order at (its limit price, else the latest
    # price when it was placed): what a working buy still reserves of its portfolio's capital.
    estimated_price: Decimal | None = _money()
    extended_hours: bool = False
    status: str = Field(default=OrderStatus.PENDING_SUBMIT.value, max_length=20)
    broker_status: str | None = Field(default=None, max_length=32)
    filled_qty: Decimal = Field(
        default=Decimal(0), sa_column=Column(ExactDecimal(20, 9), nullable=False)
    )
    filled_avg_price: Decimal | None = _money()
    reason: str | None = Field(default=None, max_length=500)
    requested_by: str | None = Field(default=None, max_length=100)
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)
    request_fingerprint: str | None = Field(default=None, max_length=64)
    external: bool = False  # found at the broker, not placed through the OMS
    # Why the order exists: a trade, an emergency sell, a stop's closing order (made by the
    # broker, adopted), or one found at the broker.
    origin: str = Field(default="trade", max_length=20)
    stop_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("emergency_stops.id", ondelete="SET NULL")),
    )
    error_code: str | None = Field(default=None, max_length=32)
    error_message: str | None = Field(default=None, max_length=500)
    send_attempts: int = 0
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    submitted_at: datetime | None = _time()
    filled_at: datetime | None = _time()
    canceled_at: datetime | None = _time()
    cancel_requested_at: datetime | None = _time()
    last_broker_check_at: datetime | None = _time()
    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(UTCDateTime(), nullable=False, onupdate=utcnow),
    )


class Fill(SQLModel, table=True):
    """An execution at the broker: a fact, recorded once per execution_id."""

    __tablename__ = "fills"
    __table_args__ = (
        CheckConstraint("CAST(qty AS REAL) > 0", name="ck_fills_qty_positive"),
        CheckConstraint("CAST(price AS REAL) > 0", name="ck_fills_price_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    execution_id: str = Field(max_length=64, unique=True)
    order_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    qty: Decimal = Field(sa_column=Column(ExactDecimal(20, 9), nullable=False))
    price: Decimal = Field(sa_column=Column(ExactDecimal(18, 6), nullable=False))
    filled_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    source: str = Field(max_length=16)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class OrderEvent(SQLModel, table=True):
    """Append-only history of every state change, with where it came from."""

    __tablename__ = "order_events"
    __table_args__ = (
        CheckConstraint(
            "source IN ('api', 'stream', 'poll', 'recovery', 'reconcile', 'stop')",
            name="ck_order_events_source",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    source: str = Field(max_length=16)
    broker_status: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, max_length=500)
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class OrderAllocation(SQLModel, table=True):
    """The share of an account-wide order that belongs to one portfolio's book (a stop's
    closing order closes what every portfolio holds of a symbol): its fills count for the
    portfolio in proportion, `qty` of the order's quantity."""

    __tablename__ = "order_allocations"
    __table_args__ = (
        CheckConstraint("CAST(qty AS REAL) > 0", name="ck_order_allocations_qty_positive"),
    )

    order_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    )
    portfolio_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("portfolios.id", ondelete="RESTRICT"), primary_key=True
        )
    )
    qty: Decimal = Field(sa_column=Column(ExactDecimal(20, 9), nullable=False))


# ---------------------------------------------------------------------- rows to objects
_mappers_ready = False


def _ready() -> None:
    # model_construct needs the ORM's instrumentation in place (done once, on first use).
    global _mappers_ready
    if not _mappers_ready:
        configure_mappers()
        _mappers_ready = True


def order_from_row(row: dict[str, Any]) -> Order:
    """An Order from a row read or written with Core statements, without validation (the
    values come from the database or were just written to it): ten times cheaper than
    `Order(**row)` on the hot path. Not attached to any session."""
    _ready()
    return Order.model_construct(**row)


def fill_from_row(row: dict[str, Any]) -> Fill:
    _ready()
    return Fill.model_construct(**row)


# ---------------------------------------------------------------------- public shapes
def decimal_text(value: Decimal) -> str:
    """A number as JSON text, without trailing zeros: the same quantity reads the same whether
    PostgreSQL (fixed scale) or SQLite stored it, or it was just computed."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


PublicDecimal = Annotated[Decimal, PlainSerializer(decimal_text, return_type=str, when_used="json")]


class FillPublic(SQLModel):
    execution_id: str
    qty: PublicDecimal
    price: PublicDecimal
    filled_at: datetime
    source: str


class OrderEventPublic(SQLModel):
    from_status: str | None
    to_status: str
    source: str
    broker_status: str | None
    note: str | None
    created_at: datetime


class TradePublic(SQLModel):
    id: int
    client_order_id: str
    broker_order_id: str | None
    portfolio: str | None
    symbol: str
    side: str
    qty: PublicDecimal | None
    notional: PublicDecimal | None
    order_type: str
    time_in_force: str
    limit_price: PublicDecimal | None
    stop_price: PublicDecimal | None
    order_class: str
    take_profit_limit_price: PublicDecimal | None
    stop_loss_stop_price: PublicDecimal | None
    stop_loss_limit_price: PublicDecimal | None
    extended_hours: bool
    status: str
    broker_status: str | None
    filled_qty: PublicDecimal
    filled_avg_price: PublicDecimal | None
    reason: str | None
    requested_by: str | None
    external: bool
    origin: str
    stop_id: int | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    submitted_at: datetime | None
    filled_at: datetime | None
    canceled_at: datetime | None
    updated_at: datetime


class TradeDetail(TradePublic):
    fills: list[FillPublic]
    events: list[OrderEventPublic]
