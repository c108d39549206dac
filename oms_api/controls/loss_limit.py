"""The daily loss limit: account-wide, today's P&L as Alpaca's dashboard shows it (equity minus
`last_equity`, the previous close). One monitor across all workers (it runs with the tracker).

A breach starts the emergency stop with the reason spelled out ("daily loss -$2,134.50 reached
the -$2,000 limit"), once a trading day: after someone resumes, the same day's loss does not stop
trading again. At 80 % of the limit a warning alert goes out, once a day.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from oms_api.alerts.outbox import AlertKind, enqueue
from oms_api.audit.models import AuditEntry
from oms_api.audit.service import Actor, AuditAction, record
from oms_api.broker.models import BrokerRejected, BrokerUnavailable
from oms_api.controls.stop import EmergencyStops

log = logging.getLogger(__name__)

NEW_YORK = ZoneInfo("America/New_York")
AUDIT = AuditEntry.__table__  # type: ignore[attr-defined]
WARNING_FRACTION = Decimal("0.8")


def money(value: Decimal) -> str:
    """-$2,134.50; whole dollars without cents: -$2,000."""
    sign = "-" if value < 0 else ""
    amount = abs(value)
    text = f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"
    return f"{sign}${text}"


@dataclass(frozen=True)
class LossCheck:
    daily_pl: Decimal
    limit: Decimal
    breached: bool
    warned: bool


class LossLimitMonitor:
    def __init__(
        self,
        engine: Engine,
        broker: object,
        stops: EmergencyStops,
        limit: Decimal | None,
        mode: str,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.broker = broker
        self.stops = stops
        self.limit = limit
        self.mode = mode
        self.now = now

    def check(self) -> LossCheck | None:
        """One look at the account; a breach starts the stop (once a trading day)."""
        if self.limit is None:
            return None
        try:
            account = self.broker.get_account()  # type: ignore[attr-defined]
        except (BrokerUnavailable, BrokerRejected) as error:
            log.warning("loss limit: the account could not be read (%s)", error)
            return None
        if account.last_equity is None:
            return None
        daily = account.equity - account.last_equity
        limit = self.limit
        today = self.now().astimezone(NEW_YORK).date()
        body = {
            "daily_pl": str(daily),
            "limit": str(-limit),
            "fraction": str((-daily / limit).quantize(Decimal("0.0001"))),
            "mode": self.mode,
        }
        if daily <= -limit:
            if self._breached_on(today):
                return LossCheck(daily, limit, True, False)
            reason = f"daily loss {money(daily)} reached the {money(-limit)} limit"
            log.error("loss limit: %s — stopping", reason)
            with self.engine.begin() as connection:
                record(
                    connection,
                    Actor.system(),
                    AuditAction.LOSS_LIMIT_BREACH,
                    "account",
                    {**body, "reason": reason},
                )
                enqueue(
                    connection,
                    AlertKind.LOSS_LIMIT_BREACH,
                    "Daily loss limit reached",
                    body,
                    severity="critical",
                    dedupe_key=f"loss_breach:{today.isoformat()}",
                )
            stop = self.stops.start(Actor.system(), reason)
            if not stop.already_running:
                self.stops.run_in_background(stop.id)
            return LossCheck(daily, limit, True, False)
        if daily <= -limit * WARNING_FRACTION:
            with self.engine.begin() as connection:
                enqueue(
                    connection,
                    AlertKind.LOSS_LIMIT_WARNING,
                    "Daily loss at 80 % of the limit",
                    body,
                    severity="warning",
                    dedupe_key=f"loss_warning:{today.isoformat()}",
                )
            return LossCheck(daily, limit, False, True)
        return LossCheck(daily, limit, False, False)

    def _breached_on(self, day: date) -> bool:
        """A breach already stopped trading on this trading day (New York's date)."""
        start = datetime(day.year, day.month, day.day, tzinfo=NEW_YORK).astimezone(UTC)
        with self.engine.connect() as connection:
            count = connection.execute(
                select(func.count())
                .select_from(AUDIT)
                .where(
                    AUDIT.c.action == AuditAction.LOSS_LIMIT_BREACH.value,
                    AUDIT.c.created_at >= start,
                )
            ).scalar()
        return bool(count)
