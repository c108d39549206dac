"""Fault injection, per-route request counters and the per-key rate limit.

Routes are named "METHOD /path/template", e.g. "POST /v2/orders" or "GET /v2/orders/{order_id}";
"*" matches every broker route.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from oms_api.simulator.clock import Clock


class FaultKind(StrEnum):
    STATUS = "status"  # answer with an HTTP error before the request is processed
    DROP_REPLY = "drop_reply"  # process the request, then break the connection instead of replying
    HANG_REPLY = "hang_reply"  # process the request, then hold the reply past the client's timeout
    LATENCY = "latency"  # add latency before processing
    REJECT = "reject"  # POST /v2/orders: accept the order, then reject it (a `rejected` event)
    # Read the whole request, then hold it unprocessed until released or `hold_seconds` of
    # simulator time pass; then process it, whether or not the client is still waiting.
    PROCESS_LATE = "process_late"


FAULT_STATUS_BODIES: dict[int, dict] = {
    429: {"code": 42910000, "message": "rate limit exceeded"},
    500: {"code": 50010000, "message": "internal server error occurred"},
    502: {"message": "bad gateway"},
    503: {"message": "service unavailable"},
    504: {"message": "gateway timeout"},
}


@dataclass
class FaultRule:
    route: str
    kind: FaultKind
    count: int | None = 1  # None: until cleared
    status: int = 503
    latency_ms: int = 0
    hold_seconds: float = 30.0

    def matches(self, route: str) -> bool:
        return self.route == "*" or self.route == route

    def to_json(self) -> dict:
        return {
            "route": self.route,
            "kind": self.kind.value,
            "count": self.count,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "hold_seconds": self.hold_seconds,
        }


class FaultPlan:
    """Rules are consumed in the order they were added; each matching request uses one."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> None:
        if rule.kind is FaultKind.STATUS and rule.status not in FAULT_STATUS_BODIES:
            raise ValueError(f"status must be one of {sorted(FAULT_STATUS_BODIES)}")
        if rule.count is not None and rule.count < 1:
            raise ValueError("count must be >= 1 (or null for 'until cleared')")
        if not (math.isfinite(rule.hold_seconds) and rule.hold_seconds >= 0):
            raise ValueError("hold_seconds must be a number >= 0")
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def take(self, route: str) -> list[FaultRule]:
        """The rules that fire for this request: every latency rule and at most one other."""
        fired: list[FaultRule] = []
        with self._lock:
            taken_outcome = False
            for rule in list(self._rules):
                if not rule.matches(route):
                    continue
                if rule.kind is not FaultKind.LATENCY:
                    if taken_outcome:
                        continue
                    taken_outcome = True
                fired.append(rule)
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count == 0:
                        self._rules.remove(rule)
        return fired


# How long a release waits for one released request to be processed before it lets the next go.
PROCESSING_WAIT_SECONDS = 10.0


@dataclass(eq=False)
class HeldRequest:
    route: str
    release_at: datetime  # simulator time
    go: asyncio.Event = field(default_factory=asyncio.Event)
    processed: asyncio.Event = field(default_factory=asyncio.Event)
    abandoned: bool = False  # the simulator was reset: never process it


class HeldRequests:
    """Requests a process_late fault holds back unprocessed, in arrival order.

    Every method but len() runs on the server's event loop. A held request waits in
    `wait_turn`; the server marks it `processed` once its reply has gone out (or found no
    client). Releases let held requests go one at a time, each processed before the next, so
    they reach the broker in the order they arrived."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._held: list[HeldRequest] = []
        self._turns = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, route: str, hold_seconds: float) -> HeldRequest:
        entry = HeldRequest(route, self.clock.now() + timedelta(seconds=hold_seconds))
        if hold_seconds > 0:
            self._held.append(entry)
        else:
            entry.go.set()
        return entry

    async def wait_turn(self, entry: HeldRequest) -> None:
        try:
            await entry.go.wait()
        except asyncio.CancelledError:  # the server is shutting down
            with contextlib.suppress(ValueError):
                self._held.remove(entry)
            raise

    async def release_all(self) -> int:
        return await self._release(lambda entry: True)

    async def release_due(self) -> int:
        """Release the requests whose hold_seconds have passed on the simulator's clock."""
        now = self.clock.now()
        return await self._release(lambda entry: entry.release_at <= now)

    async def _release(self, due: Callable[[HeldRequest], bool]) -> int:
        released = 0
        async with self._turns:
            for entry in [e for e in self._held if due(e)]:
                if entry not in self._held:  # abandoned or cancelled meanwhile
                    continue
                self._held.remove(entry)
                entry.go.set()
                released += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(entry.processed.wait(), PROCESSING_WAIT_SECONDS)
        return released

    def abandon_all(self) -> int:
        """Drop every held request unprocessed (a reset: they belong to the old account)."""
        held, self._held = self._held, []
        for entry in held:
            entry.abandoned = True
            entry.go.set()
        return len(held)


class RequestCounters:
    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def hit(self, route: str) -> None:
        with self._lock:
            self._counts[route] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


class RateLimiter:
    """A sliding one-minute window per API key, on the simulator's clock."""

    def __init__(self, clock: Clock, per_minute: int = 200) -> None:
        self.clock = clock
        self.per_minute = per_minute
        self._hits: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> tuple[bool, int, datetime]:
        """(allowed, remaining, window reset time). A limit of 0 disables limiting."""
        now = self.clock.now()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            window_start = now - timedelta(minutes=1)
            while hits and hits[0] <= window_start:
                hits.popleft()
            reset_at = (hits[0] if hits else now) + timedelta(minutes=1)
            if self.per_minute <= 0:
                return True, 0, reset_at
            if len(hits) >= self.per_minute:
                return False, 0, reset_at
            hits.append(now)
            return True, self.per_minute - len(hits), reset_at

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
