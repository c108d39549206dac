"""Reconciliation benchmark (run by hand; not part of the test suite).

    .venv/bin/python bench/reconcile.py [--sizes 1000,10000] [--latency-ms 20]
        [--db sqlite|postgres|both] [--new 10]

What a reconciliation costs with N orders in the account's history at the broker. For each N
and database: the simulator (its own process, oms_latency.py's `--role sim`, rate limit off,
latency L per request) is reset and seeded with N historical orders (the realistic mix of
`oms_api.simulator.history_seed`: equities, single options, verticals and iron condors as
multi-leg orders and as separate legs, some canceled or expired); a new database is migrated
and the OMS app is built in this process (start-up reconciliation and the trade stream off, so
nothing else calls the broker). Then, with the simulator's request counters reset before each:

- **full run**: `POST /api/v1/reconcile` on the empty mirror: the sync walks the whole history
  (pages of 500), snapshots the positions, groups the trades, then compares. Broker calls
  (every `/v2` route the simulator counted): target <= ceil(N/500) + 2;
- **incremental run**: `--new` (10) more orders appear at the broker "outside the app" (seeded
  straight on the simulator), then `POST /api/v1/reconcile` again: target <= 2 broker calls;
- **CPU**: the OMS's own CPU over the full run, target < 2 s at N = 10,000: this process's
  CPU time (`time.process_time`: the OMS's threads and the in-process HTTP client; the
  simulator's CPU is its own process's) less the database engine's work where it runs inside
  this process (SQLite: the thread CPU spent inside SQLite's execute and commit calls). The
  database's work is printed next to it on both databases (PostgreSQL: its server processes'
  CPU from /proc), and so is the process's total;
- **growth** from the smallest to the largest N: calls and the OMS's CPU per order should not
  grow (target: linear, the ratio of the per-order CPU within 1.25).
It prints each measurement with its ratio to the target and PASS/MISS, the machine's load
before and after, and exits 1 on a MISS.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (str(BENCH), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)  # oms_latency (sibling script) and oms_api

from oms_latency import TOKEN, Child, database, free_port, oms_config, wait_for  # noqa: E402

TARGET_CPU_SECONDS_10K = 2.0
TARGET_INCREMENTAL_CALLS = 2
LINEAR_TOLERANCE = 1.25
SEED_CHUNK = 2000


@dataclass
class Measurement:
    db: str
    n: int
    full_calls: int
    full_wall: float
    full_cpu: float
    incremental_calls: int
    incremental_wall: float
    incremental_cpu: float
    mirrored: int
    discrepancies: int
    database_cpu: float | None = None  # the database's work over the full run (see below)
    database_in_process: bool = False  # SQLite: that work is part of full_cpu

    @property
    def full_target(self) -> int:
        return math.ceil(self.n / 500) + 2

    @property
    def oms_cpu(self) -> float:
        """The OMS's own CPU: this process's, less the embedded database engine's work."""
        if self.database_in_process and self.database_cpu is not None:
            return self.full_cpu - self.database_cpu
        return self.full_cpu


class EmbeddedDatabaseClock:
    """Thread CPU spent inside the DB-API's execute, executemany and commit calls (SQLite's
    engine runs in the OMS's process: its B-tree and WAL work is the database's, as the
    PostgreSQL server's is). Fetching rows is left on the OMS's side."""

    METHODS = ("do_execute", "do_executemany", "do_execute_no_params", "do_commit", "do_rollback")

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextlib.contextmanager
    def installed(self) -> Iterator[EmbeddedDatabaseClock]:
        from sqlalchemy.engine.default import DefaultDialect

        originals = {name: getattr(DefaultDialect, name) for name in self.METHODS}

        def timed(original: Any) -> Any:
            def call(*args: Any, **kwargs: Any) -> Any:
                started = time.thread_time()
                try:
                    return original(*args, **kwargs)
                finally:
                    self.seconds += time.thread_time() - started

            return call

        for name, original in originals.items():
            setattr(DefaultDialect, name, timed(original))
        try:
            yield self
        finally:
            for name, original in originals.items():
                setattr(DefaultDialect, name, original)


def postgres_cpu() -> float | None:
    """CPU seconds of every PostgreSQL server process on this machine (Linux /proc), to show
    the database's own work, which SQLite does inside the OMS's process; None if unreadable."""
    total, found = 0.0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.find("(") + 1 : text.rfind(")")]
        if name.startswith("postgres") or name.startswith("postmaster"):
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            found = True
    return total if found else None


def broker_calls(counters: dict[str, int]) -> int:
    return sum(count for route, count in counters.items() if "/v2/" in route)


def seed_history(control: Any, n: int, start: datetime) -> None:
    from oms_api.simulator.history_seed import history_orders

    bodies = history_orders(n, seed=11, start=start)
    for i in range(0, len(bodies), SEED_CHUNK):
        control.seed_orders(bodies[i : i + SEED_CHUNK])


def new_orders(control: Any, count: int, now: datetime) -> None:
    """Orders someone placed in Alpaca's dashboard since the last run."""
    control.seed_orders(
        [
            {
                "client_order_id": f"dashboard-{now.timestamp():.0f}-{i}",
                "symbol": "AAPL",
                "side": "buy",
                "type": "market",
                "qty": "1",
                "filled_avg_price": "180.25",
                "status": "filled",
                "time_in_force": "day",
                "submitted_at": (now + timedelta(milliseconds=i))
                .isoformat()
                .replace("+00:00", "Z"),
            }
            for i in range(count)
        ]
    )


def measure(db: str, n: int, sim_url: str, control: Any, workdir: Path, new: int) -> Measurement:
    from fastapi.testclient import TestClient

    from oms_api.config import Settings
    from oms_api.db.migrate import upgrade
    from oms_api.main import create_app

    control.reset()
    sim_now = datetime.fromisoformat(control.state()["now"].replace("Z", "+00:00"))
    seed_history(control, n, start=sim_now - timedelta(days=400))
    with database(db, workdir) as url:
        upgrade(url)
        config = oms_config(url, sim_url, 0.0)
        config.update(stream_enabled=False, reconcile_on_start=False)
        settings = Settings(_env_file=None, **config)  # type: ignore[call-arg]
        app = create_app(settings, background=False)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with TestClient(app) as client:
            # A running OMS knows the market clock (every trade and the schedule read it, and
            # it is kept until the next open or close): read it once before counting.
            client.get("/api/v1/market-status", headers=headers)
            control.reset_counters()
            server = postgres_cpu() if db == "postgres" else None
            embedded = EmbeddedDatabaseClock()
            clock = embedded.installed() if db == "sqlite" else contextlib.nullcontext()
            with clock:
                cpu, wall = time.process_time(), time.perf_counter()
                full = client.post("/api/v1/reconcile", headers=headers, json={})
                full_cpu, full_wall = time.process_time() - cpu, time.perf_counter() - wall
            server_after = postgres_cpu() if server is not None else None
            server_cpu = server_after - server if server is not None and server_after else None
            database_cpu = embedded.seconds if db == "sqlite" else server_cpu
            if full.status_code != 200:
                raise SystemExit(f"reconcile answered {full.status_code}: {full.text[:500]}")
            full_calls = broker_calls(control.counters())
            mirrored = client.get("/api/v1/sync", headers=headers).json()["orders_mirrored"]

            new_orders(control, new, sim_now + timedelta(seconds=1))
            control.reset_counters()
            cpu, wall = time.process_time(), time.perf_counter()
            again = client.post("/api/v1/reconcile", headers=headers, json={})
            inc_cpu, inc_wall = time.process_time() - cpu, time.perf_counter() - wall
            if again.status_code != 200:
                raise SystemExit(f"reconcile answered {again.status_code}: {again.text[:500]}")
            inc_calls = broker_calls(control.counters())
        return Measurement(
            db=db,
            n=n,
            full_calls=full_calls,
            full_wall=full_wall,
            full_cpu=full_cpu,
            incremental_calls=inc_calls,
            incremental_wall=inc_wall,
            incremental_cpu=inc_cpu,
            mirrored=mirrored,
            discrepancies=again.json()["discrepancy_count"],
            database_cpu=database_cpu,
            database_in_process=db == "sqlite",
        )


def verdict(value: float, target: float) -> str:
    ratio = value / target if target else float("inf")
    return f"{ratio:5.2f}x of target {'PASS' if value <= target else 'MISS'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--new", type=int, default=10)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]

    from oms_api.simulator import SimulatorControl

    load_before = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load {load_before[0]:.2f} {load_before[1]:.2f}")
    print(f"simulator latency {args.latency_ms} ms per request; {args.new} new orders between runs")
    misses = 0
    results: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        sim = Child(
            "sim",
            ["--role", "sim", "--port", str(port), "--latency-ms", str(args.latency_ms)],
            workdir,
        )
        sim_url = f"http://127.0.0.1:{port}"
        try:
            control = SimulatorControl(sim_url, timeout=120)
            wait_for(control.state, sim, "the simulator to start")
            for db in dbs:
                for n in sizes:
                    m = measure(db, n, sim_url, control, workdir, args.new)
                    results.append(m)
                    print(
                        f"\n{db:8} N={n:>6}: {m.mirrored} orders and legs mirrored, "
                        f"{m.discrepancies} discrepancies after the incremental run"
                    )
                    lines = [
                        (f"full run broker calls {m.full_calls}", m.full_calls, m.full_target),
                        (
                            f"incremental broker calls {m.incremental_calls}",
                            m.incremental_calls,
                            TARGET_INCREMENTAL_CALLS,
                        ),
                    ]
                    for label, value, target in lines:
                        print(f"  {label:36} {verdict(value, target)}")
                        misses += value > target
                    cpu_target = TARGET_CPU_SECONDS_10K * n / 10_000
                    print(
                        f"  full run: the OMS's CPU {m.oms_cpu:6.3f} s, wall {m.full_wall:6.3f} s"
                        f"   ({m.oms_cpu / n * 1e6:.0f} µs CPU per order)"
                    )
                    if m.database_cpu is not None:
                        where = (
                            "SQLite's engine, inside this process"
                            if m.database_in_process
                            else "the PostgreSQL server's processes"
                        )
                        print(f"    the database's CPU {m.database_cpu:6.3f} s ({where})")
                    print(f"    this process's CPU {m.full_cpu:6.3f} s")
                    if n >= 10_000:
                        print(f"  {'OMS CPU at N=10,000':36} {verdict(m.oms_cpu, cpu_target)}")
                        misses += m.oms_cpu > cpu_target
                    print(
                        f"  incremental CPU {m.incremental_cpu:6.3f} s, "
                        f"wall {m.incremental_wall:6.3f} s"
                    )
                small = next(r for r in results if r.db == db and r.n == sizes[0])
                large = next(r for r in results if r.db == db and r.n == sizes[-1])
                if large.n > small.n:
                    growth = large.n / small.n
                    cpu_growth = (large.oms_cpu / large.n) / (small.oms_cpu / small.n)
                    call_growth = (large.full_calls / large.n) / (small.full_calls / small.n)
                    print(
                        f"  growth {small.n}->{large.n} (x{growth:.0f}): calls x"
                        f"{large.full_calls / small.full_calls:.1f}, CPU x"
                        f"{large.oms_cpu / small.oms_cpu:.1f}; per order: calls x"
                        f"{call_growth:.2f}, CPU x{cpu_growth:.2f}  "
                        f"{verdict(cpu_growth, LINEAR_TOLERANCE)} (linear)"
                    )
                    misses += cpu_growth > LINEAR_TOLERANCE
        finally:
            sim.stop()
    load_after = os.getloadavg()
    print(
        f"\nload after: {load_after[0]:.2f} {load_after[1]:.2f}"
        f"   at {datetime.now(UTC):%H:%M:%S} UTC"
    )
    print("ALL PASS" if not misses else f"{misses} MISS")
    return 1 if misses else 0


if __name__ == "__main__":
    raise SystemExit(main())
