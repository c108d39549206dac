"""The audit table and its public shape."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Index
from sqlmodel import Field, SQLModel

from oms_api.db.types import UTCDateTime, utcnow


class ActorKind(StrEnum):
    SLACK_USER = "slack_user"  # a person, by Slack user id (and name)
    API = "api"  # a caller of the HTTP API that did not say who it acts for
    SYSTEM = "system"  # the OMS itself (loss limit, recovery)


class AuditResult(StrEnum):
    OK = "ok"
    REFUSED = "refused"  # not allowed, or a rule said no: nothing was done
    FAILED = "failed"  # tried, and it did not (fully) happen


class AuditEntry(SQLModel, table=True):
    """Append-only: one row per state-changing action or refused attempt."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint(
            "actor_kind IN ('slack_user', 'api', 'system')", name="ck_audit_log_actor_kind"
        ),
        CheckConstraint("result IN ('ok', 'refused', 'failed')", name="ck_audit_log_result"),
        Index("ix_audit_log_created", "created_at", "id"),
        Index("ix_audit_log_actor", "actor"),
        Index("ix_audit_log_action", "action"),
    )

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    actor_kind: str = Field(max_length=16)
    actor: str = Field(max_length=100)  # Slack user id, "api" or "system"
    actor_name: str | None = Field(default=None, max_length=100)
    action: str = Field(max_length=40)  # e.g. trade, cancel, emergency_stop, resume
    target: str | None = Field(default=None, max_length=200)  # e.g. "trade 12", "portfolio alpha"
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    result: str = Field(max_length=16)
