"""Reconciliation: run it, read its reports, repair what it found (only when asked)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool

from oms_api.api.body import JsonBody, OptionalJsonBody
from oms_api.api.deps import RuntimeDep
from oms_api.api.openapi import error_responses
from oms_api.audit.service import Actor
from oms_api.reconcile.requests import MAX_ID, ReconcileRequest, RepairRequest
from oms_api.reconcile.views import (
    DEFAULT_PAGE,
    RepairOut,
    RepairResultOut,
    ReportOut,
    ReportPage,
)

router = APIRouter(tags=["reconciliation"])

ReconcileBody = Annotated[ReconcileRequest, Depends(OptionalJsonBody(ReconcileRequest))]
RepairBody = Annotated[RepairRequest, Depends(JsonBody(RepairRequest))]
ReportId = Annotated[int, Path(ge=1, le=MAX_ID, description="The reconcile report's id")]
Cursor = Annotated[str | None, Query(max_length=64)]


@router.post(
    "/reconcile", response_model=ReportOut, responses=error_responses(409, 413, 415, 422, 503)
)
async def reconcile(body: ReconcileBody, runtime: RuntimeDep) -> ReportOut:
    """Compare the OMS with the broker now (read-only: nothing is placed or cancelled) and
    answer the stored report. Waits for a run already in progress."""
    actor = Actor.of(body.requested_by, body.requested_by_name)
    result = await run_in_threadpool(runtime.reconciler.run, "manual", actor)
    return await run_in_threadpool(runtime.reconciler.reports.report, result.report_id)


@router.get("/reconcile/reports", response_model=ReportPage, responses=error_responses(400, 422))
def list_reports(
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Cursor = None,
) -> ReportPage:
    """Reports, newest first (without their discrepancies)."""
    return runtime.reconciler.reports.reports(limit, cursor)


@router.get(
    "/reconcile/reports/latest", response_model=ReportOut, responses=error_responses(400, 404, 422)
)
def latest_report(
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=200)] = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ReportOut:
    reads = runtime.reconciler.reports
    return reads.report(reads.latest_id(), limit, cursor)


@router.get(
    "/reconcile/reports/{report_id}",
    response_model=ReportOut,
    responses=error_responses(400, 404, 422),
)
def get_report(
    report_id: ReportId,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=200)] = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ReportOut:
    """One report with a page of its discrepancies."""
    return runtime.reconciler.reports.report(report_id, limit, cursor)


@router.post(
    "/reconcile/reports/{report_id}/repair",
    response_model=RepairOut,
    responses=error_responses(404, 409, 413, 415, 422, 503),
)
async def repair(report_id: ReportId, body: RepairBody, runtime: RuntimeDep) -> RepairOut:
    """Adopt missing broker orders, or bring statuses and fills in line with the broker, for
    the report's open discrepancies (or those listed). Audited; nothing is placed or
    cancelled."""
    actor = Actor.of(body.requested_by, body.requested_by_name)
    results = await run_in_threadpool(
        runtime.reconciler.repairs.repair,
        report_id,
        body.action,
        body.discrepancy_ids,
        actor,
        body.reason,
    )
    report = await run_in_threadpool(runtime.reconciler.reports.report, report_id)
    return RepairOut(
        report=report,
        repaired=sum(1 for r in results if r.repair_state == "repaired"),
        failed=sum(1 for r in results if r.repair_state == "failed"),
        results=[
            RepairResultOut(
                discrepancy_id=r.discrepancy_id, repair_state=r.repair_state, note=r.note
            )
            for r in results
        ],
    )
