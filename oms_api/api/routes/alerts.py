"""The alert outbox: what was (or will be) posted to Slack, and how its delivery went."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from oms_api.alerts.deliverer import delivery_configured
from oms_api.alerts.models import AlertState
from oms_api.alerts.outbox import AlertKind
from oms_api.alerts.queries import AlertFilter, list_alerts
from oms_api.alerts.schemas import AlertPage, AlertPublic
from oms_api.api.deps import RuntimeDep
from oms_api.api.openapi import error_responses
from oms_api.api.params import UtcTime
from oms_api.orders.requests import StorableText

router = APIRouter(tags=["alerts"])


@router.get("/alerts", response_model=AlertPage, responses=error_responses(400, 422))
def get_alerts(
    runtime: RuntimeDep,
    state: AlertState | None = None,
    kind: AlertKind | None = None,
    since: Annotated[
        UtcTime,
        Query(
            description="Alerts recorded at or after this ISO 8601 time; without an offset "
            "it is read as UTC."
        ),
    ] = None,
    until: Annotated[
        UtcTime,
        Query(
            description="Alerts recorded before this ISO 8601 time; without an offset it is "
            "read as UTC."
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        StorableText | None, Query(description="`next_cursor` of the previous page.")
    ] = None,
) -> AlertPage:
    """Alerts newest first, each with its delivery state, attempts, last error, Slack ts and
    channel; `delivery` says whether the OMS posts them at all."""
    settings = runtime.settings
    alerts, next_cursor = list_alerts(
        runtime.engine, AlertFilter(state, kind, since, until), limit, cursor
    )
    default_channel = settings.slack_alerts_channel_id
    return AlertPage(
        alerts=[
            AlertPublic.model_validate(
                {**alert.model_dump(), "channel": alert.channel_id or default_channel}
            )
            for alert in alerts
        ],
        next_cursor=next_cursor,
        delivery="configured" if delivery_configured(settings) else "not configured",
    )
