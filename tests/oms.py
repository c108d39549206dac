"""Helpers to run the real OMS app (FastAPI + services + gateway) against the simulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from oms_api.config import Settings
from oms_api.main import create_app
from oms_api.runtime import Runtime
from tests.waiting import wait_until

TOKEN = "test-token-0123456789"


@dataclass
class OMS:
    client: TestClient
    runtime: Runtime
    sim: Any  # tests.conftest.Sim
    sleeps: list[float] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(f"/api/v1{path}", headers=self.headers, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.post(f"/api/v1{path}", json=json, headers=headers, **kwargs)

    def patch(self, path: str, json: Any = None) -> httpx.Response:
        return self.client.patch(f"/api/v1{path}", json=json, headers=self.headers)

    def create_portfolio(self, name: str = "main", capital: str = "10000") -> dict[str, Any]:
        response = self.post("/portfolios", {"name": name, "allocated_capital": capital})
        assert response.status_code == 201, response.text
        return response.json()

    def trade(self, idempotency_key: str | None = None, **body: Any) -> httpx.Response:
        payload = {"portfolio": "main", "side": "buy", **body}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.post("/trade", payload, headers=headers)


def oms_settings(sim: Any, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "oms_api_token": TOKEN,
        "alpaca_api_key_id": sim.key_id,
        "alpaca_secret_key": sim.secret_key,
        "alpaca_base_url": sim.url,
        "alpaca_data_url": sim.url,
        "alpaca_stream_url": sim.stream_url,
        "broker_timeout_seconds": "2",
        "fill_poll_interval_seconds": "0",
        "order_poll_after_seconds": "5",
        "unknown_grace_seconds": "0",
        "stream_enabled": True,
        # Start-up reconciliation costs broker calls most tests count; its tests turn it on.
        "reconcile_on_start": False,
        # A large burst: tests make their requests at once, and must not wait in real time
        # for the budget to refill (the budget's own tests use an injected clock).
        "broker_requests_per_minute": 150,
        "broker_burst": 50,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextmanager
def running_oms(
    sim: Any,
    engine: Engine,
    database_url: str,
    *,
    background: bool = True,
    gateway: Any = None,
    **overrides: Any,
) -> Iterator[OMS]:
    """The real app in-process: lifespan runs recovery and (optionally) the stream tracker.
    Sleeps the service asks for (settle back-off) are recorded, not slept."""
    sleeps: list[float] = []
    settings = oms_settings(sim, database_url, **overrides)
    runtime = Runtime.build(settings, gateway=gateway, engine=engine, sleep=sleeps.append)
    app = create_app(settings, runtime=runtime, background=background)
    with TestClient(app, raise_server_exceptions=False) as client:
        oms = OMS(client=client, runtime=runtime, sim=sim, sleeps=sleeps)
        if background and settings.stream_enabled:
            wait_for(lambda: runtime.stream_connected, "the OMS trade stream to connect")
        yield oms


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    wait_until(condition, timeout, what)
