"""Typed dependencies for the routes."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from oms_api.config import Settings
from oms_api.market.service import MarketService
from oms_api.orders.service import OrderService
from oms_api.portfolios.service import PortfolioService
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


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
OrdersDep = Annotated[OrderService, Depends(get_orders)]
PortfoliosDep = Annotated[PortfolioService, Depends(get_portfolios)]
MarketDep = Annotated[MarketService, Depends(get_market)]


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
