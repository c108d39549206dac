"""Trading state, emergency stops and their per-symbol outcomes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from oms_api.db.types import ExactDecimal, UTCDateTime, utcnow


class TradingStateValue(StrEnum):
    ACTIVE = "active"
    HALTED = "halted"


class StopStatus(StrEnum):
    RUNNING = "running"
    FLAT = "flat"  # nothing open left at the broker
    INCOMPLETE = "incomplete"  # something could not be closed: still HALTED, said what and why
    QUEUED_FOR_OPEN = "queued_for_open"  # market closed: the closing orders wait for the open


class SymbolOutcome(StrEnum):
    PENDING = "pending"
    CLOSED = "closed"
    QUEUED = "queued"  # the closing order waits for the market to open
    OPEN = "open"  # still held after every attempt
    FAILED = "failed"  # the broker refused to close it


class TradingState(SQLModel, table=True):
    """The account-wide state: one row (id 1)."""

    __tablename__ = "trading_state"
    __table_args__ = (
        CheckConstraint("state IN ('active', 'halted')", name="ck_trading_state_state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    state: str = Field(default=TradingStateValue.ACTIVE.value, max_length=16)
    reason: str | None = Field(default=None, max_length=500)
    changed_by: str | None = Field(default=None, max_length=100)
    changed_by_name: str | None = Field(default=None, max_length=100)
    changed_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    stop_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("emergency_stops.id", ondelete="SET NULL")),
    )


class EmergencyStop(SQLModel, table=True):
    __tablename__ = "emergency_stops"
    __table_args__ = (
        CheckConstraint(
            "status IN ('running', 'flat', 'incomplete', 'queued_for_open')",
            name="ck_emergency_stops_status",
        ),
        Index("ix_emergency_stops_started", "started_at", "id"),
        # One stop at a time, whichever worker started it.
        Index(
            "ix_emergency_stops_one_running",
            "status",
            unique=True,
            postgresql_where=text("status = 'running'"),
            sqlite_where=text("status = 'running'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default=StopStatus.RUNNING.value, max_length=20)
    # halting, cancelling, closing, verifying, waiting_for_open, done
    phase: str = Field(default="halting", max_length=20)
    reason: str = Field(max_length=500)
    requested_by: str = Field(max_length=100)
    requested_by_name: str | None = Field(default=None, max_length=100)
    channel_id: str | None = Field(default=None, max_length=40)  # where it was started from
    started_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    finished_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    orders_canceled: int = 0
    broker_write_calls: int = 0
    summary: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    error: str | None = Field(default=None, max_length=500)


class StopSymbol(SQLModel, table=True):
    """What a stop did about one symbol."""

    __tablename__ = "stop_symbols"
    __table_args__ = (
        UniqueConstraint("stop_id", "symbol", name="uq_stop_symbols_stop_symbol"),
        CheckConstraint(
            "outcome IN ('pending', 'closed', 'queued', 'open', 'failed')",
            name="ck_stop_symbols_outcome",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    stop_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("emergency_stops.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    symbol: str = Field(max_length=21)
    side: str = Field(max_length=8)  # long | short
    qty_before: Decimal = Field(sa_column=Column(ExactDecimal(20, 9), nullable=False))
    close_order_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("orders.id", ondelete="SET NULL"))
    )
    close_broker_order_id: str | None = Field(default=None, max_length=64)
    close_client_order_id: str | None = Field(default=None, max_length=64)
    filled_qty: Decimal = Field(
        default=Decimal(0), sa_column=Column(ExactDecimal(20, 9), nullable=False)
    )
    fill_price: Decimal | None = Field(
        default=None, sa_column=Column(ExactDecimal(18, 6), nullable=True)
    )
    outcome: str = Field(default=SymbolOutcome.PENDING.value, max_length=16)
    attempts: int = 0
    note: str | None = Field(default=None, max_length=500)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
