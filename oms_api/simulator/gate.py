"""The front door of every Alpaca route: auth, the rate limit, request counters and injected
faults, and the middleware that carries out the faults that act on the reply."""

from __future__ import annotations

import asyncio
import logging

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oms_api.simulator.errors import SimAPIError
from oms_api.simulator.faults import FAULT_STATUS_BODIES, FaultKind, FaultRule, HeldRequest
from oms_api.simulator.serving import simulator_of

DROP_MARK = "sim_drop_reply"  # request state: the drop_reply / hang_reply rule to carry out
HELD_MARK = "sim_held_request"  # request state: the HeldRequest a process_late fault made


def route_name(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    return f"{request.method} {path}"


async def broker_gate(request: Request) -> None:
    """Auth, rate limit, counters and injected faults for every Alpaca route."""
    sim = simulator_of(request)
    route = route_name(request)
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
        sim.rate_limited += 1
        raise SimAPIError(429, FAULT_STATUS_BODIES[429])
    delay_ms = sim.latency_ms
    status_error: SimAPIError | None = None
    process_late: FaultRule | None = None
    for rule in sim.faults.take(route):
        if rule.kind is FaultKind.LATENCY:
            delay_ms += rule.latency_ms
        elif rule.kind is FaultKind.STATUS:
            status_error = SimAPIError(rule.status, FAULT_STATUS_BODIES[rule.status])
        elif rule.kind is FaultKind.REJECT:
            request.state.reject_after_accept = True
        elif rule.kind is FaultKind.PROCESS_LATE:
            process_late = rule
        else:
            setattr(request.state, DROP_MARK, rule)
    if process_late is not None:
        # The whole request arrives now (the body is kept for the route); only its processing
        # waits, so a client that gives up meanwhile does not stop it.
        await request.body()
    if delay_ms > 0:
        # Latency delays error replies too: a slow 503 is still slow.
        await asyncio.sleep(delay_ms / 1000)
    if status_error is not None:
        raise status_error
    if process_late is not None:
        entry = sim.held.hold(route, process_late.hold_seconds)
        setattr(request.state, HELD_MARK, entry)
        await sim.held.wait_turn(entry)
        if entry.abandoned:
            raise SimAPIError(503, FAULT_STATUS_BODIES[503])


class BrokerReplyMiddleware:
    """Adds rate-limit headers to broker replies, carries out drop_reply / hang_reply faults
    after the route has done its work, and tells a process_late hold when its request is done."""

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

        try:
            await self.app(scope, receive, guarded_send)
        finally:
            held: HeldRequest | None = scope.get("state", {}).get(HELD_MARK)
            if held is not None:
                held.processed.set()


class QuietDroppedReplies(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()
