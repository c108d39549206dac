"""Shared by the capital and limits tests (tests/test_risk_*.py): the one error shape, the audit
trail, and proof that a refused order left nothing behind (no trade, no audit row, nothing sent
to the broker)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.oms import OMS

POST_ORDERS = "POST /v2/orders"
T = TypeVar("T")


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error, once it is checked to be in the one error shape with this status and code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    return body["error"]


def audit_entries(oms: OMS, **params: Any) -> list[dict[str, Any]]:
    response = oms.get("/audit", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return response.json()["entries"]


def trade_ids(oms: OMS) -> list[int]:
    response = oms.get("/trades", params={"limit": 200})
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["trades"]]


@contextmanager
def nothing_written(oms: OMS) -> Iterator[None]:
    """The block's requests leave no trade, no audit row, and send no order to the broker."""
    trades, audit = trade_ids(oms), audit_entries(oms)
    oms.sim.control.reset_counters()
    yield
    assert oms.sim.control.counters().get(POST_ORDERS, 0) == 0
    assert trade_ids(oms) == trades
    assert audit_entries(oms) == audit


def placed(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return response.json()


def estimated_price(engine: Engine, trade_id: int) -> Decimal | None:
    with engine.connect() as connection:
        value = connection.execute(
            text("SELECT estimated_price FROM orders WHERE id = :id"), {"id": trade_id}
        ).scalar()
    return None if value is None else Decimal(str(value))


def at_once(*calls: Callable[[], T]) -> list[T]:
    """Run the calls in threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], T]) -> None:
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results
