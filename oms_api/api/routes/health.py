"""GET /health: no auth and no secrets; what an operator or Render's health check needs."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from oms_api import __version__
from oms_api.api.deps import RuntimeDep
from oms_api.api.schemas import HealthView

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthView)
async def health(runtime: RuntimeDep) -> JSONResponse:
    database_ok = await run_in_threadpool(runtime.database_ok)
    broker_ok = await run_in_threadpool(runtime.gateway.ping)
    view = HealthView(
        status="ok" if database_ok and broker_ok else "degraded",
        database="ok" if database_ok else "unavailable",
        alpaca_connected=broker_ok,
        stream_connected=runtime.stream_connected,
        mode=runtime.settings.mode.value,
        version=__version__,
    )
    # The service stays up (200) when only the broker is down; a dead database is a 503.
    return JSONResponse(view.model_dump(), status_code=200 if database_ok else 503)
