"""Trading controls: the trading state, halt and resume, the emergency stop, emergency sells,
stopping one portfolio, and the desk's status line."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from oms_api.api.body import JsonBody
from oms_api.api.deps import OrdersDep, RuntimeDep
from oms_api.api.errors import error_response
from oms_api.api.openapi import error_responses
from oms_api.api.params import PortfolioName
from oms_api.api.routes.trades import trade_result
from oms_api.api.schemas import TradeResult
from oms_api.audit.service import Actor
from oms_api.controls.emergency import EmergencySells
from oms_api.controls.requests import (
    ClosePositionRequest,
    ControlRequest,
    PortfolioStopRequest,
    StopRequest,
)
from oms_api.controls.state import TradingStateService
from oms_api.controls.stop import EmergencyStops, StopView
from oms_api.controls.views import (
    PortfolioStopOut,
    StatusOut,
    StopOut,
    StopPage,
    TradingStateOut,
)
from oms_api.cursors import IdCursor
from oms_api.errors import ServiceError
from oms_api.orders.queries import MAX_TRADE_ID
from oms_api.orders.requests import SYMBOL_RULE, normalise_symbol
from oms_api.runtime import Runtime

router = APIRouter(tags=["trading controls"])


async def _trading(runtime: RuntimeDep) -> TradingStateService:
    return runtime.trading


async def _stops(runtime: RuntimeDep) -> EmergencyStops:
    return runtime.stops


async def _emergency(runtime: RuntimeDep) -> EmergencySells:
    return runtime.emergency


TradingDep = Annotated[TradingStateService, Depends(_trading)]
StopsDep = Annotated[EmergencyStops, Depends(_stops)]
EmergencyDep = Annotated[EmergencySells, Depends(_emergency)]
ControlBody = Annotated[ControlRequest, Depends(JsonBody(ControlRequest))]
StopBody = Annotated[StopRequest, Depends(JsonBody(StopRequest))]
CloseBody = Annotated[ClosePositionRequest, Depends(JsonBody(ClosePositionRequest))]
PortfolioStopBody = Annotated[PortfolioStopRequest, Depends(JsonBody(PortfolioStopRequest))]
STOP_CURSOR = IdCursor("stop", MAX_TRADE_ID)
StopId = Annotated[int, Path(ge=1, le=MAX_TRADE_ID, description="The emergency stop's id")]


def _stop_out(view: StopView) -> StopOut:
    return StopOut.model_validate(view, from_attributes=True)


def _symbol(raw: str) -> str:
    symbol = normalise_symbol(raw)
    if symbol is None:
        raise ServiceError(
            400, "invalid_symbol", f"invalid symbol: {raw!r} ({SYMBOL_RULE})", {"field": "symbol"}
        )
    return symbol


@router.get("/trading-state", response_model=TradingStateOut, responses=error_responses(503))
def trading_state(trading: TradingDep) -> TradingStateOut:
    return TradingStateOut.model_validate(trading.current(), from_attributes=True)


@router.post("/halt", response_model=TradingStateOut, responses=error_responses(413, 415, 422, 503))
def halt(body: ControlBody, trading: TradingDep) -> TradingStateOut:
    """Refuse every new order from now on (nothing is cancelled or closed)."""
    actor = Actor.of(body.requested_by, body.requested_by_name)
    return TradingStateOut.model_validate(trading.halt(actor, body.reason), from_attributes=True)


@router.post(
    "/resume", response_model=TradingStateOut, responses=error_responses(409, 413, 415, 422, 503)
)
def resume(body: ControlBody, trading: TradingDep) -> TradingStateOut:
    """An explicit act: refused (409 `stop_running`) while an emergency stop still runs."""
    actor = Actor.of(body.requested_by, body.requested_by_name)
    return TradingStateOut.model_validate(trading.resume(actor, body.reason), from_attributes=True)


@router.post(
    "/emergency-stop",
    response_model=StopOut,
    status_code=202,
    responses={
        200: {"model": StopOut, "description": "A stop was already running: that stop."},
        **error_responses(413, 415, 422, 503),
    },
)
async def emergency_stop(body: StopBody, stops: StopsDep) -> JSONResponse:
    """Halt, cancel every open order, close every position, verify. Answers at once (202) with
    the stop; follow it with `GET /emergency-stops/{id}`. Idempotent while one runs."""
    actor = Actor.of(body.requested_by, body.requested_by_name)
    view = await run_in_threadpool(stops.start, actor, body.reason, body.channel_id)
    if not view.already_running:
        stops.run_in_background(view.id)
    answer = _stop_out(view).model_dump(mode="json")
    return JSONResponse(answer, status_code=200 if view.already_running else 202)


@router.get(
    "/emergency-stops/{stop_id}", response_model=StopOut, responses=error_responses(404, 422)
)
def get_stop(stop_id: StopId, stops: StopsDep) -> StopOut:
    return _stop_out(stops.get(stop_id))


@router.get("/emergency-stops", response_model=StopPage, responses=error_responses(400, 422))
def list_stops(
    stops: StopsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> StopPage:
    before = STOP_CURSOR.decode(cursor) if cursor else None
    views = stops.list(limit + 1, before)
    next_cursor = STOP_CURSOR.encode(views[limit - 1].id) if len(views) > limit else None
    return StopPage(stops=[_stop_out(v) for v in views[:limit]], next_cursor=next_cursor)


@router.post(
    "/positions/{symbol}/close",
    response_model=TradeResult,
    status_code=201,
    responses=error_responses(400, 402, 404, 409, 413, 415, 422, 503),
)
async def close_position(
    symbol: Annotated[str, Path(max_length=21)],
    body: CloseBody,
    emergency: EmergencyDep,
    orders: OrdersDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Emergency sell: close a portfolio's holding of the symbol at market (an OMS order,
    placed even while the portfolio is paused or trading halted) and pause the portfolio; or,
    with `whole_account`, close all the account holds of it at the broker; or, with
    `unmanaged`, only what no portfolio's book holds (the books stay as they are)."""
    wanted = _symbol(symbol)
    actor = Actor.of(body.requested_by, body.requested_by_name)
    mode = runtime.settings.mode.value
    if body.whole_account or body.unmanaged:
        if body.portfolio is not None or (body.whole_account and body.unmanaged):
            raise ServiceError(
                422,
                "malformed_request",
                "give one of portfolio, whole_account or unmanaged",
                {"field": "portfolio" if body.portfolio is not None else "unmanaged"},
            )
        close = emergency.close_unmanaged if body.unmanaged else emergency.close_whole_position
        order = await run_in_threadpool(close, wanted, actor, body.reason)
        outcome = await run_in_threadpool(orders.await_fill, order)
        answer = trade_result(outcome, mode).model_dump(mode="json")
        return JSONResponse(answer, status_code=201)
    if body.portfolio is None:
        raise ServiceError(
            422,
            "malformed_request",
            "portfolio: required (or whole_account: true to close the account's whole position, "
            "or unmanaged: true to close what no portfolio holds)",
            {"field": "portfolio"},
        )
    outcome, _ = await run_in_threadpool(
        lambda: emergency.close_holding(
            wanted, body.portfolio or "", actor, body.reason, pause_portfolio=body.pause_portfolio
        )
    )
    answer = trade_result(outcome, mode).model_dump(mode="json")
    if outcome.error is not None:
        error = outcome.error
        return error_response(
            error.status, error.code, error.message, {**error.details, "trade": answer}
        )
    return JSONResponse(answer, status_code=201)


@router.post(
    "/portfolios/{name}/stop",
    response_model=PortfolioStopOut,
    responses=error_responses(404, 413, 415, 422, 503),
)
def stop_portfolio(
    name: PortfolioName, body: PortfolioStopBody, emergency: EmergencyDep
) -> PortfolioStopOut:
    """Pause the portfolio, cancel its working orders, close its holdings at market."""
    actor = Actor.of(body.requested_by, body.requested_by_name)
    result = emergency.stop_portfolio(name, actor, body.reason)
    return PortfolioStopOut(
        portfolio=result.portfolio,
        paused=result.paused,
        canceled_trade_ids=[o.id for o in result.canceled if o.id is not None],
        closing_trade_ids=[o.order.id for o in result.closing if o.order.id is not None],
        problems=result.problems,
    )


@router.get("/status", response_model=StatusOut, responses=error_responses(503))
def status(runtime: RuntimeDep, trading: TradingDep) -> StatusOut:
    """The desk's status line: trading state, today's P&L against the limit, open orders,
    broker and stream, mode. At most one broker call (the account)."""
    return desk_status(runtime, trading)


def desk_status(runtime: Runtime, trading: TradingStateService) -> StatusOut:
    state = trading.current()
    daily = None
    try:
        account = runtime.market.account()
        if account.last_equity is not None:
            daily = account.equity - account.last_equity
    except ServiceError:
        daily = None
    contact = runtime.gateway.contact
    return StatusOut(
        mode=runtime.settings.mode.value,
        trading=TradingStateOut.model_validate(state, from_attributes=True),
        daily_pl=daily,
        daily_loss_limit=runtime.settings.daily_loss_limit,
        open_orders=len(runtime.orders.working_orders()),
        broker_connected=contact.last_ok_at is not None and contact.failure is None,
        stream_connected=runtime.stream_connected,
        running_stop_id=state.stop_id if state.stop_running else None,
    )
