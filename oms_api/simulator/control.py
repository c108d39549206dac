"""A small client for the simulator's control API (tests and benchmarks use it)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx


class SimulatorControl:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self._http = httpx.Client(base_url=f"{base_url}/_sim", timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        response = self._http.request(method, path, json=json)
        if response.status_code >= 400:
            raise RuntimeError(f"simulator control {method} {path}: {response.text}")
        return response.json()

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/state")

    def reset(self, seed: int | None = None, cash: Decimal | None = None) -> None:
        body: dict[str, Any] = {}
        if seed is not None:
            body["seed"] = seed
        if cash is not None:
            body["cash"] = str(cash)
        self._call("POST", "/reset", body)

    def configure(self, **settings: Any) -> dict[str, Any]:
        return self._call("PUT", "/config", settings)

    def set_price(self, symbol: str, price: Decimal | str) -> None:
        self._call("PUT", f"/prices/{symbol}", {"price": str(price)})

    def set_market(self, mode: str) -> dict[str, Any]:
        """mode: "open", "closed" or "calendar"."""
        return self._call("PUT", "/market", {"mode": mode})

    def advance(self, seconds: float) -> None:
        self._call("POST", "/clock/advance", {"seconds": seconds})

    def set_cash(self, cash: Decimal | str) -> dict[str, Any]:
        return self._call("PUT", "/cash", {"cash": str(cash)})

    def seed_positions(self, positions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._call("POST", "/positions", positions)

    def seed_orders(self, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._call("POST", "/orders", orders)

    def add_assets(self, assets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._call("POST", "/assets", assets)

    def add_fault(self, route: str, kind: str = "status", **options: Any) -> None:
        self._call("POST", "/faults", {"route": route, "kind": kind, **options})

    def clear_faults(self) -> int:
        """Clear every fault rule and release held requests; how many were released."""
        return self._call("DELETE", "/faults")["released"]

    def release_held(self) -> int:
        """Process every request a process_late fault holds, in arrival order; answers once
        all of them have been processed, with how many there were."""
        return self._call("POST", "/faults/release")["released"]

    def held_requests(self) -> int:
        return self.state()["held_requests"]

    def stream_disconnect(self) -> int:
        return self._call("POST", "/stream/disconnect")["disconnected"]

    def stream_faults(self, duplicate: int = 0, reorder: int = 0) -> None:
        self._call("POST", "/stream/faults", {"duplicate": duplicate, "reorder": reorder})

    def counters(self) -> dict[str, int]:
        return self._call("GET", "/counters")

    def reset_counters(self) -> None:
        self._call("DELETE", "/counters")

    def fills(self) -> list[dict[str, Any]]:
        return self._call("GET", "/fills")
