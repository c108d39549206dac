"""GET /health: no auth and no secrets; what an operator or Render's health check needs.

It answers from what the OMS already knows (the database, the trade stream, how the broker
last answered) and never calls the broker itself: an unauthenticated request must not spend the
broker request budget. The broker is probed in the background, only when no request to it
succeeded for BROKER_PROBE_SECONDS.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from oms_api import __version__
from oms_api.api.deps import RuntimeDep
from oms_api.api.schemas import HealthView

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthView,
    responses={503: {"model": HealthView, "description": "The database is unavailable."}},
)
async def health(runtime: RuntimeDep) -> JSONResponse:
    database_ok = await run_in_threadpool(runtime.database_ok)
    settings = runtime.settings
    contact = runtime.gateway.contact
    # A good answer counts while it is recent: the probe renews it when nothing else does.
    fresh_for = 3 * float(settings.broker_probe_seconds)
    last_ok = contact.last_ok_at
    broker_ok = (
        last_ok is not None
        and contact.failure is None
        and (datetime.now(UTC) - last_ok).total_seconds() <= fresh_for
    )
    view = HealthView(
        status="ok" if database_ok and broker_ok else "degraded",
        database="ok" if database_ok else "unavailable",
        alpaca_connected=broker_ok,
        stream_connected=runtime.stream_connected,
        mode=settings.mode.value,
        version=__version__,
        broker_host=settings.broker_endpoint.host,
        broker_allowed_by_setting=settings.custom_broker_host is not None,
        broker_last_ok_at=last_ok,
        broker_problem=contact.failure,
    )
    # The service stays up (200) when only the broker is down; a dead database is a 503.
    return JSONResponse(view.model_dump(mode="json"), status_code=200 if database_ok else 503)
