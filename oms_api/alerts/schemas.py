"""What GET /api/v1/alerts answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from oms_api.alerts.models import AlertState
from oms_api.alerts.outbox import AlertKind

Delivery = Literal["configured", "not configured"]


class AlertPublic(BaseModel):
    id: int
    created_at: datetime
    kind: str = Field(description="One of: " + ", ".join(kind.value for kind in AlertKind) + ".")
    severity: str = Field(description="info, warning or critical.")
    title: str
    channel: str | None = Field(
        description="The Slack channel id it goes to (SLACK_ALERTS_CHANNEL_ID unless the alert "
        "named its own); null when no channel is configured."
    )
    state: AlertState = Field(
        description="pending (waiting, or to be tried again), delivered, or failed (Slack "
        "refused it for good; `last_error` says why)."
    )
    attempts: int = Field(description="Posts tried so far.")
    next_attempt_at: datetime | None = Field(description="Pending: not tried again before this.")
    last_error: str | None = Field(description="Why the last attempt did not deliver it.")
    slack_ts: str | None = Field(description="The posted message's id in the channel.")
    delivered_at: datetime | None
    body: dict[str, Any] | None = Field(description="What the message is built from.")


class AlertPage(BaseModel):
    alerts: list[AlertPublic] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last.")
    delivery: Delivery = Field(
        description="`configured`: the OMS posts alerts to Slack. `not configured`: "
        "SLACK_BOT_TOKEN or SLACK_ALERTS_CHANNEL_ID is not set, and alerts wait as pending."
    )
