"""POST /trade, cancel, list and show trades."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from oms_api.api.deps import (
    CancelRequestBody,
    IdempotencyKeyDep,
    OrdersDep,
    RuntimeDep,
    TradeRequestBody,
)
from oms_api.api.errors import error_response
from oms_api.api.openapi import error_responses
from oms_api.api.params import TradeId, UtcTime
from oms_api.api.schemas import TradeDetail, TradePage, TradeResult
from oms_api.orders.enums import OrderStatus, Side
from oms_api.orders.models import OrderEventPublic, TradePublic
from oms_api.orders.queries import TradeFilter, events_of, list_trades
from oms_api.orders.requests import StorableText
from oms_api.orders.service import TradeOutcome

router = APIRouter(tags=["trades"])


def trade_result(outcome: TradeOutcome, mode: str) -> TradeResult:
    """The answer, validated once from the order's fields (no intermediate models)."""
    clock = outcome.clock
    return TradeResult.model_validate(
        {
            **outcome.order.model_dump(),
            "portfolio": outcome.portfolio_name,
            "fills": [f.model_dump() for f in outcome.fills],
            "market_open": clock.is_open if clock else None,
            "next_open": clock.next_open if clock else None,
            "mode": mode,
            "replayed": outcome.replayed,
        }
    )


@router.post(
    "/trade",
    response_model=TradeResult,
    status_code=201,
    responses={
        200: {"model": TradeResult, "description": "A replay: this Idempotency-Key's trade."},
        **error_responses(400, 402, 403, 409, 413, 415, 422, 503),
    },
)
async def place_trade(
    idempotency_key: IdempotencyKeyDep,
    trade: TradeRequestBody,
    orders: OrdersDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    outcome = await run_in_threadpool(orders.place_trade, trade, idempotency_key)
    result = trade_result(outcome, runtime.settings.mode.value)
    body = result.model_dump(mode="json")
    if outcome.error is not None:
        error = outcome.error
        return error_response(
            error.status, error.code, error.message, {**error.details, "trade": body}
        )
    return JSONResponse(body, status_code=200 if outcome.replayed else 201)


@router.post(
    "/trades/{trade_id}/cancel",
    response_model=TradeResult,
    responses=error_responses(404, 409, 413, 415, 422, 503),
)
def cancel_trade(
    trade_id: TradeId, request: CancelRequestBody, orders: OrdersDep, runtime: RuntimeDep
) -> TradeResult:
    """Cancel a trade. The body is optional: `requested_by` (a Slack user id) and
    `requested_by_name` say who asks (the audit trail keeps both); without them, the API
    caller."""
    order = orders.cancel(trade_id, request.requested_by, request.requested_by_name)
    outcome = orders.outcome_of(order)
    return trade_result(outcome, runtime.settings.mode.value)


@router.get("/trades", response_model=TradePage, responses=error_responses(400, 422))
def get_trades(
    runtime: RuntimeDep,
    portfolio: StorableText | None = None,
    symbol: StorableText | None = None,
    status: OrderStatus | None = None,
    open: Annotated[
        bool,
        Query(
            description="Only trades that are not final yet (pending_submit, submitted, "
            "unknown, accepted, partially_filled, pending_cancel), however old."
        ),
    ] = False,
    side: Side | None = None,
    since: Annotated[
        UtcTime,
        Query(
            description="Trades created at or after this ISO 8601 time; without an offset "
            "it is read as UTC."
        ),
    ] = None,
    until: Annotated[
        UtcTime,
        Query(
            description="Trades created before this ISO 8601 time; without an offset it is "
            "read as UTC."
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        StorableText | None, Query(description="`next_cursor` of the previous page.")
    ] = None,
) -> TradePage:
    filters = TradeFilter(portfolio, symbol, status, side, since, until, open_only=open)
    rows, next_cursor = list_trades(runtime.engine, filters, limit, cursor)
    trades = [
        TradePublic.model_validate({**order.model_dump(), "portfolio": name})
        for order, name in rows
    ]
    return TradePage(trades=trades, next_cursor=next_cursor)


@router.get(
    "/trades/{trade_id}", response_model=TradeDetail, responses=error_responses(404, 422, 503)
)
def get_trade(trade_id: TradeId, orders: OrdersDep, runtime: RuntimeDep) -> TradeDetail:
    outcome = orders.outcome_of(orders.get_order(trade_id))
    result = trade_result(outcome, runtime.settings.mode.value)
    events = [
        OrderEventPublic.model_validate(e.model_dump()) for e in events_of(runtime.engine, trade_id)
    ]
    return TradeDetail(**result.model_dump(), events=events)
