"""What the request body size limit (oms_api.api.middleware.BodySizeLimit) costs per request
(run by hand; not part of the test suite).

    .venv/bin/python bench/body_limit_overhead.py [--requests 200000]

A POST /trade-sized request (Content-Length, one body message, a JSON response in two
messages) goes through a bare ASGI app that reads the body and answers, with and without the
middleware, in one event loop; it prints the time per request of each and the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oms_api.api.middleware import BodySizeLimit

BODY = b'{"portfolio": "main", "symbol": "AAPL", "side": "buy", "qty": "1", "reason": "bench"}'
SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "POST",
    "path": "/api/v1/trade",
    "headers": [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"python-httpx/0.28.1"),
        (b"accept", b"*/*"),
        (b"authorization", b"Bearer " + b"x" * 43),
        (b"idempotency-key", b"0123456789abcdef0123456789abcdef"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
    ],
}
START = {"type": "http.response.start", "status": 201, "headers": []}
ANSWER = {"type": "http.response.body", "body": b"{}"}


async def endpoint(scope: Any, receive: Any, send: Any) -> None:
    message = await receive()
    assert message["body"] == BODY
    await send(START)
    await send(ANSWER)


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": BODY, "more_body": False}


async def send(message: Any) -> None:
    pass


async def per_request_us(app: Any, requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        await app(SCOPE, receive, send)
    return (time.perf_counter() - started) / requests * 1e6


async def main(requests: int, rounds: int = 7) -> None:
    limited = BodySizeLimit(endpoint)
    bare, wrapped = [], []
    for _ in range(rounds):  # interleaved, so drift in the machine's load hits both alike
        bare.append(await per_request_us(endpoint, requests))
        wrapped.append(await per_request_us(limited, requests))
    b, w = statistics.median(bare), statistics.median(wrapped)
    print(f"bare app:            {b:.2f} us/request (median of {rounds} x {requests})")
    print(f"with BodySizeLimit:  {w:.2f} us/request")
    print(f"middleware overhead: {w - b:.2f} us/request")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().requests))
