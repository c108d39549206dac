"""POST /trade, cancel, list and show trades."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from oms_api.api.deps import OrdersDep, RuntimeDep
from oms_api.api.errors import error_response
from oms_api.api.schemas import TradeDetail, TradePage, TradeResult
from oms_api.orders.enums import OrderStatus, Side
from oms_api.orders.models import FillPublic, OrderEventPublic, TradePublic
from oms_api.orders.queries import TradeFilter, events_of, list_trades
from oms_api.orders.requests import TradeRequest
from oms_api.orders.service import TradeOutcome

router = APIRouter(tags=["trades"])


def _result(outcome: TradeOutcome, mode: str) -> TradeResult:
    public = TradePublic.model_validate(
        {**outcome.order.model_dump(), "portfolio": outcome.portfolio_name}
    )
    clock = outcome.clock
    return TradeResult(
        **public.model_dump(),
        fills=[FillPublic.model_validate(f.model_dump()) for f in outcome.fills],
        market_open=clock.is_open if clock else None,
        next_open=clock.next_open if clock else None,
        mode=mode,
        replayed=outcome.replayed,
    )


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        # {"qty": 2, "qty": 3} is ambiguous: refuse it rather than guess which one was meant.
        raise ValueError(f"duplicate field {duplicates[0]!r}")
    return dict(pairs)


def _malformed(message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body",), "msg": message, "type": "json_invalid"}])


async def _trade_request(request: Request) -> TradeRequest:
    raw = await request.body()
    try:
        # Decimals stay exact: JSON numbers are parsed as Decimal, never float.
        body = json.loads(raw or b"null", parse_float=Decimal, object_pairs_hook=_no_duplicate_keys)
    except ValueError as error:
        reason = str(error) if str(error).startswith("duplicate field") else "not valid JSON"
        raise _malformed(f"body is {reason}" if reason == "not valid JSON" else reason) from None
    if not isinstance(body, dict):
        raise _malformed("body must be a JSON object with the trade's fields")
    try:
        return TradeRequest.model_validate(body)
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None


@router.post(
    "/trade",
    response_model=TradeResult,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": TradeRequest.model_json_schema()}},
            "required": True,
        }
    },
)
async def place_trade(
    request: Request,
    orders: OrdersDep,
    runtime: RuntimeDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    trade = await _trade_request(request)
    outcome = await run_in_threadpool(orders.place_trade, trade, idempotency_key)
    result = _result(outcome, runtime.settings.mode.value)
    body = result.model_dump(mode="json")
    if outcome.error is not None:
        error = outcome.error
        return error_response(
            error.status, error.code, error.message, {**error.details, "trade": body}
        )
    return JSONResponse(body, status_code=200 if outcome.replayed else 201)


@router.post("/trades/{trade_id}/cancel", response_model=TradeResult)
def cancel_trade(trade_id: int, orders: OrdersDep, runtime: RuntimeDep) -> TradeResult:
    outcome = orders.outcome_of(orders.cancel(trade_id))
    return _result(outcome, runtime.settings.mode.value)


@router.get("/trades", response_model=TradePage)
def get_trades(
    runtime: RuntimeDep,
    portfolio: str | None = None,
    symbol: str | None = None,
    status: OrderStatus | None = None,
    side: Side | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> TradePage:
    filters = TradeFilter(portfolio, symbol, status, side, since, until)
    rows, next_cursor = list_trades(runtime.engine, filters, limit, cursor)
    trades = [
        TradePublic.model_validate({**order.model_dump(), "portfolio": name})
        for order, name in rows
    ]
    return TradePage(trades=trades, next_cursor=next_cursor)


@router.get("/trades/{trade_id}", response_model=TradeDetail)
def get_trade(trade_id: int, orders: OrdersDep, runtime: RuntimeDep) -> TradeDetail:
    outcome = orders.outcome_of(orders.get_order(trade_id))
    result = _result(outcome, runtime.settings.mode.value)
    events = [
        OrderEventPublic.model_validate(e.model_dump()) for e in events_of(runtime.engine, trade_id)
    ]
    return TradeDetail(**result.model_dump(), events=events)
