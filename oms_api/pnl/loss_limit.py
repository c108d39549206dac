"""Each portfolio's daily loss limit: when an active portfolio's P&L today reaches minus its
`daily_loss_limit`, it is paused (no new orders; nothing is closed) with the reason spelled out
("daily loss -$2,134.50 reached the -$2,000 limit") and a `portfolio_loss_limit` alert.

Once per portfolio per trading day (New York's date): after someone resumes it, the same day's
loss does not pause it again. The day's loss alert (its dedupe key names the portfolio and the
day) and the day's pause, audited by the OMS itself with that reason, are what say so. It runs
with the tracker, next to the account's limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.engine import Engine

from oms_api.alerts.outbox import ALERTS, AlertKind, enqueue
from oms_api.audit.models import ActorKind, AuditEntry
from oms_api.audit.service import Actor, AuditAction
from oms_api.controls.loss_limit import money
from oms_api.orders.enums import PortfolioStatus
from oms_api.pnl.service import NEW_YORK, PnlService
from oms_api.portfolios.models import Portfolio
from oms_api.portfolios.service import CENT

log = logging.getLogger(__name__)

AUDIT = AuditEntry.__table__  # type: ignore[attr-defined]
REASON_PREFIX = "daily loss "


@dataclass(frozen=True)
class PortfolioLossCheck:
    portfolio: str
    today_pnl: Decimal | None  # None: unknown (a price was missing)
    limit: Decimal
    paused: bool  # paused by this check


def loss_reason(today_pnl: Decimal, limit: Decimal) -> str:
    return f"{REASON_PREFIX}{money(today_pnl)} reached the {money(-limit)} limit"


class PortfolioLossLimitMonitor:
    def __init__(self, engine: Engine, pnl: PnlService, mode: str) -> None:
        self.engine = engine
        self.pnl = pnl  # its clock (`pnl.now`) says which trading day it is
        self.mode = mode

    def check(self) -> list[PortfolioLossCheck]:
        """One look at the broker's positions for every active portfolio with a limit; each
        one at or past its limit is paused (once a trading day)."""
        watched = [
            p
            for p in self.pnl.portfolios.list()
            if p.status == PortfolioStatus.ACTIVE.value and p.daily_loss_limit is not None
        ]
        if not watched:
            return []  # no broker request when there is nothing to watch
        at_broker = self.pnl.broker_positions()
        if at_broker is None:
            log.warning("portfolio loss limits: the broker's positions could not be read")
            return []
        now = self.pnl.now()
        today = now.astimezone(NEW_YORK).date()
        figures = self.pnl.by_portfolio(at_broker, now)
        checks = []
        for portfolio in watched:
            assert portfolio.id is not None and portfolio.daily_loss_limit is not None
            limit = portfolio.daily_loss_limit
            figure = figures.get(portfolio.id)
            daily = figure.today_pnl if figure is not None else Decimal(0)
            paused = False
            if daily is not None and daily <= -limit and not self._paused_on(portfolio, today):
                self._pause(portfolio, daily, limit, today)
                paused = True
            checks.append(PortfolioLossCheck(portfolio.name, daily, limit, paused))
        return checks

    def _pause(self, portfolio: Portfolio, daily: Decimal, limit: Decimal, today: date) -> None:
        reason = loss_reason(daily, limit)
        log.error("portfolio %s: %s, pausing it", portfolio.name, reason)
        # The pause (its audit row and `portfolio_paused` alert) commits first: it is what
        # must happen; the loss alert follows, once a day per portfolio.
        self.pnl.portfolios.pause(portfolio.name, Actor.system(), reason)
        body = {
            "portfolio": portfolio.name,
            "daily_pl": daily,
            "limit": (-limit).quantize(CENT),
            "fraction": (-daily / limit).quantize(Decimal("0.0001")),
            "reason": reason,
            "mode": self.mode,
        }
        with self.engine.begin() as connection:
            enqueue(
                connection,
                AlertKind.PORTFOLIO_LOSS_LIMIT,
                f"Portfolio {portfolio.name} reached its daily loss limit",
                body,
                severity="critical",
                dedupe_key=_dedupe_key(portfolio, today),
            )

    def _paused_on(self, portfolio: Portfolio, day: date) -> bool:
        """The OMS already paused this portfolio for its daily loss on this trading day: its
        loss alert of the day is recorded, or (should the alert not have been written) the
        pause the OMS itself audited that day with a daily-loss reason."""
        start = datetime(day.year, day.month, day.day, tzinfo=NEW_YORK)
        end = datetime.combine(day + timedelta(days=1), time(0), NEW_YORK)
        with self.engine.connect() as connection:
            alerted = connection.execute(
                select(ALERTS.c.id).where(ALERTS.c.dedupe_key == _dedupe_key(portfolio, day))
            ).first()
            if alerted is not None:
                return True
            reasons = connection.execute(
                select(AUDIT.c.details).where(
                    AUDIT.c.action == AuditAction.PORTFOLIO_PAUSE.value,
                    AUDIT.c.actor_kind == ActorKind.SYSTEM.value,
                    AUDIT.c.target == f"portfolio {portfolio.name}",
                    AUDIT.c.created_at >= start.astimezone(UTC),
                    AUDIT.c.created_at < end.astimezone(UTC),
                )
            ).scalars()
            return any(
                isinstance(details, dict)
                and str(details.get("reason", "")).startswith(REASON_PREFIX)
                for details in reasons
            )


def _dedupe_key(portfolio: Portfolio, day: date) -> str:
    return f"portfolio_loss:{portfolio.id}:{day.isoformat()}"
