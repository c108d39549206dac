"""The audit trail: who did what, to what, with which result, and when.

Rows are appended in the same transaction as the change they describe (`record`, or
`audit_values` for a caller that builds its own statement), so a change is never without its
row and a row never describes a change that was rolled back. Every value is made storable
first: text cut to its column and free of NUL (PostgreSQL refuses it), details JSON-safe
(Decimals as exact strings). Reading is `AuditService.list`, newest first, in cursor pages."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Engine
from sqlmodel import select

from oms_api.audit.models import ActorKind, AuditEntry, AuditResult
from oms_api.cursors import IdCursor
from oms_api.db.engine import new_session
from oms_api.db.types import utcnow

AUDIT_LOG: Table = AuditEntry.__table__  # type: ignore[attr-defined]

# Column widths of audit_log (migration 0003).
ACTOR_MAX = 100
ACTOR_NAME_MAX = 100
TARGET_MAX = 200

# audit_log.id is an INTEGER: 32 bits on PostgreSQL.
MAX_AUDIT_ID = 2**31 - 1
# Slack user ids: U… (workspace users) or W… (Enterprise Grid users), upper-case letters
# and digits.
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_SURROGATES = re.compile("[\ud800-\udfff]")


class AuditAction(StrEnum):
    TRADE = "trade"
    CANCEL = "cancel"
    EMERGENCY_STOP = "emergency_stop"
    HALT = "halt"
    RESUME = "resume"
    EMERGENCY_SELL = "emergency_sell"
    PORTFOLIO_STOP = "portfolio_stop"
    PORTFOLIO_CREATE = "portfolio_create"
    PORTFOLIO_UPDATE = "portfolio_update"
    PORTFOLIO_PAUSE = "portfolio_pause"
    PORTFOLIO_RESUME = "portfolio_resume"
    PORTFOLIO_LIMITS = "portfolio_limits"  # a portfolio's pre-trade limits set or cleared
    LOSS_LIMIT_BREACH = "loss_limit_breach"
    REFUSED_BY_BOT = "refused_by_bot"
    RECONCILE_RUN = "reconcile_run"  # an on-demand comparison with the broker
    RECONCILE_REPAIR = "reconcile_repair"  # a discrepancy adopted or refreshed, when asked


@dataclass(frozen=True)
class Actor:
    """Who acted: a Slack user (id and name), a caller of the API, or the OMS itself."""

    kind: ActorKind
    id: str
    name: str | None = None

    @classmethod
    def of(cls, requested_by: str | None, name: str | None = None) -> Actor:
        """The actor a request names: a Slack user id (U…/W…) is that Slack user; nothing is
        an API caller (`api`); "system" is the OMS itself; any other text is an API caller
        acting for that id, kept as it was given."""
        ident = storable_text(requested_by.strip(), ACTOR_MAX) if requested_by else ""
        shown = storable_text(name.strip(), ACTOR_NAME_MAX) if name and name.strip() else None
        if not ident:
            return cls(ActorKind.API, ActorKind.API.value, shown)
        if ident == ActorKind.SYSTEM.value:
            return cls.system()
        if _SLACK_USER_ID.fullmatch(ident):
            return cls(ActorKind.SLACK_USER, ident, shown)
        return cls(ActorKind.API, ident, shown)

    @classmethod
    def system(cls) -> Actor:
        return cls(ActorKind.SYSTEM, ActorKind.SYSTEM.value, None)


def _clean(text: str) -> str:
    # NUL is refused by PostgreSQL, lone surrogates are not UTF-8: both become U+FFFD.
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text if text.isascii() else _SURROGATES.sub("\ufffd", text)


def storable_text(value: str, max_length: int) -> str:
    """`value` as a column of `max_length` can hold it: without NUL or lone surrogates
    (each becomes U+FFFD), and cut when too long, ending in "…"."""
    value = _clean(value)
    return value if len(value) <= max_length else value[: max_length - 1] + "…"


def json_safe(value: Any) -> Any:
    """`value` as JSON can carry it exactly: Decimals (money) as strings, times in ISO 8601,
    enums as their values, text storable; anything else as its text."""
    if isinstance(value, Enum):
        return json_safe(value.value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, Decimal):
        return format(value, "f")  # exact, and never in exponent notation ("1E-9")
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no NaN or Infinity
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(json_safe(key)): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    # A stray object must not cost the action its audit row (nor the action itself).
    return json_safe(str(value))


def audit_values(
    actor: Actor,
    action: AuditAction,
    target: str | None,
    details: Mapping[str, Any] | None = None,
    result: AuditResult = AuditResult.OK,
    *,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The column values of one audit_log row, checked and made storable (for a caller that
    puts the insert into its own statement; `record` is the plain way)."""
    return {
        "created_at": at or utcnow(),
        "actor_kind": ActorKind(actor.kind).value,
        "actor": storable_text(actor.id, ACTOR_MAX),
        "actor_name": storable_text(actor.name, ACTOR_NAME_MAX) if actor.name else None,
        "action": AuditAction(action).value,
        "target": storable_text(target, TARGET_MAX) if target else None,
        "details": json_safe(dict(details)) if details is not None else None,
        "result": AuditResult(result).value,
    }


def record(
    connection: Connection,
    actor: Actor,
    action: AuditAction,
    target: str | None,
    details: Mapping[str, Any] | None = None,
    result: AuditResult = AuditResult.OK,
    *,
    at: datetime | None = None,
) -> None:
    """Append one audit row inside the caller's transaction: it commits or rolls back with
    the change it describes."""
    connection.execute(
        AUDIT_LOG.insert(), audit_values(actor, action, target, details, result, at=at)
    )


CURSOR = IdCursor("audit", MAX_AUDIT_ID)


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None  # a Slack user id, "api", "system" or the id an API caller gave
    action: AuditAction | None = None
    result: AuditResult | None = None
    target: str | None = None  # exact, e.g. "trade 12" or "portfolio main"
    since: datetime | None = None  # at or after
    until: datetime | None = None  # before


class AuditService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def list(
        self, filters: AuditFilter, limit: int, cursor: str | None = None
    ) -> tuple[list[AuditEntry], str | None]:
        """Entries matching `filters`, newest first, `limit` at a time; the second value is
        the cursor of the next page (None on the last)."""
        query = select(AuditEntry)
        if filters.actor:
            query = query.where(AuditEntry.actor == filters.actor.strip())
        if filters.action:
            query = query.where(AuditEntry.action == filters.action.value)
        if filters.result:
            query = query.where(AuditEntry.result == filters.result.value)
        if filters.target:
            query = query.where(AuditEntry.target == filters.target.strip())
        if filters.since:
            query = query.where(AuditEntry.created_at >= filters.since)  # type: ignore[operator]
        if filters.until:
            query = query.where(AuditEntry.created_at < filters.until)  # type: ignore[operator]
        if cursor:
            query = query.where(AuditEntry.id < CURSOR.decode(cursor))  # type: ignore[operator]
        query = query.order_by(AuditEntry.id.desc()).limit(limit + 1)  # type: ignore[union-attr]
        with new_session(self.engine) as session:
            entries = list(session.exec(query).all())
        next_cursor = None
        if len(entries) > limit:
            entries = entries[:limit]
            last = entries[-1].id
            assert last is not None
            next_cursor = CURSOR.encode(last)
        return entries, next_cursor

    def record_refusal(
        self,
        actor: Actor,
        attempted: str,
        reason: str,
        *,
        target: str | None = None,
        channel_id: str | None = None,
    ) -> AuditEntry:
        """An attempt the Slack bot refused (user or channel not allowed): nothing was done,
        so the row is the whole transaction."""
        details = {"attempted": attempted, "reason": reason, "channel_id": channel_id}
        values = audit_values(
            actor, AuditAction.REFUSED_BY_BOT, target, details, AuditResult.REFUSED
        )
        with self.engine.begin() as connection:
            entry_id = connection.execute(
                AUDIT_LOG.insert().returning(AUDIT_LOG.c.id), values
            ).scalar_one()
        return AuditEntry(id=entry_id, **values)
