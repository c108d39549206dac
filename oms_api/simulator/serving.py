"""What every simulator route shares: the running Simulator, JSON replies, body parsing."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from oms_api.simulator.engine import Broker
from oms_api.simulator.errors import malformed
from oms_api.simulator.faults import FaultPlan, HeldRequests, RateLimiter, RequestCounters
from oms_api.simulator.stream import StreamHub


@dataclass
class Simulator:
    """Everything one running simulator holds."""

    broker: Broker
    api_key_id: str
    api_secret_key: str
    rate_limit_per_minute: int = 200
    latency_ms: int = 0
    rate_limited: int = 0  # requests answered 429 by the rate limit (not by a fault)
    faults: FaultPlan = field(default_factory=FaultPlan)
    counters: RequestCounters = field(default_factory=RequestCounters)
    hub: StreamHub = field(init=False)
    limiter: RateLimiter = field(init=False)
    held: HeldRequests = field(init=False)  # requests a process_late fault holds back

    def __post_init__(self) -> None:
        self.hub = StreamHub(self.keys_match)
        self.limiter = RateLimiter(self.broker.clock, self.rate_limit_per_minute)
        self.held = HeldRequests(self.broker.clock)
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


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError:
        raise malformed() from None


def simulator_of(request: Request) -> Simulator:
    return request.app.state.sim


SimDep = Annotated[Simulator, Depends(simulator_of)]
