"""The alert outbox: an alert is one INSERT into `alerts`, in the transaction of the event that
causes it, so it is recorded exactly when that event commits (and never when it rolls back).
`oms_api.alerts.deliverer` posts it to Slack later, from one process.

On PostgreSQL the same statement sends `NOTIFY oms_alerts` (delivered at commit, never on a
rollback), which wakes the deliverer in whichever worker runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.schema import Table

from oms_api.alerts.models import Alert, AlertState
from oms_api.config import Settings
from oms_api.db.types import utcnow

ALERTS: Table = Alert.__table__  # type: ignore[attr-defined]
NOTIFY_CHANNEL = "oms_alerts"
TITLE_MAX = 200
DEDUPE_KEY_MAX = 100
CHANNEL_ID_MAX = 40
MODES = ("SIMULATOR", "PAPER", "LIVE")


class AlertKind(StrEnum):
    STOP_STARTED = "stop_started"
    STOP_FINISHED = "stop_finished"
    STOP_INCOMPLETE = "stop_incomplete"
    HALTED = "halted"
    RESUMED = "resumed"
    LOSS_LIMIT_WARNING = "loss_limit_warning"
    LOSS_LIMIT_BREACH = "loss_limit_breach"
    PORTFOLIO_PAUSED = "portfolio_paused"
    PORTFOLIO_LOSS_LIMIT = "portfolio_loss_limit"  # a portfolio's daily loss limit: paused
    ORDER_REJECTED = "order_rejected"
    ORDER_FILLED = "order_filled"
    RECONCILE_OFF = "reconcile_off"  # the OMS and the broker disagree (scheduled/start-up run)
    RECONCILE_CLEARED = "reconcile_cleared"  # ... and agree again


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


def wanted(kind: AlertKind, settings: Settings) -> bool:
    """Whether alerts of `kind` are recorded at all: ALERT_ON_FILLS and ALERT_ON_REJECTIONS
    turn off the two that can be frequent. The code that enqueues asks before it does."""
    if kind is AlertKind.ORDER_FILLED:
        return settings.alert_on_fills
    if kind is AlertKind.ORDER_REJECTED:
        return settings.alert_on_rejections
    return True


def json_ready(value: Any) -> Any:
    """`value` with decimals as strings, times as ISO 8601 UTC and enums as their values.

    Anything else that JSON cannot hold is a programming error (TypeError), found by the
    caller's tests rather than guessed at: a float would already have lost money's precision,
    so only ints, strings, booleans and None pass as they are."""
    if value is None or isinstance(value, bool | int | str):
        return value.value if isinstance(value, Enum) else value
    if isinstance(value, Enum):
        return json_ready(value.value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value}")
        return format(value, "f")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware ones")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    raise TypeError(f"{type(value).__name__} is not a JSON value for an alert body")


def alert_values(
    kind: AlertKind,
    title: str,
    body: Mapping[str, Any],
    *,
    severity: str = "info",
    channel_id: str | None = None,
    dedupe_key: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Every column of a new `alerts` row but `id` (body as a JSON-ready dict for the JSON
    column), for an INSERT of your own; `enqueue` runs the usual one.

    Raises ValueError (or TypeError) for what is a bug in the caller whatever the data: an
    unknown kind or severity, a body without its `mode`, a dedupe key or channel id too long.
    A long title (it may quote a reason) is cut instead."""
    kind = AlertKind(kind)
    severity = Severity(severity).value
    if not isinstance(body, Mapping) or body.get("mode") not in MODES:
        raise ValueError(f"an alert body carries its mode, one of {', '.join(MODES)}")
    if dedupe_key is not None and not 0 < len(dedupe_key) <= DEDUPE_KEY_MAX:
        raise ValueError(f"dedupe_key must be 1-{DEDUPE_KEY_MAX} characters")
    if channel_id is not None and not 0 < len(channel_id) <= CHANNEL_ID_MAX:
        raise ValueError(f"channel_id must be 1-{CHANNEL_ID_MAX} characters")
    title = " ".join(title.split()) or kind.value
    if len(title) > TITLE_MAX:
        title = title[: TITLE_MAX - 1] + "…"
    return {
        "created_at": now or utcnow(),
        "kind": kind.value,
        "severity": severity,
        "channel_id": channel_id,
        "title": title,
        "body": json_ready(body),
        "state": AlertState.PENDING.value,
        "attempts": 0,
        "next_attempt_at": None,
        "delivered_at": None,
        "slack_ts": None,
        "last_error": None,
        "dedupe_key": dedupe_key,
    }


def enqueue(
    connection: Connection,
    kind: AlertKind,
    title: str,
    body: dict[str, Any],
    *,
    severity: str = "info",
    channel_id: str | None = None,
    dedupe_key: str | None = None,
) -> None:
    """Record an alert inside the caller's transaction: it commits with the event that
    causes it, or not at all. A `dedupe_key` already recorded (e.g. "loss_warning:2026-11-29")
    records nothing. `channel_id` None means SLACK_ALERTS_CHANNEL_ID."""
    values = alert_values(
        kind, title, body, severity=severity, channel_id=channel_id, dedupe_key=dedupe_key
    )
    if connection.dialect.name == "postgresql":
        insert = (
            postgresql.insert(ALERTS)
            .values(values)
            .on_conflict_do_nothing(index_elements=[ALERTS.c.dedupe_key])
            .returning(ALERTS.c.id)
            .cte("new_alert")
        )
        # One round trip: the row and, for a row actually inserted, the wake-up (sent at commit).
        notified = func.pg_notify(NOTIFY_CHANNEL, cast(insert.c.id, Text))
        connection.execute(select(func.count(notified)).select_from(insert))
        return
    connection.execute(
        sqlite.insert(ALERTS)
        .values(values)
        .on_conflict_do_nothing(index_elements=[ALERTS.c.dedupe_key])
    )
