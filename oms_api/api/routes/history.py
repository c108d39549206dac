"""Broker history: the mirror's sync (POST /sync) and its orders and trades (GET /history)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool

from oms_api.api.body import OptionalJsonBody
from oms_api.api.deps import RuntimeDep
from oms_api.api.openapi import error_responses
from oms_api.history.queries import HistoryQueries, parse_filters
from oms_api.history.views import (
    MirrorOrderPage,
    SyncRequest,
    SyncResultOut,
    SyncStateOut,
    TradeDetailOut,
    TradePage,
)

router = APIRouter(tags=["broker history"])

SyncBody = Annotated[SyncRequest, Depends(OptionalJsonBody(SyncRequest))]


@router.post(
    "/sync", response_model=SyncResultOut, responses=error_responses(409, 413, 415, 422, 503)
)
async def sync(body: SyncBody, runtime: RuntimeDep) -> SyncResultOut:
    """Bring the broker mirror up to date now (`full`: walk the whole history again).
    409 `sync_running` while another sync runs."""
    result = await run_in_threadpool(lambda: runtime.history.run(full=body.full))
    return SyncResultOut.model_validate(result, from_attributes=True)


@router.get("/sync", response_model=SyncStateOut, responses=error_responses(503))
def sync_state(runtime: RuntimeDep) -> SyncStateOut:
    return SyncStateOut.model_validate(runtime.history.state())


@router.get(
    "/history",
    response_model=TradePage | MirrorOrderPage,
    responses=error_responses(400, 422, 503),
)
def history(
    runtime: RuntimeDep,
    view: Annotated[
        str | None, Query(max_length=20, description="trades (default) | orders")
    ] = None,
    symbol: Annotated[
        str | None, Query(max_length=32, description="equity, underlying or OCC option symbol")
    ] = None,
    strategy: Annotated[str | None, Query(max_length=30)] = None,
    status: Annotated[
        str | None,
        Query(
            max_length=30,
            description="trades: working|open|closed|filled|unfilled; orders: an Alpaca status, "
            "or open|closed",
        ),
    ] = None,
    since: Annotated[
        str | None, Query(max_length=40, description="ISO 8601 with a time zone")
    ] = None,
    until: Annotated[
        str | None, Query(max_length=40, description="ISO 8601 with a time zone")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Any:
    """The broker's order history as the mirror holds it: trades (one row per strategy trade,
    with its net debit/credit and, once closed, realized P&L) or orders, newest first."""
    filters = parse_filters(view, symbol, strategy, status, since, until)
    queries = HistoryQueries(runtime.engine)
    if filters.view == "orders":
        return queries.orders(filters, limit, cursor)
    return queries.trades(filters, limit, cursor)


@router.get(
    "/history/trades/{trade_id}",
    response_model=TradeDetailOut,
    responses=error_responses(404, 422, 503),
)
def history_trade(
    trade_id: Annotated[str, Path(max_length=40, description="A trade id from GET /history")],
    runtime: RuntimeDep,
) -> TradeDetailOut:
    return HistoryQueries(runtime.engine).trade(trade_id)
