"""The alert outbox table and its public shape."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Index
from sqlmodel import Field, SQLModel

from oms_api.db.types import UTCDateTime, utcnow


class AlertState(StrEnum):
    PENDING = "pending"  # waiting to be delivered (or to be tried again)
    DELIVERED = "delivered"
    FAILED = "failed"  # given up: Slack refused it for good (e.g. channel_not_found)


class Alert(SQLModel, table=True):
    """One message for a Slack channel, written in the same transaction as what caused it."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="ck_alerts_state"),
        CheckConstraint("severity IN ('info', 'warning', 'critical')", name="ck_alerts_severity"),
        Index("ix_alerts_state_id", "state", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    kind: str = Field(max_length=40)  # stop_started, stop_finished, halted, order_filled, ...
    severity: str = Field(default="info", max_length=16)
    channel_id: str | None = Field(default=None, max_length=40)  # None: the alerts channel
    title: str = Field(max_length=200)
    # What the message builder needs (who, why, the per-symbol table, ...).
    body: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    state: str = Field(default=AlertState.PENDING.value, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    delivered_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    slack_ts: str | None = Field(default=None, max_length=40)  # the posted message's id
    last_error: str | None = Field(default=None, max_length=500)
    # Guards against recording the same alert twice (e.g. one warning a day).
    dedupe_key: str | None = Field(default=None, max_length=100, unique=True)
