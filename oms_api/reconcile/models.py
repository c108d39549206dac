"""Reconciliation reports and their discrepancies, stored so a report can be read again and
repaired later."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, Integer
from sqlmodel import Field, SQLModel

from oms_api.db.types import UTCDateTime, utcnow

TRIGGERS: tuple[str, ...] = ("startup", "schedule", "manual")
KINDS: tuple[str, ...] = (
    "missing_in_oms",
    "missing_at_broker",
    "status_mismatch",
    "filled_qty_mismatch",
    "price_mismatch",
    "position_mismatch",
)
REPAIRS: tuple[str, ...] = ("adopt", "refresh")
REPAIR_STATES: tuple[str, ...] = ("open", "repaired", "failed")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class ReconcileReport(SQLModel, table=True):
    """One comparison of the OMS with the broker."""

    __tablename__ = "reconcile_reports"
    __table_args__ = (
        CheckConstraint(f"trigger IN ({_in(TRIGGERS)})", name="ck_reconcile_reports_trigger"),
        CheckConstraint(
            "alert IS NULL OR alert IN ('off', 'cleared')", name="ck_reconcile_reports_alert"
        ),
        Index("ix_reconcile_reports_trigger_id", "trigger", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    trigger: str = Field(max_length=16)
    requested_by: str | None = Field(default=None, max_length=100)
    checked: int = 0  # orders and symbols compared
    in_sync: int = 0  # of those, how many agree
    discrepancy_count: int = 0
    broker_calls: int = 0
    # Broker orders submitted from here on are compared (older ones are history).
    window_start: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    # A digest of the discrepancies' keys: a scheduled run alerts only when it changes.
    fingerprint: str = Field(default="", max_length=64)
    alert: str | None = Field(default=None, max_length=8)  # what this run posted, if anything
    checked_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class ReconcileDiscrepancy(SQLModel, table=True):
    """One thing the OMS and the broker disagree on, and what was done about it."""

    __tablename__ = "reconcile_discrepancies"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_in(KINDS)})", name="ck_reconcile_discrepancies_kind"),
        CheckConstraint(
            f"repair IS NULL OR repair IN ({_in(REPAIRS)})",
            name="ck_reconcile_discrepancies_repair",
        ),
        CheckConstraint(
            f"repair_state IN ({_in(REPAIR_STATES)})",
            name="ck_reconcile_discrepancies_repair_state",
        ),
        Index("ix_reconcile_discrepancies_report", "report_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("reconcile_reports.id", ondelete="CASCADE"), nullable=False
        )
    )
    kind: str = Field(max_length=24)
    # Identifies the same discrepancy across runs: kind plus the broker order id or symbol.
    key: str = Field(max_length=120)
    symbol: str | None = Field(default=None, max_length=32)
    order_id: int | None = None  # the OMS order, if there is one
    broker_order_id: str | None = Field(default=None, max_length=64)
    client_order_id: str | None = Field(default=None, max_length=128)
    portfolio_id: int | None = None  # the portfolio the order belongs (or would belong) to
    oms_value: str | None = Field(default=None, max_length=100)
    broker_value: str | None = Field(default=None, max_length=100)
    message: str = Field(max_length=500)
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The repair that applies (None: report only, e.g. a position changed outside the app).
    repair: str | None = Field(default=None, max_length=16)
    repair_state: str = Field(default="open", max_length=16)
    repaired_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    repaired_by: str | None = Field(default=None, max_length=100)
    repair_note: str | None = Field(default=None, max_length=500)
