"""A burst of trades against Alpaca's real rate limit (run by hand; not part of the test suite).

    .venv/bin/python bench/oms_burst.py [--trades 250] [--concurrency 25] [--workers 2]
        [--latency-ms 20] [--broker-limit 200]

N market buys arrive at once, C at a time, spread over W OMS workers on one PostgreSQL, in
front of the simulator enforcing the broker's limit (200 requests a minute per key, on the
wall clock). The OMS runs with its real, shared request budget (BROKER_REQUESTS_PER_MINUTE and
BROKER_BURST at their defaults). It prints what the traders were told and checks:

- the broker answered 429 zero times (the budget, shared by every worker, keeps under it);
- no trade was told "outcome unknown" (a trade the budget cannot send now is refused with
  nothing written: 503 `broker_busy` with a retry time);
- nothing is lost or duplicated: every trade the OMS recorded is at the broker exactly once
  (by client_order_id), every broker order is one the OMS recorded, and every refused trade
  left no row behind.

Processes as in oms_latency.py: the simulator, the OMS workers (`create_app` under uvicorn,
the same instrumented role) and this load generator.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from oms_latency import (
    TOKEN,
    Child,
    database,
    free_port,
    oms_config,
    start_workers,
    wait_for,
)

SYMBOLS = ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA")


def fire(urls: list[str], trades: int, concurrency: int) -> list[tuple[int, dict[str, Any]]]:
    """`trades` market buys, `concurrency` at a time, round robin over the workers."""
    answers: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()
    indexes = iter(range(trades))

    def worker() -> None:
        clients = [
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
            for url in urls
        ]
        try:
            while True:
                with lock:
                    i = next(indexes, None)
                if i is None:
                    return
                body = {"portfolio": "bench", "symbol": SYMBOLS[i % 5], "side": "buy", "qty": "1"}
                response = clients[i % len(clients)].post("/api/v1/trade", json=body)
                with lock:
                    answers.append((response.status_code, response.json()))
        finally:
            for client in clients:
                client.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def oms_trades(url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        while True:
            params: dict[str, Any] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/api/v1/trades", params=params).json()
            found.extend(page["trades"])
            cursor = page["next_cursor"]
            if not cursor:
                return found


def broker_orders(sim_url: str) -> list[dict[str, Any]]:
    headers = {"APCA-API-KEY-ID": "SIMULATOR-KEY", "APCA-API-SECRET-KEY": "simulator-secret"}
    response = httpx.get(
        f"{sim_url}/v2/orders", params={"status": "all", "limit": 500}, headers=headers
    )
    response.raise_for_status()
    return response.json()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=250)
    parser.add_argument("--concurrency", type=int, default=25)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--broker-limit", type=int, default=200, help="requests/min per key")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    from oms_api.db.migrate import upgrade
    from oms_api.simulator import SimulatorControl

    with tempfile.TemporaryDirectory(prefix="oms-burst-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        sim = Child(
            "sim",
            ["--role", "sim", "--port", str(port), "--latency-ms", str(args.latency_ms)],
            workdir,
        )
        sim_url = f"http://127.0.0.1:{port}"
        control = SimulatorControl(sim_url, timeout=5)
        try:
            wait_for(control.state, sim, "the simulator to start")
            with database("postgres", workdir) as url:
                upgrade(url)
                config = oms_config(url, sim_url, 1.0) | {"bench_real_budget": True}
                omses, urls = start_workers(args.workers, "oms", config, workdir)
                try:
                    httpx.post(
                        f"{urls[0]}/api/v1/portfolios",
                        json={"name": "bench", "allocated_capital": "100000000"},
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    ).raise_for_status()
                    # Alpaca's limit from here on (the simulator counts from now).
                    control.configure(rate_limit_per_minute=args.broker_limit)
                    control.reset_counters()
                    print(
                        f"{args.trades} trades, {args.concurrency} at a time, over "
                        f"{args.workers} workers ...",
                        flush=True,
                    )
                    started = time.monotonic()
                    answers = fire(urls, args.trades, args.concurrency)
                    elapsed = time.monotonic() - started
                    time.sleep(3)  # late fills land
                    state = control.state()
                    counters = control.counters()
                    control.configure(rate_limit_per_minute=0)  # the checks below read freely
                    recorded = oms_trades(urls[0])
                    at_broker = broker_orders(sim_url)
                finally:
                    for oms in omses:
                        oms.stop()
        finally:
            control.close()
            sim.stop()

    codes = Counter(
        "placed" if status in (200, 201) else body.get("error", {}).get("code", str(status))
        for status, body in answers
    )
    placed_ids = {body["client_order_id"] for status, body in answers if status in (200, 201)}
    recorded_ids = Counter(trade["client_order_id"] for trade in recorded)
    broker_ids = Counter(order["client_order_id"] for order in at_broker)
    lost = [
        t["client_order_id"]
        for t in recorded
        if t["status"] not in ("not_sent", "rejected") and t["client_order_id"] not in broker_ids
    ]
    unknown_to_oms = [coid for coid in broker_ids if coid not in recorded_ids]
    duplicated = [coid for coid, n in (recorded_ids + broker_ids).items() if n > 2]
    refused_with_rows = [coid for coid in recorded_ids if coid not in placed_ids]
    broker_calls = sum(n for route, n in counters.items() if " /v2/" in route)

    print()
    print(
        f"Burst: {args.trades} market buys, {args.concurrency} in flight, {args.workers} "
        f"workers on PostgreSQL, broker limit {args.broker_limit}/min, latency "
        f"{args.latency_ms} ms; {os.cpu_count()} CPUs, load average {load_before:.2f} before"
    )
    print(f"  answered in {elapsed:.1f} s: " + ", ".join(f"{k} {v}" for k, v in codes.items()))
    print(
        f"  broker requests {broker_calls} ({broker_calls * 60 / max(elapsed, 1):.0f}/min over "
        f"the burst), 429 answers {state['rate_limited_total']}"
    )
    checks = {
        "zero broker 429s": state["rate_limited_total"] == 0,
        "no trade told 'outcome unknown'": codes.get("outcome_unknown", 0) == 0,
        "every recorded trade at the broker once": not lost and not duplicated,
        "every broker order recorded": not unknown_to_oms,
        "refused trades left no row": not refused_with_rows,
    }
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'MISS'}  {name}")
    if lost or unknown_to_oms or duplicated:
        print(f"  lost {lost[:5]}, unknown to the OMS {unknown_to_oms[:5]}, dup {duplicated[:5]}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
