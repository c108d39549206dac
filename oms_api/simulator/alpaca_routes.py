"""Alpaca's routes: Trading API v2 and Market Data (latest trades, quotes, snapshots and
historical bars), each behind the broker gate (auth, rate limit, counters, faults)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from oms_api.simulator.errors import SimAPIError
from oms_api.simulator.gate import broker_gate
from oms_api.simulator.serving import SimDep, SimJSONResponse, json_body


def trading_router() -> APIRouter:
    router = APIRouter(prefix="/v2", dependencies=[Depends(broker_gate)])

    @router.get("/account")
    def get_account(sim: SimDep) -> Any:
        return sim.broker.account_json()

    @router.get("/account/portfolio/history")
    def get_portfolio_history(request: Request, sim: SimDep) -> Any:
        # Numbers stay JSON numbers, as Alpaca sends them.
        history = sim.broker.portfolio_history_json(dict(request.query_params))
        return SimJSONResponse(history)

    @router.post("/orders")
    async def post_order(request: Request, sim: SimDep) -> Any:
        reject = getattr(request.state, "reject_after_accept", False)
        return sim.broker.submit_order(await json_body(request), reject_after_accept=reject)

    @router.get("/orders")
    def get_orders(request: Request, sim: SimDep) -> Any:
        return sim.broker.list_orders(dict(request.query_params))

    @router.get("/orders:by_client_order_id")
    def get_order_by_client_id(client_order_id: str, sim: SimDep) -> Any:
        return sim.broker.get_order_by_client_id(client_order_id)

    @router.delete("/orders")
    def delete_orders(sim: SimDep) -> Any:
        return SimJSONResponse(sim.broker.cancel_all(), status_code=207)

    @router.get("/orders/{order_id}")
    def get_order(order_id: str, sim: SimDep) -> Any:
        # A bracket's legs come with or without `nested`: on this route the flag was only ever
        # documented, never in place (notes/alpaca.md).
        return sim.broker.get_order(order_id)

    @router.patch("/orders/{order_id}")
    async def patch_order(order_id: str, request: Request, sim: SimDep) -> Any:
        return sim.broker.replace_order(order_id, await json_body(request))

    @router.delete("/orders/{order_id}")
    def delete_order(order_id: str, sim: SimDep) -> Any:
        sim.broker.cancel_order(order_id)
        return Response(status_code=204)

    @router.get("/positions")
    def get_positions(sim: SimDep) -> Any:
        return sim.broker.positions_json()

    @router.delete("/positions")
    def delete_positions(request: Request, sim: SimDep) -> Any:
        raw = request.query_params.get("cancel_orders", "false").lower()
        if raw not in ("true", "false", ""):
            raise SimAPIError(422, {"code": 42210000, "message": "invalid cancel_orders"})
        results = sim.broker.close_all_positions(cancel_orders=raw == "true")
        return SimJSONResponse(results, status_code=207)

    @router.get("/positions/{symbol}")
    def get_position(symbol: str, sim: SimDep) -> Any:
        return sim.broker.position_json(symbol)

    @router.delete("/positions/{symbol}")
    def delete_position(symbol: str, request: Request, sim: SimDep) -> Any:
        params = request.query_params
        return sim.broker.close_position(symbol, params.get("qty"), params.get("percentage"))

    @router.get("/clock")
    def get_clock(sim: SimDep) -> Any:
        return sim.broker.clock_json()

    @router.get("/calendar")
    def get_calendar(request: Request, sim: SimDep) -> Any:
        # Straight to JSON: the full calendar is thousands of days.
        return SimJSONResponse(sim.broker.calendar_json(dict(request.query_params)))

    @router.get("/assets")
    def get_assets(request: Request, sim: SimDep) -> Any:
        return sim.broker.assets_json(dict(request.query_params))

    @router.get("/assets/{symbol}")
    def get_asset(symbol: str, sim: SimDep) -> Any:
        return sim.broker.asset_json(symbol)

    return router


# ---------------------------------------------------------------------------- market data
def _symbols(request: Request) -> list[str]:
    raw = request.query_params.get("symbols", "")
    symbols = [s.strip().upper() for s in raw.split(",") if s.strip()]
    if not symbols:
        raise SimAPIError(400, {"code": 40010000, "message": "symbols is required"})
    return symbols


def data_router() -> APIRouter:
    # Replies go out as SimJSONResponse: prices must stay JSON numbers, as Alpaca sends them.
    # (Returning a dict lets FastAPI serialise it through pydantic, which turns Decimal into str.)
    router = APIRouter(prefix="/v2/stocks", dependencies=[Depends(broker_gate)])

    @router.get("/trades/latest")
    def latest_trades(request: Request, sim: SimDep) -> Any:
        trades = {s: sim.broker.latest_trade(s) for s in _symbols(request)}
        return SimJSONResponse({"trades": trades})

    @router.get("/quotes/latest")
    def latest_quotes(request: Request, sim: SimDep) -> Any:
        quotes = {s: sim.broker.latest_quote(s) for s in _symbols(request)}
        return SimJSONResponse({"quotes": quotes})

    @router.get("/snapshots")
    def snapshots(request: Request, sim: SimDep) -> Any:
        result = {}
        for symbol in _symbols(request):
            snap = sim.broker.snapshot(symbol)
            snap.pop("symbol")
            result[symbol] = snap
        return SimJSONResponse(result)

    @router.get("/bars")
    def bars(request: Request, sim: SimDep) -> Any:
        return SimJSONResponse(sim.broker.bars_json(dict(request.query_params)))

    @router.get("/{symbol}/bars")
    def symbol_bars(symbol: str, request: Request, sim: SimDep) -> Any:
        return SimJSONResponse(sim.broker.bars_json(dict(request.query_params), symbol))

    @router.get("/{symbol}/trades/latest")
    def latest_trade(symbol: str, sim: SimDep) -> Any:
        trade = sim.broker.latest_trade(symbol)
        return SimJSONResponse({"symbol": symbol.upper(), "trade": trade})

    @router.get("/{symbol}/quotes/latest")
    def latest_quote(symbol: str, sim: SimDep) -> Any:
        quote = sim.broker.latest_quote(symbol)
        return SimJSONResponse({"symbol": symbol.upper(), "quote": quote})

    @router.get("/{symbol}/snapshot")
    def snapshot(symbol: str, sim: SimDep) -> Any:
        return SimJSONResponse(sim.broker.snapshot(symbol))

    return router
