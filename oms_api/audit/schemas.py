"""What the API takes and answers about the audit trail, and the "who asks" fields that
state-changing requests carry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from oms_api.audit.models import ActorKind, AuditResult
from oms_api.orders.requests import StorableText

SLACK_USER_ID_PATTERN = r"^[UW][A-Z0-9]{2,99}$"
SLACK_CHANNEL_ID_PATTERN = r"^[A-Z0-9]{1,40}$"
REQUESTED_BY_HELP = (
    "Who asks: a Slack user id (U… or W…) for a person using Slack; left out, the API caller "
    "itself (`api`)."
)
REQUESTED_BY_NAME_HELP = "The Slack user's name, shown next to the id in the audit trail."


class AuditEntryPublic(BaseModel):
    id: int
    created_at: datetime
    actor_kind: ActorKind
    actor: str = Field(
        description="A Slack user id, `api`, `system`, or the id an API caller gave."
    )
    actor_name: str | None
    action: str = Field(
        description="trade, cancel, emergency_stop, halt, resume, emergency_sell, "
        "portfolio_stop, portfolio_create, portfolio_update, portfolio_pause, portfolio_resume, "
        "loss_limit_breach or refused_by_bot."
    )
    target: str | None = Field(description='What it was done to, e.g. "trade 12".')
    details: dict[str, Any] | None
    result: AuditResult


class AuditPage(BaseModel):
    entries: list[AuditEntryPublic] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last.")


class RefusalReport(BaseModel):
    """POST /api/v1/audit/refusals: an attempt the Slack bot refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    actor: str = Field(
        pattern=SLACK_USER_ID_PATTERN, description="The Slack user id of who was refused."
    )
    actor_name: StorableText | None = Field(default=None, max_length=100)
    action: StorableText = Field(
        min_length=1,
        max_length=100,
        description='The command or button that was used, e.g. "/trade" or "button order_cancel".',
    )
    target: StorableText | None = Field(
        default=None, max_length=200, description='What it was aimed at, e.g. "trade 12".'
    )
    reason: StorableText = Field(
        min_length=1,
        max_length=200,
        description='Why it was refused, e.g. "user not allowed" or "channel not allowed".',
    )
    channel_id: str | None = Field(
        default=None, pattern=SLACK_CHANNEL_ID_PATTERN, description="Where it was tried."
    )


class CancelRequest(BaseModel):
    """POST /api/v1/trades/{id}/cancel's optional body: who asks, and why."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    requested_by: StorableText | None = Field(
        default=None, max_length=100, description=REQUESTED_BY_HELP
    )
    requested_by_name: StorableText | None = Field(
        default=None, max_length=100, description=REQUESTED_BY_NAME_HELP
    )
    reason: StorableText | None = Field(default=None, max_length=500)
