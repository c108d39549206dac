"""Reading the alert outbox for the API: filters and cursor pages, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import select

from oms_api.alerts.models import Alert, AlertState
from oms_api.alerts.outbox import AlertKind
from oms_api.cursors import IdCursor
from oms_api.db.engine import new_session

# Alert ids are INTEGER columns: 32 bits on PostgreSQL.
MAX_ALERT_ID = 2**31 - 1


@dataclass(frozen=True)
class AlertFilter:
    state: AlertState | None = None
    kind: AlertKind | None = None
    since: datetime | None = None  # recorded at or after
    until: datetime | None = None  # recorded before


CURSOR = IdCursor("alert", MAX_ALERT_ID)


def list_alerts(
    engine: Engine, filters: AlertFilter, limit: int, cursor: str | None = None
) -> tuple[list[Alert], str | None]:
    """Alerts matching `filters`, newest first, `limit` at a time; the second value is the
    cursor of the next page (None on the last)."""
    query = select(Alert)
    if filters.state:
        query = query.where(Alert.state == filters.state.value)
    if filters.kind:
        query = query.where(Alert.kind == filters.kind.value)
    if filters.since:
        query = query.where(Alert.created_at >= filters.since)  # type: ignore[operator]
    if filters.until:
        query = query.where(Alert.created_at < filters.until)  # type: ignore[operator]
    if cursor:
        query = query.where(Alert.id < CURSOR.decode(cursor))  # type: ignore[operator]
    query = query.order_by(Alert.id.desc()).limit(limit + 1)  # type: ignore[union-attr]
    with new_session(engine) as session:
        alerts = list(session.exec(query).all())
    next_cursor = None
    if len(alerts) > limit:
        alerts = alerts[:limit]
        last = alerts[-1].id
        assert last is not None
        next_cursor = CURSOR.encode(last)
    return alerts, next_cursor
