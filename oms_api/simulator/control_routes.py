"""The simulator's control API under /_sim: reset, configure, steer prices, the clock and the
market, seed state, inject faults and read counters. No auth: the simulator binds to loopback."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request

from oms_api.simulator.clock import ManualClock, MarketMode
from oms_api.simulator.errors import SimAPIError
from oms_api.simulator.faults import FaultKind, FaultRule
from oms_api.simulator.serving import SimDep, json_body
from oms_api.simulator.universe import Asset


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
    body = await json_body(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise SimAPIError(422, {"message": "expected a JSON object"})
    return body


async def _list(request: Request) -> list[Any]:
    body = await json_body(request)
    if isinstance(body, dict):
        return [body]
    if not isinstance(body, list):
        raise SimAPIError(422, {"message": "expected a JSON object or list"})
    return body


def control_router() -> APIRouter:
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
            "rate_limited_total": sim.rate_limited,
            "faults": [rule.to_json() for rule in sim.faults.rules()],
            "held_requests": len(sim.held),
        }

    @router.post("/reset")
    async def reset(request: Request, sim: SimDep) -> Any:
        body = await _object(request)
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise SimAPIError(422, {"message": "seed must be an integer"})
        cash = _dec(body, "cash", required=False)
        # Requests held by process_late belong to the old account: they are never processed.
        sim.held.abandon_all()
        sim.broker.reset(seed=seed, cash=cash)
        sim.latency_ms = 0
        sim.limiter.per_minute = sim.rate_limit_per_minute
        sim.faults.clear()
        sim.counters.reset()
        sim.rate_limited = 0
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
        # process_late holds are measured on this clock: the ones now due are processed first.
        await sim.held.release_due()
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
            shortable = bool(item.get("shortable", True))
            asset = Asset(
                symbol=symbol,
                name=str(item.get("name") or symbol),
                exchange=str(item.get("exchange") or "NASDAQ"),
                price=price,
                tradable=bool(item.get("tradable", True)),
                fractionable=bool(item.get("fractionable", True)),
                shortable=shortable,
                easy_to_borrow=bool(item.get("easy_to_borrow", shortable)),
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
    async def clear_faults(sim: SimDep) -> Any:
        sim.faults.clear()
        sim.hub.clear_faults()
        # Like the stream's held-back events, held requests go on rather than vanish.
        return {"ok": True, "released": await sim.held.release_all()}

    @router.post("/faults/release")
    async def release_held(sim: SimDep) -> Any:
        """Process every request a process_late fault holds, in arrival order."""
        return {"released": await sim.held.release_all()}

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
        sim.rate_limited = 0
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
