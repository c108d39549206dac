"""The simulator's HTTP face: Alpaca's Trading API v2, Market Data latest endpoints, the
trade_updates websocket and a control API under /_sim.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.websockets import WebSocket

from oms_api.simulator.alpaca_routes import data_router, trading_router
from oms_api.simulator.clock import WallClock
from oms_api.simulator.control_routes import control_router
from oms_api.simulator.errors import SimAPIError
from oms_api.simulator.gate import BrokerReplyMiddleware, QuietDroppedReplies
from oms_api.simulator.serving import SimJSONResponse, Simulator

__all__ = ["Simulator", "create_app"]

log = logging.getLogger(__name__)

# Alpaca's bodies for a path it does not serve and for a method a path does not take.
ROUTING_ERRORS = {
    404: {"code": 40410000, "message": "endpoint not found"},
    405: {"code": 40510000, "message": "method not allowed"},
}
# Paths that are the simulator's own, not Alpaca's: they keep FastAPI's error shapes.
OWN_PATH_PREFIXES = ("/_sim", "/docs", "/redoc", "/openapi.json")


def _speaks_alpaca(request: Request) -> bool:
    return not request.url.path.startswith(OWN_PATH_PREFIXES)


def _methods_on_path(request: Request) -> list[str]:
    """The methods some route serves on this request's path."""

    def served(method: str) -> bool:
        scope = {**request.scope, "method": method}
        return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)

    return [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if served(m)]


def create_app(sim: Simulator) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logging.getLogger("uvicorn.error").addFilter(QuietDroppedReplies())
        ticker = None
        if isinstance(sim.broker.clock, WallClock):
            ticker = asyncio.create_task(_tick_forever(sim))
        try:
            yield
        finally:
            sim.hub.disconnect_all()
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker

    app = FastAPI(
        title="Alpaca simulator",
        description="Speaks Alpaca's Trading API v2, Market Data and trade_updates; see /_sim.",
        lifespan=lifespan,
        default_response_class=SimJSONResponse,
    )
    app.state.sim = sim
    app.add_middleware(BrokerReplyMiddleware)

    @app.exception_handler(SimAPIError)
    async def _sim_error(request: Request, error: SimAPIError) -> Response:
        return SimJSONResponse(error.body, status_code=error.status)

    @app.exception_handler(StarletteHTTPException)
    async def _routing_error(request: Request, error: StarletteHTTPException) -> Response:
        body = ROUTING_ERRORS.get(error.status_code)
        if body is None or not _speaks_alpaca(request):
            return await http_exception_handler(request, error)
        headers = dict(error.headers or {})
        if error.status_code == 405:
            # Starlette names only the first route on the path; every method the path takes.
            headers["Allow"] = ", ".join(_methods_on_path(request))
        return SimJSONResponse(body, status_code=error.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> Response:
        if not _speaks_alpaca(request):
            return await request_validation_exception_handler(request, error)
        first = error.errors()[0]
        name = str(first["loc"][-1]) if first.get("loc") else "request"
        message = f"{name} is required" if first.get("type") == "missing" else f"invalid {name}"
        return SimJSONResponse({"code": 42210000, "message": message}, status_code=422)

    app.include_router(trading_router())
    app.include_router(data_router())
    app.include_router(control_router())

    @app.websocket("/stream")
    async def trade_updates(websocket: WebSocket) -> None:
        await sim.hub.serve(websocket)

    return app


async def _tick_forever(sim: Simulator) -> None:
    while True:
        await asyncio.sleep(0.25)
        try:
            sim.broker.tick()
            await sim.held.release_due()
        except Exception:  # one bad step must not stop the market
            log.exception("simulator tick failed")
