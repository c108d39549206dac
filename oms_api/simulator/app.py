"""The simulator's HTTP face: Alpaca's Trading API v2, Market Data latest endpoints, the
trade_updates websocket and a control API under /_sim.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from oms_api.simulator.clock import ManualClock, MarketMode, WallClock
from oms_api.simulator.engine import Broker
from oms_api.simulator.errors import SimAPIError, malformed
from oms_api.simulator.faults import (
    FAULT_STATUS_BODIES,
    FaultKind,
    FaultPlan,
    FaultRule,
    RateLimiter,
    RequestCounters,
)
from oms_api.simulator.stream import StreamHub
from oms_api.simulator.universe import Asset

log = logging.getLogger(__name__)

DROP_MARK = "sim_drop_reply"


@dataclass
class Simulator:
    """Everything one running simulator holds."""

    broker: Broker
    api_key_id: str
    api_secret_key: str
    rate_limit_per_minute: int = 200
    latency_ms: int = 0
    faults: FaultPlan = field(default_factory=FaultPlan)
    counters: RequestCounters = field(default_factory=RequestCounters)
    hub: StreamHub = field(init=False)
    limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.hub = StreamHub(self.keys_match)
        self.limiter = RateLimiter(self.broker.clock, self.rate_limit_per_minute)
        self.broker.subscribe(self.hub.publish)

    def keys_match(self, key_id: str, secret: str) -> bool:
        return hmac.compare_digest(key_id, self.api_key_id) and hmac.compare_digest(
            secret, self.api_secret_key
        )


class SimJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=_json_default, separators=(",", ":")).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Market data sends prices as JSON numbers; Decimal stays exact up to this edge.
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _error(error: SimAPIError) -> SimJSONResponse:
    return SimJSONResponse(error.body, status_code=error.status)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError:
        raise malformed() from None


def _sim(request: Request) -> Simulator:
    return request.app.state.sim


SimDep = Annotated[Simulator, Depends(_sim)]


def _route_name(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    return f"{request.method} {path}"


async def broker_gate(request: Request) -> None:
    """Auth, rate limit, counters and injected faults for every Alpaca route."""
    sim = _sim(request)
    route = _route_name(request)
    sim.counters.hit(route)
    key_id = request.headers.get("APCA-API-KEY-ID")
    secret = request.headers.get("APCA-API-SECRET-KEY")
    if key_id is None or secret is None:
        raise SimAPIError(401, {"code": 40110000, "message": "request is not authorized"})
    if not sim.keys_match(key_id, secret):
        raise SimAPIError(403, {"message": "forbidden."})
    allowed, remaining, reset_at = sim.limiter.check(key_id)
    request.state.rate_headers = {
        "X-RateLimit-Limit": str(sim.limiter.per_minute),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(int(reset_at.timestamp())),
    }
    if not allowed:
        raise SimAPIError(429, FAULT_STATUS_BODIES[429])
    delay_ms = sim.latency_ms
    status_error: SimAPIError | None = None
    for rule in sim.faults.take(route):
        if rule.kind is FaultKind.LATENCY:
            delay_ms += rule.latency_ms
        elif rule.kind is FaultKind.STATUS:
            status_error = SimAPIError(rule.status, FAULT_STATUS_BODIES[rule.status])
        elif rule.kind is FaultKind.REJECT:
            request.state.reject_after_accept = True
        else:
            setattr(request.state, DROP_MARK, rule)
    if delay_ms > 0:
        # Latency delays error replies too: a slow 503 is still slow.
        await asyncio.sleep(delay_ms / 1000)
    if status_error is not None:
        raise status_error


class BrokerReplyMiddleware:
    """Adds rate-limit headers to broker replies, and carries out drop_reply / hang_reply
    faults after the route has done its work."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        dropped = False

        async def guarded_send(message: Message) -> None:
            nonlocal dropped
            state = scope.get("state", {})
            rule = state.get(DROP_MARK)
            if rule is None:
                if message["type"] == "http.response.start":
                    extra = [
                        (name.lower().encode(), value.encode())
                        for name, value in state.get("rate_headers", {}).items()
                    ]
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
                await send(message)
                return
            if dropped:
                return
            dropped = True
            if rule.kind is FaultKind.HANG_REPLY:
                await asyncio.sleep(rule.hold_seconds)
            # Promise a body that never comes, then end: the server closes the connection and
            # the client sees a broken reply after the order was already placed.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
                }
            )

        await self.app(scope, receive, guarded_send)


class _QuietDroppedReplies(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


def create_app(sim: Simulator) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logging.getLogger("uvicorn.error").addFilter(_QuietDroppedReplies())
        ticker = None
        if isinstance(sim.broker.clock, WallClock):
            ticker = asyncio.create_task(_tick_forever(sim.broker))
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
        return _error(error)

    app.include_router(_trading_router())
    app.include_router(_data_router())
    app.include_router(_control_router())

    @app.websocket("/stream")
    async def trade_updates(websocket: WebSocket) -> None:
        await sim.hub.serve(websocket)

    return app


async def _tick_forever(broker: Broker) -> None:
    while True:
        await asyncio.sleep(0.25)
        try:
            broker.tick()
        except Exception:  # one bad step must not stop the market
            log.exception("simulator tick failed")


# ---------------------------------------------------------------------------- trading
def _trading_router() -> APIRouter:
    router = APIRouter(prefix="/v2", dependencies=[Depends(broker_gate)])

    @router.get("/account")
    def get_account(sim: SimDep) -> Any:
        return sim.broker.account_json()

    @router.post("/orders")
    async def post_order(request: Request, sim: SimDep) -> Any:
        reject = getattr(request.state, "reject_after_accept", False)
        return sim.broker.submit_order(await _json_body(request), reject_after_accept=reject)

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
    def get_order(order_id: str, request: Request, sim: SimDep) -> Any:
        nested = request.query_params.get("nested", "").lower() == "true"
        return sim.broker.get_order(order_id, nested=nested)

    @router.patch("/orders/{order_id}")
    async def patch_order(order_id: str, request: Request, sim: SimDep) -> Any:
        return sim.broker.replace_order(order_id, await _json_body(request))

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


def _data_router() -> APIRouter:
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


# ---------------------------------------------------------------------------- control API
def _dec(body: dict[str, Any], key: str, required: bool = True) -> Decimal | None:
    value = body.get(key)
    if value is None:
        if required:
            raise SimAPIError(422, {"message": f"{key} is required"})
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise SimAPIError(422, {"message": f"{key} must be a number"}) from None
    if not number.is_finite():
        raise SimAPIError(422, {"message": f"{key} must be a number"})
    return number


async def _object(request: Request) -> dict[str, Any]:
    body = await _json_body(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise SimAPIError(422, {"message": "expected a JSON object"})
    return body


async def _list(request: Request) -> list[Any]:
    body = await _json_body(request)
    if isinstance(body, dict):
        return [body]
    if not isinstance(body, list):
        raise SimAPIError(422, {"message": "expected a JSON object or list"})
    return body


def _control_router() -> APIRouter:
    router = APIRouter(prefix="/_sim", tags=["simulator control"])

    @router.get("/state")
    def state(sim: SimDep) -> Any:
        broker = sim.broker
        return {
            "now": broker.clock.now().isoformat(),
            "manual_clock": isinstance(broker.clock, ManualClock),
            "market_mode": broker.config.market_mode.value,
            "seed": broker.config.seed,
            "fill_parts": broker.config.fill_parts,
            "fill_interval_seconds": broker.config.fill_interval_seconds,
            "cancel_delay_seconds": broker.config.cancel_delay_seconds,
            "max_step_bps": broker.market.max_step_bps,
            "rate_limit_per_minute": sim.limiter.per_minute,
            "latency_ms": sim.latency_ms,
            "stream_listeners": sim.hub.listening,
            "stream_connections_total": sim.hub.connections_total,
            "faults": [rule.to_json() for rule in sim.faults.rules()],
        }

    @router.post("/reset")
    async def reset(request: Request, sim: SimDep) -> Any:
        body = await _object(request)
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise SimAPIError(422, {"message": "seed must be an integer"})
        sim.broker.reset(seed=seed, cash=_dec(body, "cash", required=False))
        sim.latency_ms = 0
        sim.limiter.per_minute = sim.rate_limit_per_minute
        sim.faults.clear()
        sim.counters.reset()
        sim.limiter.reset()
        sim.hub.clear_faults()
        return {"ok": True}

    @router.put("/config")
    async def configure(request: Request, sim: SimDep) -> Any:
        body = await _object(request)
        cfg = sim.broker.config
        ints = {"fill_parts": 1, "rate_limit_per_minute": 0, "latency_ms": 0, "max_step_bps": 0}
        for key, minimum in ints.items():
            if key in body:
                value = body[key]
                if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                    raise SimAPIError(422, {"message": f"{key} must be an integer >= {minimum}"})
        for key in ("fill_interval_seconds", "cancel_delay_seconds"):
            if key in body:
                value = _dec(body, key)
                if value is None or value < 0:
                    raise SimAPIError(422, {"message": f"{key} must be >= 0"})
        if "fill_parts" in body:
            cfg.fill_parts = body["fill_parts"]
        if "fill_interval_seconds" in body:
            cfg.fill_interval_seconds = float(body["fill_interval_seconds"])
        if "cancel_delay_seconds" in body:
            cfg.cancel_delay_seconds = float(body["cancel_delay_seconds"])
        if "max_step_bps" in body:
            sim.broker.market.max_step_bps = body["max_step_bps"]
        if "rate_limit_per_minute" in body:
            sim.limiter.per_minute = body["rate_limit_per_minute"]
        if "latency_ms" in body:
            sim.latency_ms = body["latency_ms"]
        return state(sim)

    @router.put("/prices/{symbol}")
    async def set_price(symbol: str, request: Request, sim: SimDep) -> Any:
        price = _dec(await _object(request), "price")
        assert price is not None
        sim.broker.set_price(symbol, price)
        return {"symbol": symbol.upper(), "price": str(sim.broker.market.price(symbol.upper()))}

    @router.put("/market")
    async def market(request: Request, sim: SimDep) -> Any:
        body = await _object(request)
        mode = body.get("mode")
        if "open" in body and mode is None:
            mode = "open" if body["open"] else "closed"
        try:
            sim.broker.set_market_mode(MarketMode(mode))
        except ValueError:
            raise SimAPIError(
                422, {"message": "mode must be one of open, closed, calendar"}
            ) from None
        return sim.broker.clock_json()

    @router.post("/clock/advance")
    async def advance(request: Request, sim: SimDep) -> Any:
        seconds = _dec(await _object(request), "seconds")
        assert seconds is not None
        if seconds < 0:
            raise SimAPIError(422, {"message": "seconds must be >= 0"})
        now = sim.broker.advance_clock(float(seconds))
        return {"now": now.isoformat()}

    @router.put("/cash")
    async def cash(request: Request, sim: SimDep) -> Any:
        amount = _dec(await _object(request), "cash")
        assert amount is not None
        sim.broker.set_cash(amount)
        return sim.broker.account_json()

    @router.post("/positions")
    async def seed_positions(request: Request, sim: SimDep) -> Any:
        for item in await _list(request):
            if not isinstance(item, dict) or not isinstance(item.get("symbol"), str):
                raise SimAPIError(422, {"message": "each position needs a symbol"})
            qty = _dec(item, "qty")
            avg = _dec(item, "avg_entry_price", required=False)
            assert qty is not None
            if avg is None:
                avg = sim.broker.market.price(item["symbol"].upper())
            sim.broker.seed_position(item["symbol"], qty, avg)
        return sim.broker.positions_json()

    @router.post("/orders")
    async def seed_orders(request: Request, sim: SimDep) -> Any:
        return [sim.broker.seed_order(item) for item in await _list(request)]

    @router.post("/assets")
    async def add_assets(request: Request, sim: SimDep) -> Any:
        added = []
        for item in await _list(request):
            if not isinstance(item, dict) or not isinstance(item.get("symbol"), str):
                raise SimAPIError(422, {"message": "each asset needs a symbol"})
            price = _dec(item, "price")
            assert price is not None
            if price <= 0:
                raise SimAPIError(422, {"message": "price must be > 0"})
            symbol = item["symbol"].upper()
            asset = Asset(
                symbol=symbol,
                name=str(item.get("name") or symbol),
                exchange=str(item.get("exchange") or "NASDAQ"),
                price=price,
                tradable=bool(item.get("tradable", True)),
                fractionable=bool(item.get("fractionable", True)),
                shortable=bool(item.get("shortable", True)),
                easy_to_borrow=bool(item.get("shortable", True)),
                status=str(item.get("status") or "active"),
            )
            sim.broker.add_asset(asset)
            added.append(asset.to_json())
        return added

    @router.post("/faults")
    async def add_fault(request: Request, sim: SimDep) -> Any:
        body = await _object(request)
        try:
            rule = FaultRule(
                route=str(body["route"]),
                kind=FaultKind(body.get("kind", "status")),
                count=body.get("count", 1),
                status=int(body.get("status", 503)),
                latency_ms=int(body.get("latency_ms", 0)),
                hold_seconds=float(body.get("hold_seconds", 30.0)),
            )
            sim.faults.add(rule)
        except (KeyError, ValueError, TypeError) as error:
            raise SimAPIError(422, {"message": f"invalid fault: {error}"}) from None
        return [r.to_json() for r in sim.faults.rules()]

    @router.delete("/faults")
    def clear_faults(sim: SimDep) -> Any:
        sim.faults.clear()
        sim.hub.clear_faults()
        return {"ok": True}

    @router.post("/stream/disconnect")
    def stream_disconnect(sim: SimDep) -> Any:
        return {"disconnected": sim.hub.disconnect_all()}

    @router.post("/stream/faults")
    async def stream_faults(request: Request, sim: SimDep) -> Any:
        body = await _object(request)
        for key in ("duplicate", "reorder"):
            value = body.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise SimAPIError(422, {"message": f"{key} must be an integer >= 0"})
        if body.get("duplicate"):
            sim.hub.duplicate_next(body["duplicate"])
        if body.get("reorder"):
            sim.hub.reorder_next(body["reorder"])
        return {"ok": True}

    @router.get("/counters")
    def counters(sim: SimDep) -> Any:
        return sim.counters.snapshot()

    @router.delete("/counters")
    def reset_counters(sim: SimDep) -> Any:
        sim.counters.reset()
        return {"ok": True}

    @router.get("/fills")
    def fills(sim: SimDep) -> Any:
        return [
            {
                "execution_id": f.execution_id,
                "order_id": f.order_id,
                "symbol": f.symbol,
                "side": f.side,
                "qty": str(f.qty),
                "price": str(f.price),
                "at": f.at.isoformat(),
            }
            for f in sim.broker.fills()
        ]

    return router


def parse_start(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
