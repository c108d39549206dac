"""Reconciliation: compare the OMS's orders and the portfolios' holdings with the broker's truth
(the mirror the history sync keeps), store what differs as a report, alert on change, and
repair only when asked.

"Our database is the primary store; the broker is the source of truth for execution;
client_order_id links the two." A run never places or cancels anything: it syncs the mirror
(normally two broker calls), asks the broker directly for at most `lookup_cap` OMS orders the
mirror lacks, and compares (rules in `oms_api.reconcile.compare`).

Which orders are compared (the window): broker orders submitted since
max(now - lookback, baseline), plus every order still open at the broker, where the baseline is
the earlier of the OMS's first order and its first reconcile report (older broker history is
not drift); OMS orders created in the same window, plus every one still open in the OMS. An
order on one side whose counterpart is older than the window is still looked up by id.
Broker times are read on the broker's clock (the OMS's window is shifted by how far the
broker's clock is from ours: nothing in production, days against a simulator's manual clock).

Grace: an OMS order changed within `grace_seconds` is not judged yet (a fill may be in
flight), nor its symbol's position; an OMS order created within it is not reported missing at
the broker, nor a broker order first seen within it missing in the OMS (a stop's closing order
is adopted a moment after the broker makes it).

One run at a time across workers (advisory lock "oms-reconcile"; an on-demand run waits for a
running one). Scheduled and start-up runs post `reconcile_off` when something is off that the
last alert did not already report, and `reconcile_cleared` once everything agrees again;
on-demand runs never alert (the caller reads the report) and are audited.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection, Engine

from oms_api.alerts.outbox import AlertKind, enqueue
from oms_api.audit.service import Actor, AuditAction, record
from oms_api.broker.models import BrokerError, BrokerOrder, BrokerUnavailable
from oms_api.db.engine import singleton_lock
from oms_api.db.types import utcnow
from oms_api.errors import ServiceError
from oms_api.history.models import BROKER_OPEN_STATUSES, BrokerOrderRecord, BrokerPositionRecord
from oms_api.orders.enums import TERMINAL_STATUSES, OrderStatus
from oms_api.orders.ids import portfolio_id_of
from oms_api.orders.models import Order
from oms_api.portfolios.models import Portfolio
from oms_api.reconcile import compare
from oms_api.reconcile.compare import Finding
from oms_api.reconcile.models import ReconcileDiscrepancy, ReconcileReport
from oms_api.reconcile.repair import Repairs
from oms_api.reconcile.views import ReportReads

log = logging.getLogger(__name__)

ORDERS = Order.__table__  # type: ignore[attr-defined]
MIRROR = BrokerOrderRecord.__table__  # type: ignore[attr-defined]
POSITIONS = BrokerPositionRecord.__table__  # type: ignore[attr-defined]
PORTFOLIOS = Portfolio.__table__  # type: ignore[attr-defined]
REPORTS = ReconcileReport.__table__  # type: ignore[attr-defined]
DISCREPANCIES = ReconcileDiscrepancy.__table__  # type: ignore[attr-defined]

LOOKUP_CAP = 20
ALERT_LINES = 5
SYNC_RETRIES = 20  # another worker's sync: wait for it this many times, SYNC_WAIT apart
SYNC_WAIT_SECONDS = 0.5
Row = dict[str, Any]


@dataclass(frozen=True)
class ReconcileSettings:
    grace_seconds: float = 60.0
    lookback_days: int = 7
    lookup_cap: int = LOOKUP_CAP
    mode: str = "SIMULATOR"  # what alerts say


@dataclass(frozen=True)
class RunResult:
    report_id: int
    discrepancies: int
    alert: str | None


class Reconciler:
    """Runs (`run`), reads reports back (`reports`), repairs (`repairs`)."""

    def __init__(
        self,
        engine: Engine,
        gateway: Any,
        orders: Any,
        portfolios: Any,
        history: Any | None,
        settings: ReconcileSettings | None = None,
        *,
        now: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.gateway = gateway
        self.portfolios = portfolios  # PortfolioService: every portfolio's holdings
        self.settings = settings or ReconcileSettings()
        self.now = now
        self.sleep = sleep
        self.reports = ReportReads(engine)
        self.repairs = Repairs(engine, gateway, orders, history, now=now)
        self.history = history  # HistorySync (None: compare against the mirror as it is)

    @property
    def history(self) -> Any | None:
        return self._history

    @history.setter
    def history(self, sync: Any | None) -> None:
        self._history = sync
        self.repairs.history = sync

    # ------------------------------------------------------------------ running
    def run(self, trigger: str = "manual", actor: Actor | None = None) -> RunResult:
        """Sync the mirror, compare, store the report (and its alert or audit row). Waits for
        a run in progress elsewhere rather than failing."""
        if trigger not in ("startup", "schedule", "manual"):
            raise ValueError(f"unknown trigger {trigger!r}")
        with singleton_lock(self.engine, "oms-reconcile", blocking=True):
            sync_calls = self._sync()
            return self._compare_and_store(trigger, actor, sync_calls)

    def _sync(self) -> int:
        if self.history is None:
            return 0
        for _ in range(SYNC_RETRIES):
            try:
                result = self.history.run()
            except ServiceError as error:
                if error.code != "sync_running":
                    raise
                self.sleep(SYNC_WAIT_SECONDS)  # another worker brings the mirror up to date
                continue
            except BrokerUnavailable as error:
                raise _broker_down(error.error) from None
            return int(getattr(result, "broker_calls", 0))
        raise ServiceError(
            409, "sync_running", "the broker mirror is being synced elsewhere; try again shortly"
        )

    def _broker_offset(self) -> timedelta:
        """How far the broker's clock is from ours (the market clock is cached by the gateway:
        normally no broker call)."""
        try:
            return self.gateway.get_clock().timestamp - self.now()
        except Exception:
            log.warning("could not read the broker's clock; comparing on the OMS's clock")
            return timedelta(0)

    def _window(self, now: datetime) -> datetime:
        with self.engine.connect() as connection:
            first_order = connection.execute(select(func.min(ORDERS.c.created_at))).scalar()
            first_report = connection.execute(select(func.min(REPORTS.c.checked_at))).scalar()
        baseline = min([t for t in (first_order, first_report) if t is not None] or [now])
        return max(now - timedelta(days=self.settings.lookback_days), baseline)

    def _compare_and_store(self, trigger: str, actor: Actor | None, sync_calls: int) -> RunResult:
        now = self.now()
        window = self._window(now)
        broker_window = window + self._broker_offset()
        grace = timedelta(seconds=self.settings.grace_seconds)
        lookups = 0

        with self.engine.connect() as connection:
            oms_rows = _rows(
                connection,
                select(ORDERS).where(
                    or_(
                        ORDERS.c.created_at >= window,
                        ORDERS.c.status.not_in([s.value for s in TERMINAL_STATUSES]),
                    )
                ),
            )
            mirror_rows = _rows(
                connection,
                select(MIRROR).where(
                    MIRROR.c.parent_broker_order_id.is_(None),
                    or_(
                        MIRROR.c.submitted_at >= broker_window,
                        MIRROR.c.status.in_(sorted(BROKER_OPEN_STATUSES)),
                    ),
                ),
            )
            portfolio_names = dict(
                connection.execute(select(PORTFOLIOS.c.id, PORTFOLIOS.c.name)).all()
            )
            broker_positions = {
                symbol: Decimal(qty)
                for symbol, qty in connection.execute(select(POSITIONS.c.symbol, POSITIONS.c.qty))
            }
            pairs, lone_oms, lone_broker = _match(connection, oms_rows, mirror_rows)

        findings: list[Finding] = []
        checked = 0
        in_flight: set[str] = set()  # symbols with an order changed within the grace period

        def judge(oms: Row, broker: Row) -> None:
            nonlocal checked
            if now - oms["updated_at"] < grace:
                in_flight.add(oms["symbol"])
                return
            checked += 1
            findings.extend(compare.compare_order(oms, broker))

        for oms, broker in pairs:
            judge(oms, broker)

        for oms in lone_oms:
            status = OrderStatus(oms["status"])
            should_have = oms["broker_order_id"] is not None or status in compare.PAST_SUBMIT
            if now - oms["updated_at"] < grace:
                in_flight.add(oms["symbol"])
            if now - oms["created_at"] < grace:
                continue
            if not should_have and status not in compare.UNSETTLED:
                continue  # rejected or never sent: nothing for the broker to have
            if lookups >= self.settings.lookup_cap:
                log.info("reconcile: look-up cap reached; trade %s is checked next time", oms["id"])
                continue
            lookups += 1
            try:
                found = self.gateway.get_order_by_client_id(oms["client_order_id"])
            except BrokerUnavailable as error:
                log.warning("reconcile: could not look up trade %s: %s", oms["id"], error)
                continue
            if found is not None:
                self._record([found])
                judge(oms, compare.broker_row(found))
            elif should_have:
                checked += 1
                findings.append(compare.missing_at_broker(oms))
            # An unsettled order the broker does not have is the order core's recovery's.

        for broker in lone_broker:
            seen = broker.get("first_seen_at")
            if seen is not None and now - seen < grace:
                continue
            checked += 1
            owner = portfolio_id_of(str(broker.get("client_order_id") or ""))
            if owner not in portfolio_names:
                owner = None
            findings.append(
                compare.missing_in_oms(broker, owner, portfolio_names.get(owner) if owner else None)
            )

        totals: dict[str, Decimal] = {}
        for holdings in self.portfolios.all_holdings().values():
            for held in holdings:
                totals[held.symbol] = totals.get(held.symbol, Decimal(0)) + held.qty
        for symbol in in_flight:
            totals.pop(symbol, None)
            broker_positions.pop(symbol, None)
        compared, position_findings = compare.compare_positions(totals, broker_positions)
        checked += compared
        findings.extend(position_findings)

        # One finding per key (an order seen twice, e.g. by two ids, is reported once).
        unique = list({f.key: f for f in findings}.values())
        report = {
            "trigger": trigger,
            "requested_by": actor.id if actor else None,
            "checked": checked,
            "in_sync": checked - len({_subject(f) for f in unique}),
            "discrepancy_count": len(unique),
            "broker_calls": sync_calls + lookups,
            "window_start": broker_window,
            "fingerprint": compare.fingerprint(f.key for f in unique),
            "alert": None,
            "checked_at": now,
        }
        report["in_sync"] = max(report["in_sync"], 0)
        with self.engine.begin() as connection:
            alert = self._alert_due(connection, trigger, unique)
            report["alert"] = alert
            report_id = connection.execute(
                REPORTS.insert().returning(REPORTS.c.id), report
            ).scalar_one()
            if unique:
                connection.execute(
                    DISCREPANCIES.insert(),
                    [{**f.values(), "report_id": report_id} for f in unique],
                )
            if alert is not None:
                self._enqueue_alert(connection, alert, report_id, report, unique, portfolio_names)
            if trigger == "manual":
                record(
                    connection,
                    actor or Actor.of(None),
                    AuditAction.RECONCILE_RUN,
                    f"reconcile report {report_id}",
                    {"checked": checked, "discrepancies": len(unique)},
                )
        if unique:
            log.warning(
                "reconcile (%s): %d discrepancies, report %d", trigger, len(unique), report_id
            )
        return RunResult(report_id, len(unique), alert)

    def _record(self, found: list[BrokerOrder]) -> None:
        """Keep the mirror up to date with what a targeted look-up found."""
        if self.history is None:
            return
        try:
            self.history.record([order.raw for order in found if order.raw])
        except Exception:
            log.exception("could not record looked-up orders in the broker mirror")

    # ------------------------------------------------------------------ alerts
    def alert_failure(self, trigger: str, error: Exception) -> None:
        """A start-up or scheduled run that could not compare: the desk hears of it once per
        problem and hour (dedupe key), since nothing vouches for the books meanwhile."""
        message = error.message if isinstance(error, ServiceError) else str(error)
        message = message or error.__class__.__name__
        hour = self.now().strftime("%Y-%m-%dT%H")
        body = {"mode": self.settings.mode, "trigger": trigger, "error": message[:500]}
        try:
            with self.engine.begin() as connection:
                enqueue(
                    connection,
                    AlertKind.RECONCILE_OFF,
                    "Reconciliation could not run",
                    body,
                    severity="warning",
                    dedupe_key=f"reconcile_failed:{trigger}:{hour}",
                )
        except Exception:
            log.exception("could not record the alert for a failed reconciliation")

    def _alert_due(
        self, connection: Connection, trigger: str, findings: list[Finding]
    ) -> str | None:
        """'off' when this run finds something the last alert did not already report, 'cleared'
        when everything agrees after an 'off'; None otherwise (and always for manual runs)."""
        if trigger == "manual":
            return None
        last = connection.execute(
            select(REPORTS.c.id, REPORTS.c.alert)
            .where(REPORTS.c.alert.is_not(None))
            .order_by(REPORTS.c.id.desc())
            .limit(1)
        ).first()
        if not findings:
            return "cleared" if last is not None and last.alert == "off" else None
        if last is None or last.alert != "off":
            return "off"
        reported = set(
            connection.execute(
                select(DISCREPANCIES.c.key).where(DISCREPANCIES.c.report_id == last.id)
            ).scalars()
        )
        return "off" if {f.key for f in findings} - reported else None

    def _enqueue_alert(
        self,
        connection: Connection,
        alert: str,
        report_id: int,
        report: Row,
        findings: list[Finding],
        portfolio_names: dict[int, str],
    ) -> None:
        body: dict[str, Any] = {
            "mode": self.settings.mode,
            "report_id": report_id,
            "trigger": report["trigger"],
            "checked": report["checked"],
            "in_sync": report["in_sync"],
            "discrepancy_count": report["discrepancy_count"],
        }
        if alert == "off":
            by_kind: dict[str, int] = {}
            for finding in findings:
                by_kind[finding.kind] = by_kind.get(finding.kind, 0) + 1
            body["by_kind"] = by_kind
            body["lines"] = [f.message for f in findings[:ALERT_LINES]]
            body["more"] = max(len(findings) - ALERT_LINES, 0)
            body["repairable"] = {
                action: sum(1 for f in findings if f.repair == action)
                for action in ("adopt", "refresh")
            }
            count = len(findings)
            title = (
                f"Reconciliation: {count} discrepanc{'y' if count == 1 else 'ies'} with the broker"
            )
            enqueue(
                connection,
                AlertKind.RECONCILE_OFF,
                title,
                body,
                severity="warning",
                dedupe_key=f"reconcile_off:{report_id}",
            )
        else:
            enqueue(
                connection,
                AlertKind.RECONCILE_CLEARED,
                "Reconciliation: the OMS and the broker agree again",
                body,
                dedupe_key=f"reconcile_cleared:{report_id}",
            )


def _subject(finding: Finding) -> str:
    """What a finding is about (an order or a symbol): in_sync counts subjects, not findings."""
    if finding.kind == "position_mismatch":
        return f"symbol:{finding.symbol}"
    return f"order:{finding.broker_order_id or finding.order_id}"


def _rows(connection: Connection, query: Any) -> list[Row]:
    return [dict(row._mapping) for row in connection.execute(query)]


def _match(
    connection: Connection, oms_rows: list[Row], mirror_rows: list[Row]
) -> tuple[list[tuple[Row, Row]], list[Row], list[Row]]:
    """Pair OMS orders with broker orders (broker id, else client_order_id), looking beyond
    the window for the counterpart of an order left alone. Returns the pairs, the OMS orders
    the mirror lacks and the broker orders the OMS lacks."""
    mirror = {row["broker_order_id"]: row for row in mirror_rows}
    oms = {row["id"]: row for row in oms_rows}

    def pair_up() -> tuple[list[tuple[Row, Row]], list[Row]]:
        by_client = {str(row["client_order_id"])[:48]: row for row in mirror.values()}
        pairs: list[tuple[Row, Row]] = []
        alone: list[Row] = []
        for order in oms.values():
            found = mirror.get(order["broker_order_id"]) if order["broker_order_id"] else None
            found = found or by_client.get(order["client_order_id"])
            if found is None:
                alone.append(order)
            else:
                pairs.append((order, found))
        return pairs, alone

    pairs, alone = pair_up()
    if alone:  # their broker orders may be older than the window
        broker_ids = [o["broker_order_id"] for o in alone if o["broker_order_id"]]
        client_ids = [o["client_order_id"] for o in alone]
        for row in _rows(
            connection,
            select(MIRROR).where(
                MIRROR.c.parent_broker_order_id.is_(None),
                or_(
                    MIRROR.c.broker_order_id.in_(broker_ids),
                    MIRROR.c.client_order_id.in_(client_ids),
                ),
            ),
        ):
            mirror.setdefault(row["broker_order_id"], row)
    paired = {id(broker) for _, broker in pairs}
    lone_broker = [row for row in mirror.values() if id(row) not in paired]
    if lone_broker:  # their OMS orders may be older than the window
        for row in _rows(
            connection,
            select(ORDERS).where(
                or_(
                    ORDERS.c.broker_order_id.in_([r["broker_order_id"] for r in lone_broker]),
                    ORDERS.c.client_order_id.in_(
                        [str(r["client_order_id"])[:48] for r in lone_broker]
                    ),
                )
            ),
        ):
            oms.setdefault(row["id"], row)
    pairs, alone = pair_up()
    paired = {row["broker_order_id"] for _, row in pairs}
    lone_broker = [row for row in mirror.values() if row["broker_order_id"] not in paired]
    return pairs, alone, lone_broker


def _broker_down(error: BrokerError) -> ServiceError:
    return ServiceError(
        503,
        "broker_unavailable",
        f"could not bring the broker mirror up to date ({error.message}); nothing was compared",
    )
