"""The account-wide trading state: ACTIVE, or HALTED (who, why, since).

While HALTED every new order is refused with 409 `trading_halted`; cancels still go through, and
so do a stop's own closing orders and emergency sells (they reduce risk). The state is one row,
so a restart while HALTED stays HALTED. Whether an order may be recorded is decided in the
statement that records it (`oms_api.orders.writer`), so a halt takes effect at once, from any
worker; this module changes the state, with its audit row and alert in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from oms_api.alerts.outbox import AlertKind, enqueue
from oms_api.audit.models import AuditResult
from oms_api.audit.service import Actor, AuditAction, record
from oms_api.controls.models import EmergencyStop, StopStatus, TradingState, TradingStateValue
from oms_api.errors import ServiceError

STATE = TradingState.__table__  # type: ignore[attr-defined]
STOPS = EmergencyStop.__table__  # type: ignore[attr-defined]

STATE_ID = 1


@dataclass(frozen=True)
class TradingStateView:
    state: str  # "active" | "halted"
    reason: str | None
    changed_by: str | None
    changed_by_name: str | None
    since: datetime
    stop_id: int | None
    stop_running: bool

    @property
    def halted(self) -> bool:
        return self.state == TradingStateValue.HALTED

    def refusal(self) -> ServiceError:
        """The answer to a new order while HALTED."""
        who = self.changed_by_name or self.changed_by or "someone"
        return ServiceError(
            409,
            "trading_halted",
            f"trading is halted (by {who} since {self.since.isoformat()}: "
            f"{self.reason or 'no reason given'}) — nothing was sent; an admin must resume it",
            {
                "halted_by": self.changed_by,
                "halted_by_name": self.changed_by_name,
                "reason": self.reason,
                "since": self.since.isoformat(),
                "stop_id": self.stop_id,
            },
        )


def read_state(connection: Connection) -> TradingStateView:
    row = connection.execute(select(STATE).where(STATE.c.id == STATE_ID)).mappings().first()
    running = connection.execute(
        select(STOPS.c.id).where(STOPS.c.status == StopStatus.RUNNING.value)
    ).first()
    if row is None:  # never changed (or an emptied test database): trading is on
        return TradingStateView(
            TradingStateValue.ACTIVE.value,
            None,
            None,
            None,
            datetime(1970, 1, 1, tzinfo=UTC),
            None,
            running is not None,
        )
    return TradingStateView(
        row["state"],
        row["reason"],
        row["changed_by"],
        row["changed_by_name"],
        row["changed_at"],
        row["stop_id"],
        running is not None,
    )


def set_state(
    connection: Connection,
    state: TradingStateValue,
    actor: Actor,
    reason: str,
    now: datetime,
    stop_id: int | None = None,
) -> None:
    """Write the state row (inside the caller's transaction)."""
    values: dict[str, Any] = {
        "state": state.value,
        "reason": reason[:500],
        "changed_by": actor.id[:100],
        "changed_by_name": actor.name[:100] if actor.name else None,
        "changed_at": now,
        "stop_id": stop_id,
    }
    updated = connection.execute(update(STATE).where(STATE.c.id == STATE_ID).values(values))
    if updated.rowcount == 0:
        connection.execute(STATE.insert().values(id=STATE_ID, **values))


class TradingStateService:
    def __init__(self, engine: Engine, mode: str, now: Any = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.mode = mode
        self.now = now

    def current(self) -> TradingStateView:
        with self.engine.connect() as connection:
            return read_state(connection)

    def halt(self, actor: Actor, reason: str) -> TradingStateView:
        """Refuse new orders from now on (without cancelling or closing anything)."""
        with self.engine.begin() as connection:
            before = read_state(connection)
            if before.halted:
                return before
            now = self.now()
            set_state(connection, TradingStateValue.HALTED, actor, reason, now)
            record(connection, actor, AuditAction.HALT, "trading", {"reason": reason})
            enqueue(
                connection,
                AlertKind.HALTED,
                "Trading halted",
                {
                    "reason": reason,
                    "by": actor.id,
                    "by_name": actor.name,
                    "stop_id": None,
                    "mode": self.mode,
                },
                severity="critical",
            )
            return read_state(connection)

    def resume(self, actor: Actor, reason: str) -> TradingStateView:
        """An explicit act; refused while a stop is still running."""
        with self.engine.begin() as connection:
            before = read_state(connection)
            if before.stop_running:
                record(
                    connection,
                    actor,
                    AuditAction.RESUME,
                    "trading",
                    {"reason": reason, "refused": "an emergency stop is still running"},
                    AuditResult.REFUSED,
                )
                refusal = ServiceError(
                    409,
                    "stop_running",
                    "an emergency stop is still running — trading can be resumed once it has "
                    "finished",
                    {"stop_id": before.stop_id},
                )
            elif not before.halted:
                return before
            else:
                set_state(connection, TradingStateValue.ACTIVE, actor, reason, self.now())
                record(connection, actor, AuditAction.RESUME, "trading", {"reason": reason})
                enqueue(
                    connection,
                    AlertKind.RESUMED,
                    "Trading resumed",
                    {"reason": reason, "by": actor.id, "by_name": actor.name, "mode": self.mode},
                )
                return read_state(connection)
        raise refusal
