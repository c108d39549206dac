"""Reading reconcile reports back, and the shapes the API answers with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from oms_api.cursors import IdCursor
from oms_api.errors import ServiceError
from oms_api.portfolios.models import Portfolio
from oms_api.reconcile.models import REPAIRS, ReconcileDiscrepancy, ReconcileReport

REPORTS = ReconcileReport.__table__  # type: ignore[attr-defined]
DISCREPANCIES = ReconcileDiscrepancy.__table__  # type: ignore[attr-defined]
PORTFOLIOS = Portfolio.__table__  # type: ignore[attr-defined]

MAX_ID = 2**31 - 1  # INTEGER ids on PostgreSQL
REPORT_CURSOR = IdCursor("reconcile_report", MAX_ID)
DISCREPANCY_CURSOR = IdCursor("reconcile_discrepancy", MAX_ID)
DEFAULT_PAGE = 50


class DiscrepancyOut(BaseModel):
    id: int
    kind: str = Field(
        description="missing_in_oms | missing_at_broker | status_mismatch | "
        "filled_qty_mismatch | price_mismatch | position_mismatch"
    )
    symbol: str | None
    order_id: int | None = Field(description="the OMS trade id, if there is one")
    broker_order_id: str | None
    client_order_id: str | None
    portfolio: str | None = Field(description="the portfolio's name (null: none, or external)")
    oms_value: str | None
    broker_value: str | None
    message: str = Field(description="one line saying what differs")
    repair: str | None = Field(description="adopt | refresh | null (report only)")
    repair_state: str = Field(description="open | repaired | failed")
    repaired_at: datetime | None
    repaired_by: str | None
    repair_note: str | None


class ReportSummaryOut(BaseModel):
    id: int
    trigger: str = Field(description="startup | schedule | manual")
    requested_by: str | None
    checked: int = Field(description="orders and symbols compared")
    in_sync: int = Field(description="of those, how many agree")
    discrepancy_count: int
    checked_at: datetime
    window_start: datetime | None = Field(
        description="broker orders submitted from here on (broker time) were compared"
    )
    broker_calls: int
    by_kind: dict[str, int]
    repairable: dict[str, int] = Field(description="open discrepancies each repair fixes")


class ReportOut(ReportSummaryOut):
    discrepancies: list[DiscrepancyOut]
    next_cursor: str | None


class ReportPage(BaseModel):
    reports: list[ReportSummaryOut]
    next_cursor: str | None


class RepairResultOut(BaseModel):
    discrepancy_id: int
    repair_state: str
    note: str | None


class RepairOut(BaseModel):
    report: ReportOut
    repaired: int
    failed: int
    results: list[RepairResultOut]


def report_not_found(report_id: int | None = None) -> ServiceError:
    what = f"no reconcile report {report_id}" if report_id else "no reconcile report yet"
    return ServiceError(404, "report_not_found", what, {"report_id": report_id})


def _summary(connection: Connection, row: Any) -> dict[str, Any]:
    by_kind = dict(
        connection.execute(
            select(DISCREPANCIES.c.kind, func.count())
            .where(DISCREPANCIES.c.report_id == row.id)
            .group_by(DISCREPANCIES.c.kind)
        ).all()
    )
    open_repairs = dict(
        connection.execute(
            select(DISCREPANCIES.c.repair, func.count())
            .where(
                DISCREPANCIES.c.report_id == row.id,
                DISCREPANCIES.c.repair.is_not(None),
                DISCREPANCIES.c.repair_state == "open",
            )
            .group_by(DISCREPANCIES.c.repair)
        ).all()
    )
    return {
        "id": row.id,
        "trigger": row.trigger,
        "requested_by": row.requested_by,
        "checked": row.checked,
        "in_sync": row.in_sync,
        "discrepancy_count": row.discrepancy_count,
        "checked_at": row.checked_at,
        "window_start": row.window_start,
        "broker_calls": row.broker_calls,
        "by_kind": by_kind,
        "repairable": {action: int(open_repairs.get(action, 0)) for action in REPAIRS},
    }


class ReportReads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def latest_id(self) -> int:
        with self.engine.connect() as connection:
            report_id = connection.execute(select(func.max(REPORTS.c.id))).scalar()
        if report_id is None:
            raise report_not_found()
        return int(report_id)

    def report(
        self, report_id: int, limit: int = DEFAULT_PAGE, cursor: str | None = None
    ) -> ReportOut:
        """One report with a page of its discrepancies (in the order found)."""
        after = DISCREPANCY_CURSOR.decode(cursor) if cursor else 0
        with self.engine.connect() as connection:
            row = connection.execute(select(REPORTS).where(REPORTS.c.id == report_id)).first()
            if row is None:
                raise report_not_found(report_id)
            summary = _summary(connection, row)
            rows = connection.execute(
                select(DISCREPANCIES, PORTFOLIOS.c.name.label("portfolio"))
                .outerjoin(PORTFOLIOS, PORTFOLIOS.c.id == DISCREPANCIES.c.portfolio_id)
                .where(DISCREPANCIES.c.report_id == report_id, DISCREPANCIES.c.id > after)
                .order_by(DISCREPANCIES.c.id)
                .limit(limit + 1)
            ).all()
        items = [DiscrepancyOut.model_validate(dict(r._mapping)) for r in rows[:limit]]
        next_cursor = DISCREPANCY_CURSOR.encode(items[-1].id) if len(rows) > limit else None
        return ReportOut(**summary, discrepancies=items, next_cursor=next_cursor)

    def reports(self, limit: int, cursor: str | None = None) -> ReportPage:
        """Reports, newest first."""
        query = select(REPORTS).order_by(REPORTS.c.id.desc()).limit(limit + 1)
        if cursor:
            query = query.where(REPORTS.c.id < REPORT_CURSOR.decode(cursor))
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
            summaries = [ReportSummaryOut(**_summary(connection, r)) for r in rows[:limit]]
        next_cursor = REPORT_CURSOR.encode(summaries[-1].id) if len(rows) > limit else None
        return ReportPage(reports=summaries, next_cursor=next_cursor)
