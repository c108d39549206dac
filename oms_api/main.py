"""The FastAPI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.concurrency import run_in_threadpool

from oms_api import __version__
from oms_api.api.deps import require_token
from oms_api.api.errors import install_error_handlers
from oms_api.api.middleware import BodySizeLimit
from oms_api.api.openapi import error_responses, install_openapi
from oms_api.api.routes import (
    alerts,
    audit,
    controls,
    health,
    history,
    market,
    pnl,
    portfolios,
    reconcile,
    trades,
)
from oms_api.config import ConfigError, Settings, get_settings
from oms_api.runtime import Runtime

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    gateway: Any = None,
    runtime: Runtime | None = None,
    background: bool = True,
) -> FastAPI:
    settings = settings or get_settings()
    if settings.oms_api_token is None or not settings.oms_api_token.get_secret_value():
        raise ConfigError(
            "configuration error: OMS_API_TOKEN: required — set a long random token "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    rt = runtime or Runtime.build(settings, gateway=gateway)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Settle what a previous run left open before any new trade is accepted.
        await run_in_threadpool(rt.start, background)
        custom = settings.custom_broker_host
        log.info(
            "OMS API ready (mode %s, broker %s%s)",
            settings.mode.value,
            settings.broker_endpoint.host,
            ", allowed by ALPACA_ALLOWED_HOST" if custom else "",
        )
        try:
            yield
        finally:
            await run_in_threadpool(rt.stop)

    app = FastAPI(
        title="Alpaca Slack OMS",
        version=__version__,
        description="Order management over Alpaca. Every route but /health needs "
        "`Authorization: Bearer $OMS_API_TOKEN`.",
        lifespan=lifespan,
    )
    app.state.runtime = rt
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit)
    app.include_router(health.router)
    app.include_router(api_router(), prefix="/api/v1")
    install_openapi(app)
    return app


@cache
def api_router() -> APIRouter:
    """Every /api/v1 route behind the bearer token, put together once per process: FastAPI's
    work of building the routes is then shared by every app made from it (tests make many)."""
    api = APIRouter(dependencies=[Depends(require_token)], responses=error_responses(401))
    for routes in (trades, portfolios, market, pnl, audit, alerts, controls, history, reconcile):
        api.include_router(routes.router)
    return api


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` / several workers: settings from the environment."""
    return create_app(get_settings())
