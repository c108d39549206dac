"""Typed dependencies for the routes."""

from __future__ import annotations

import hmac
import re
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from oms_api.api.body import JsonBody, OptionalJsonBody
from oms_api.audit.schemas import CancelRequest, RefusalReport
from oms_api.audit.service import AuditService
from oms_api.config import Settings
from oms_api.market.service import MarketService
from oms_api.orders.requests import TradeRequest
from oms_api.orders.service import OrderService
from oms_api.portfolios.models import PortfolioCreate, PortfolioUpdate
from oms_api.portfolios.service import PortfolioService
from oms_api.risk.limits import LimitsService
from oms_api.risk.requests import PortfolioLimitsUpdate
from oms_api.runtime import Runtime

_bearer = HTTPBearer(auto_error=False)


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_settings_dep(runtime: RuntimeDep) -> Settings:
    return runtime.settings


async def get_orders(runtime: RuntimeDep) -> OrderService:
    return runtime.orders


async def get_portfolios(runtime: RuntimeDep) -> PortfolioService:
    return runtime.portfolios


async def get_market(runtime: RuntimeDep) -> MarketService:
    return runtime.market


async def get_audit(runtime: RuntimeDep) -> AuditService:
    return AuditService(runtime.engine)  # holds only the engine: nothing to share


async def get_limits(runtime: RuntimeDep) -> LimitsService:
    return LimitsService(runtime.engine)  # holds only the engine: nothing to share


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
OrdersDep = Annotated[OrderService, Depends(get_orders)]
PortfoliosDep = Annotated[PortfolioService, Depends(get_portfolios)]
MarketDep = Annotated[MarketService, Depends(get_market)]
AuditDep = Annotated[AuditService, Depends(get_audit)]
LimitsDep = Annotated[LimitsService, Depends(get_limits)]


async def require_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    expected = settings.oms_api_token
    supplied = credentials.credentials if credentials is not None else ""
    # Constant-time comparison; an unset token refuses everyone.
    if expected is None or not hmac.compare_digest(
        supplied.encode(), expected.get_secret_value().encode()
    ):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid bearer token")


IDEMPOTENCY_KEY_RULE = (
    "must be 1-200 visible ASCII characters (no spaces or control characters), "
    "or leave the header out"
)
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")


async def get_idempotency_key(
    request: Request,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Makes the request safe to retry: the same key with the same body "
            "answers with the first trade (200, `replayed: true`) instead of placing another; "
            "with a different body it is a 409. 1-200 visible ASCII characters (0x21-0x7E).",
            json_schema_extra={"minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
        ),
    ] = None,
) -> str | None:
    if key is None:
        return None
    # An empty key would be one key shared by every client that sends it; a repeated header
    # is ambiguous; control characters and non-ASCII would not survive every proxy or log.
    if len(request.headers.getlist("idempotency-key")) > 1 or not _IDEMPOTENCY_KEY.fullmatch(key):
        raise RequestValidationError(
            [
                {
                    "loc": ("header", "Idempotency-Key"),
                    "msg": IDEMPOTENCY_KEY_RULE,
                    "type": "idempotency_key",
                }
            ]
        )
    return key


IdempotencyKeyDep = Annotated[str | None, Depends(get_idempotency_key)]
TradeRequestBody = Annotated[TradeRequest, Depends(JsonBody(TradeRequest))]
PortfolioCreateBody = Annotated[PortfolioCreate, Depends(JsonBody(PortfolioCreate))]
PortfolioUpdateBody = Annotated[PortfolioUpdate, Depends(JsonBody(PortfolioUpdate))]
PortfolioLimitsBody = Annotated[PortfolioLimitsUpdate, Depends(JsonBody(PortfolioLimitsUpdate))]
CancelRequestBody = Annotated[CancelRequest, Depends(OptionalJsonBody(CancelRequest))]
RefusalReportBody = Annotated[RefusalReport, Depends(JsonBody(RefusalReport))]
