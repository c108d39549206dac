"""One error shape everywhere: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from oms_api.errors import ServiceError
from oms_api.orders.requests import TradeRejected

log = logging.getLogger(__name__)


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status_code=status,
        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
    )


class PayloadTooLarge(StarletteHTTPException):
    """Raised from `receive` (oms_api.api.middleware) once a streamed body passes the limit.

    An HTTPException so that FastAPI, should it ever parse a body itself, passes it on instead
    of turning it into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")
        self.limit = limit


def payload_too_large_response(limit: int) -> JSONResponse:
    return error_response(
        413,
        "payload_too_large",
        f"request body is larger than {limit} bytes; nothing was written or sent",
        {"max_bytes": limit},
    )


def _field_path(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, error: ServiceError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.details)

    @app.exception_handler(TradeRejected)
    async def _trade_rejected(_: Request, error: TradeRejected) -> JSONResponse:
        details = {"field": error.field} if error.field else {}
        return error_response(error.status, error.code, error.message, details)

    @app.exception_handler(RequestValidationError)
    async def _malformed(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": _field_path(tuple(e.get("loc", ()))), "problem": e.get("msg", "invalid")}
            for e in error.errors()
        ]
        first = problems[0] if problems else {"field": "body", "problem": "invalid"}
        return error_response(
            422,
            "malformed_request",
            f"{first['field']}: {first['problem']}",
            {"problems": problems},
        )

    @app.exception_handler(PayloadTooLarge)
    async def _too_large(_: Request, error: PayloadTooLarge) -> JSONResponse:
        return payload_too_large_response(error.limit)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        codes = {
            401: "unauthorized",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
            415: "unsupported_media_type",
        }
        return error_response(
            error.status_code, codes.get(error.status_code, "http_error"), str(error.detail)
        )

    @app.exception_handler(OperationalError)
    async def _database_down(_: Request, error: OperationalError) -> JSONResponse:
        # A read or a portfolio write met a dead database (the order service says more
        # precisely whether anything was sent; these routes send nothing).
        log.error("database unavailable: %s", type(error.orig or error).__name__)
        return error_response(503, "database_unavailable", "database unavailable; try again")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; see the OMS log")
