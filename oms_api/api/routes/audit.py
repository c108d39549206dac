"""The audit trail: read it with filters and pages; the Slack bot reports what it refused."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from oms_api.api.deps import AuditDep, RefusalReportBody
from oms_api.api.openapi import error_responses
from oms_api.api.params import UtcTime
from oms_api.audit.models import AuditResult
from oms_api.audit.schemas import AuditEntryPublic, AuditPage
from oms_api.audit.service import Actor, AuditAction, AuditFilter
from oms_api.orders.requests import StorableText

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=AuditPage, responses=error_responses(400, 422))
def list_audit(
    audit: AuditDep,
    actor: Annotated[
        StorableText | None,
        Query(max_length=100, description="A Slack user id, `api` or `system`."),
    ] = None,
    action: AuditAction | None = None,
    result: AuditResult | None = None,
    target: Annotated[
        StorableText | None,
        Query(max_length=200, description='Exactly, e.g. "trade 12" or "portfolio main".'),
    ] = None,
    since: Annotated[
        UtcTime,
        Query(
            description="Entries at or after this ISO 8601 time; without an offset it is "
            "read as UTC."
        ),
    ] = None,
    until: Annotated[
        UtcTime,
        Query(
            description="Entries before this ISO 8601 time; without an offset it is read as UTC."
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        StorableText | None, Query(description="`next_cursor` of the previous page.")
    ] = None,
) -> AuditPage:
    """Who did what, newest first."""
    filters = AuditFilter(actor, action, result, target, since, until)
    entries, next_cursor = audit.list(filters, limit, cursor)
    return AuditPage(
        entries=[AuditEntryPublic.model_validate(e.model_dump()) for e in entries],
        next_cursor=next_cursor,
    )


@router.post(
    "/audit/refusals",
    response_model=AuditEntryPublic,
    status_code=201,
    responses=error_responses(413, 415, 422),
)
def record_refusal(report: RefusalReportBody, audit: AuditDep) -> AuditEntryPublic:
    """The Slack bot refused an attempt (user or channel not allowed): nothing was done, and
    this says who tried what, where, and why it was refused."""
    entry = audit.record_refusal(
        Actor.of(report.actor, report.actor_name),
        report.action,
        report.reason,
        target=report.target,
        channel_id=report.channel_id,
    )
    return AuditEntryPublic.model_validate(entry.model_dump())
