"""Emergency stop benchmark (run by hand; not part of the test suite).

    .venv/bin/python bench/emergency_stop.py [--runs 5] [--latency-ms 20] [--db sqlite|postgres]
        [--positions 50] [--seeded 10] [--orders 20] [--history 0] [--fill-seconds 0]
        [--warm-routes] [--timeline] [--no-baseline]

How long the emergency stop takes to leave the account flat, and how many broker writes it
spends. Each run starts afresh (the simulator reset, a new migrated database, a new OMS
process: a stop leaves trading HALTED), then sets up, with no broker latency so it is quick:
- P positions (default 50): P - S bought through the OMS's `POST /api/v1/trade` at market in
  two portfolios (a third of the symbols held by both books, some in fractions), so the stop's
  closing orders are allotted to the books; S (default 10) seeded straight at the simulator
  (`POST /_sim/positions`, one in five short): what the account holds beyond every book;
  symbols beyond the simulator's own are added with `POST /_sim/assets`;
- R open orders (default 20): GTC limit buys far below the price, placed through the OMS;
then sets the simulator's latency L (default 20 ms per broker request), gives the OMS its real
broker request budget with a full bucket (BROKER_REQUESTS_PER_MINUTE and BROKER_BURST at their
defaults; the set-up ran with one no run reaches) and times, with the monotonic clock all the
processes share:
- **flat verified**: `POST /api/v1/emergency-stop` sent -> the stop's `GET
  /api/v1/emergency-stops/{id}` says `flat` (polled every 10 ms) AND the simulator confirms no
  position and no open order (`GET /v2/positions`, `GET /v2/orders?status=open`, with its
  keys, each one at latency L): target <= 2 s;
- **broker writes**: the stop's `broker_write_calls`, cross-checked with the simulator's request
  counters for the write routes (`DELETE /v2/orders`, `DELETE /v2/positions`, `DELETE
  /v2/positions/{symbol}`, `POST /v2/orders`, and single cancels and replaces) over the stop:
  target <= 3.
It prints each run, min/median/max over the runs, PASS/MISS with the ratio to each target, where
the time goes (mean over the runs: each step of the stop, its broker calls, its back-off sleeps
and its SQL) and, with --timeline, every step and broker call of the slowest run. After each
run it also checks that every portfolio's book is flat and the stop's symbols all `closed`;
it exits 1 on a MISS.

Side by side, in every run (unless --no-baseline): the per-symbol approach the old systems used,
from the same set-up done again (simulator reset, new database, new OMS process; that process
is then shut down, as the old systems had no OMS): the bench itself, as a client of the
simulator with alpaca-py (its TradingClient, retries off), one request after the other, lists
the open orders and cancels each (`DELETE /v2/orders/{id}`), lists the positions and closes
each (`DELETE /v2/positions/{symbol}`), then reads positions and open orders every 50 ms until
none are left. For both it
prints the broker write calls, all broker calls (the simulator's counters, reset just before
each start; the verifying reads included) and the time to flat verified at the broker, then the
medians and the ratios OMS stop / per-symbol.

Variations: --history N first gives the books N more fills (buys and sells of 1 share, the
positions unchanged), which the stop reads to allot its closing orders to the books;
--fill-seconds S has the broker fill each closing order in two parts S seconds apart (the
simulator otherwise fills market orders at once), so the verification has to wait for fills;
--warm-routes asks the controls router something before the stop (the first request of a
process to reach a FastAPI router builds that router's routes, which a cold stop pays).

Processes, as in oms_latency.py: the simulator (oms_latency.py's `--role sim`: rate limit off),
the OMS (`--role oms` here: `create_app(settings)` under uvicorn as `oms api` serves it, trade
stream on, plus bench-only timers monkeypatched in, no product code changed: around the stop's
steps, every HTTP call alpaca-py makes, SQL statements and the stream's fills, read back through
`GET /_bench/stop`) and this process, the client.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (str(BENCH), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)  # oms_latency (sibling script) and oms_api

from oms_latency import TOKEN, Child, database, free_port, oms_config, wait_for  # noqa: E402

TARGET_FLAT_SECONDS = 2.0
TARGET_WRITE_CALLS = 3
POLL_SECONDS = 0.010
VERIFY_POLL_SECONDS = 0.050  # reading the broker again until nothing is left (both approaches)
STOP_TIMEOUT_SECONDS = 120.0
SIM_HEADERS = {"APCA-API-KEY-ID": "SIMULATOR-KEY", "APCA-API-SECRET-KEY": "simulator-secret"}
WRITE_ROUTES = (
    "DELETE /v2/orders",
    "DELETE /v2/positions",
    "DELETE /v2/positions/{symbol}",
    "POST /v2/orders",
    "DELETE /v2/orders/{order_id}",
    "PATCH /v2/orders/{order_id}",
)
PORTFOLIOS = ("alpha", "beta")
STOP_THREAD = "emergency-stop-"
# The stop's steps, timed in the OMS process ("Class.method" of oms_api.controls.stop).
STEPS = (
    "start",
    "run",
    "_cancel_everything",
    "_close_everything",
    "_verify",
    "_what_is_left",
    "_queued_for_open",
    "_close_one",
    "_refresh",
    "_finish",
    "_adopt",
)
# Inside those steps, timed too ("module:attribute" or "module:Class.method"). The stop is being
# reworked: a name it no longer has is skipped (and listed in the report), so old and new names
# both stand here.
SUBSTEPS = (
    "oms_api.controls.stop:EmergencyStops._symbol_row",
    "oms_api.controls.stop:EmergencyStops._symbol_rows",
    "oms_api.controls.stop:allot",
    "oms_api.orders.service:OrderService.adopt",
    "oms_api.orders.service:OrderService.adopt_many",
    "oms_api.controls.stop:EmergencyStops._update_symbol",
    "oms_api.controls.stop:EmergencyStops._write_symbols",
    "oms_api.controls.stop:EmergencyStops._settle_symbols",
    "oms_api.orders.service:OrderService.apply_broker_order",
    "oms_api.orders.service:OrderService.apply_broker_orders",
    "oms_api.orders.service:OrderService.get_order",
    "oms_api.controls.stop:EmergencyStops._count_write",
    "oms_api.controls.stop:EmergencyStops._phase",
    "oms_api.controls.stop:EmergencyStops.get",
)


# ============================================================================ the OMS process
_lock = threading.Lock()
_spans: list[dict[str, Any]] = []  # steps, broker calls, sleeps, stream batches
_sql: dict[str, dict[str, float]] = {}  # thread kind -> {"statements", "ms"}
_missing: list[str] = []  # steps and substeps this version of the stop does not have


def _kind(thread: threading.Thread) -> str:
    name = thread.name
    if name.startswith(STOP_THREAD):
        return "stop"
    if name == "MainThread":
        return "event loop"
    if name.startswith("AnyIO worker thread"):
        return "API workers"
    return name.rstrip("0123456789_ -")


def _span(kind: str, name: str, start: float, end: float, **info: Any) -> None:
    thread = threading.current_thread()
    record = {"kind": kind, "name": name, "start": start, "end": end, "thread": _kind(thread)}
    record.update(info)
    with _lock:
        _spans.append(record)


def wrap_substep(path: str) -> None:
    """Time `module:function` or `module:Class.method` (in the stop's thread only)."""
    import importlib

    module_name, _, attribute = path.partition(":")
    owner: Any = importlib.import_module(module_name)
    name = attribute
    if "." in attribute:
        class_name, name = attribute.split(".")
        owner = getattr(owner, class_name)
    original = getattr(owner, name, None)
    if original is None:
        _missing.append(attribute)
        return
    label = attribute.rsplit(".", 1)[-1] if attribute.startswith("EmergencyStops") else attribute

    def timed(*args: Any, **kwargs: Any) -> Any:
        if not threading.current_thread().name.startswith(STOP_THREAD):
            return original(*args, **kwargs)
        start = time.monotonic()
        try:
            return original(*args, **kwargs)
        finally:
            _span("substep", label, start, time.monotonic())

    setattr(owner, name, timed)


def _instrument() -> None:
    """Timers monkeypatched in (this process only): the stop's steps, alpaca-py's HTTP calls,
    SQL statements per kind of thread, the stream's batches of trade events, garbage
    collections longer than 2 ms."""
    import gc

    import requests
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from oms_api.controls.stop import EmergencyStops
    from oms_api.orders.service import OrderService

    gc_started = [0.0]

    def gc_pause(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.monotonic()
        elif time.monotonic() - gc_started[0] > 0.002:  # the pauses that matter
            name = f"collect generation {info['generation']}"
            _span("gc", name, gc_started[0], time.monotonic(), collected=info["collected"])

    gc.callbacks.append(gc_pause)
    original_send = requests.Session.send

    def timed_send(self: Any, request: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        status = None
        try:
            response = original_send(self, request, **kwargs)
            status = response.status_code
            return response
        finally:
            path = request.path_url.split("?")[0]
            _span("broker", f"{request.method} {path}", start, time.monotonic(), status=status)

    requests.Session.send = timed_send  # type: ignore[method-assign]

    @event.listens_for(Engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: Any, params: Any, ctx: Any, many: Any) -> None:
        conn.info["bench_t0"] = time.monotonic()

    @event.listens_for(Engine, "commit")
    def _commit(conn: Any) -> None:
        kind = _kind(threading.current_thread())
        with _lock:
            totals = _sql.setdefault(kind, {"statements": 0, "ms": 0.0})
            totals["commits"] = totals.get("commits", 0) + 1

    @event.listens_for(Engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: Any, params: Any, ctx: Any, many: Any) -> None:
        elapsed = (time.monotonic() - conn.info.pop("bench_t0", time.monotonic())) * 1000
        kind = _kind(threading.current_thread())
        with _lock:
            totals = _sql.setdefault(kind, {"statements": 0, "ms": 0.0})
            totals["statements"] = totals.get("statements", 0) + 1
            totals["ms"] += elapsed

    def wrap(name: str) -> None:
        original = getattr(EmergencyStops, name, None)
        if original is None:
            _missing.append(f"EmergencyStops.{name}")
            return

        def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            info: dict[str, Any] = {}
            try:
                result = original(self, *args, **kwargs)
                if name == "_what_is_left":
                    held, working = result
                    info = {"held": None if held is None else len(held), "working": len(working)}
                elif name in ("_verify", "_finish"):
                    info = {"result": getattr(result, "value", getattr(result, "status", None))}
                return result
            finally:
                _span("step", name, start, time.monotonic(), **info)

        setattr(EmergencyStops, name, timed)

    for name in STEPS:
        wrap(name)
    for path in SUBSTEPS:
        wrap_substep(path)

    original_events = OrderService.apply_trade_events

    def timed_events(self: Any, events: list[Any]) -> Any:
        start = time.monotonic()
        try:
            return original_events(self, events)
        finally:
            fills = sum(1 for e in events if e.event == "fill")
            _span("stream", "apply_trade_events", start, time.monotonic(), events=len(events),
                  fills=fills)  # fmt: skip

    OrderService.apply_trade_events = timed_events  # type: ignore[method-assign]


class _BenchASGI:
    """`/_bench/stop` answers (and clears) what the timers saw; `/_bench/budget` gives the OMS
    its real broker budget, with a full bucket. Every other request goes to the app, the
    emergency stop's POST timed."""

    def __init__(self, app: Any, settings: Any) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith("/_bench/"):
            if path == "/_bench/budget":
                from oms_api.broker.budget import make_budget

                runtime = self.app.state.runtime
                runtime.gateway.budget = make_budget(
                    runtime.engine,
                    self.settings.broker_requests_per_minute,
                    self.settings.broker_burst,
                )
                answer: Any = {"per_minute": self.settings.broker_requests_per_minute,
                               "burst": self.settings.broker_burst}  # fmt: skip
            else:
                with _lock:
                    answer = {"spans": list(_spans), "sql": dict(_sql), "missing": _missing}
                    _spans.clear()
                    _sql.clear()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": json.dumps(answer).encode()})
            return
        if path != "/api/v1/emergency-stop":
            await self.app(scope, receive, send)
            return
        start = time.monotonic()

        async def timed_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                _span("request", "POST /api/v1/emergency-stop", start, time.monotonic())
            await send(message)

        await self.app(scope, receive, timed_send)


def run_oms(port: int, config: dict[str, Any]) -> None:
    import uvicorn

    from oms_api.broker.budget import make_budget
    from oms_api.config import Settings
    from oms_api.main import create_app

    _instrument()
    settings = Settings(_env_file=None, **config)  # type: ignore[call-arg]
    app = create_app(settings)
    runtime = app.state.runtime
    # The set-up is not what is measured: a budget no run reaches until /_bench/budget.
    runtime.gateway.budget = make_budget(runtime.engine, 100_000_000, 1_000_000)
    original_sleep = runtime.stops.sleep

    def timed_sleep(seconds: float) -> None:  # the verification's back-off
        start = time.monotonic()
        try:
            original_sleep(seconds)
        finally:
            _span("sleep", f"sleep {seconds:g}", start, time.monotonic())

    runtime.stops.sleep = timed_sleep
    uvicorn.run(_BenchASGI(app, settings), host="127.0.0.1", port=port, log_level="warning")


class OMSProcess:
    """This script with --role oms, its output in a log file (wait_for's `child`)."""

    def __init__(self, config: dict[str, Any], workdir: Path, name: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--role", "oms", "--port", str(port), json.dumps(config)],
            cwd=workdir,  # away from the checkout's .env, so only the given settings apply
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60.0
        )

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"the OMS exited ({self.process.returncode}):\n{tail}")

    def wait_ready(self) -> None:
        wait_for(
            lambda: self.client.get("/health").json().get("stream_connected"),
            self,  # type: ignore[arg-type]
            "the OMS to start with its trade stream connected",
            timeout=60.0,
        )

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


# ============================================================================ set-up
def symbols_for(count: int) -> tuple[list[str], list[dict[str, Any]]]:
    """`count` symbols: the simulator's tradable ones, then made-up ones to add (BZAA, ...)."""
    from oms_api.simulator.universe import built_in_assets

    known = [a.symbol for a in built_in_assets().values() if a.tradable and a.status == "active"]
    extra = []
    i = 0
    while len(known) + len(extra) < count:
        letters = chr(ord("A") + i // 26) + chr(ord("A") + i % 26)
        extra.append({"symbol": f"BZ{letters}", "price": str(20 + 7 * i % 180), "shortable": True})
        i += 1
    return (known + [e["symbol"] for e in extra])[:count], extra


def _ok(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        raise SystemExit(f"{what}: HTTP {response.status_code} {response.text[:400]}")
    return response.json()


def set_up(oms: OMSProcess, control: Any, sim_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Positions (through the OMS and seeded at the broker) and resting orders; what was done."""
    from oms_api.simulator.universe import built_in_assets

    symbols, extra = symbols_for(args.positions)
    if extra:
        control.add_assets(extra)
    fractionable = {a.symbol for a in built_in_assets().values() if a.fractionable}
    fractionable |= {e["symbol"] for e in extra}
    client = oms.client
    for name in PORTFOLIOS:
        body = {"name": name, "allocated_capital": "100000000"}
        _ok(client.post("/api/v1/portfolios", json=body), f"creating portfolio {name}")
    bought = symbols[: args.positions - args.seeded]
    seeded = symbols[args.positions - args.seeded :]
    trades = 0
    for i, symbol in enumerate(bought):
        qty = str(1 + i % 9)
        if i % 10 == 5 and symbol in fractionable:
            qty = f"{1 + i % 9}.5"  # a fraction: closed whole by the bulk close
        books = [("alpha", qty)] + ([("beta", "2")] if i % 3 == 0 else [])
        for portfolio, amount in books:
            trade = {"portfolio": portfolio, "symbol": symbol, "side": "buy", "qty": amount}
            answer = _ok(client.post("/api/v1/trade", json=trade), f"buying {symbol}")
            if answer.get("status") != "filled":
                raise SystemExit(f"a set-up buy did not fill: {json.dumps(answer)[:400]}")
            trades += 1
    if seeded:
        control.seed_positions(
            [
                {"symbol": symbol, "qty": str(-3 if i % 5 == 4 else 5 + i)}
                for i, symbol in enumerate(seeded)
            ]
        )
    trades += history(oms, bought, args.history)
    for i in range(args.orders):
        trade = {
            "portfolio": PORTFOLIOS[i % 2],
            "symbol": bought[i % len(bought)],
            "side": "buy",
            "qty": "1",
            "order_type": "limit",
            "limit_price": "1.00",
            "time_in_force": "gtc",
        }
        answer = _ok(client.post("/api/v1/trade", json=trade), "placing a resting order")
        if answer.get("status") not in ("new", "accepted", "pending_new"):
            raise SystemExit(f"a resting order is not resting: {json.dumps(answer)[:400]}")
    time.sleep(0.5)  # the last stream events land
    held, working = at_broker(sim_url)
    if len(held) != args.positions or len(working) != args.orders:
        raise SystemExit(
            f"set-up: the broker holds {len(held)} positions (wanted {args.positions}) and "
            f"{len(working)} open orders (wanted {args.orders})"
        )
    return {"trades": trades, "bought": len(bought), "seeded": len(seeded)}


def history(oms: OMSProcess, symbols: list[str], count: int) -> int:
    """`count` more filled trades in portfolio alpha, 4 at a time: buys and sells of 1 share in
    turn (alpha holds at least 1 of each symbol, so the positions end as they were). The books'
    history, which the stop reads."""
    if count <= 0:
        return 0
    lock = threading.Lock()
    jobs = iter(range(count))
    failures: list[str] = []

    def worker() -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=oms.url, headers=headers, timeout=60) as client:
            while True:
                with lock:
                    i = next(jobs, None)
                if i is None:
                    return
                trade = {
                    "portfolio": "alpha",
                    "symbol": symbols[(i // 2) % len(symbols)],
                    "side": "buy" if i % 2 == 0 else "sell",
                    "qty": "1",
                }
                answer = client.post("/api/v1/trade", json=trade)
                if answer.status_code >= 400 or answer.json().get("status") != "filled":
                    with lock:
                        failures.append(answer.text[:300])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{len(failures)} history trades failed, e.g. {failures[0]}")
    return count


def at_broker(sim_url: str, client: httpx.Client | None = None) -> tuple[list[Any], list[Any]]:
    """The simulator's positions and open orders (with its keys, as alpaca-py asks)."""
    http = client or httpx.Client(base_url=sim_url, headers=SIM_HEADERS, timeout=30)
    try:
        held = _ok(http.get("/v2/positions"), "GET /v2/positions")
        working = _ok(
            http.get("/v2/orders", params={"status": "open", "limit": 500}), "GET /v2/orders"
        )
    finally:
        if client is None:
            http.close()
    return held, working


# ============================================================================ one run
def write_calls(counters: dict[str, int]) -> int:
    return sum(counters.get(route, 0) for route in WRITE_ROUTES)


def broker_calls(counters: dict[str, int]) -> int:
    return sum(n for route, n in counters.items() if " /v2/" in route)


@dataclass
class Run:
    index: int
    setup: dict[str, Any]
    ack_ms: float = 0.0  # POST -> 202
    seen_flat_ms: float = 0.0  # POST -> the client reads a final status
    verified_ms: float = 0.0  # POST -> the simulator confirmed nothing left
    status: str = ""
    stop: dict[str, Any] = field(default_factory=dict)
    stop_seconds: float = 0.0  # finished_at - started_at, as the stop recorded it
    counters: dict[str, int] = field(default_factory=dict)
    spans: list[dict[str, Any]] = field(default_factory=list)
    sql: dict[str, dict[str, float]] = field(default_factory=dict)
    not_timed: list[str] = field(default_factory=list)  # timers with nothing to wrap
    problems: list[str] = field(default_factory=list)
    t0: float = 0.0
    baseline: Baseline | None = None  # the per-symbol approach, from the same set-up

    @property
    def sim_writes(self) -> int:
        return write_calls(self.counters)

    @property
    def broker_calls(self) -> int:
        return broker_calls(self.counters)


@dataclass
class Baseline:
    """The per-symbol approach of the old systems, timed from the same set-up."""

    setup: dict[str, Any]
    canceled: int = 0  # DELETE /v2/orders/{id} answered 2xx
    closed: int = 0  # DELETE /v2/positions/{symbol} answered 2xx
    cancels_ms: float = 0.0  # start -> the last cancel answered (the listing included)
    closes_ms: float = 0.0  # start -> the last close answered (the listing included)
    verified_ms: float = 0.0  # start -> the broker confirmed nothing left
    polls: int = 0  # verification rounds (GET positions + GET open orders each)
    counters: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def sim_writes(self) -> int:
        return write_calls(self.counters)

    @property
    def broker_calls(self) -> int:
        return broker_calls(self.counters)


@contextlib.contextmanager
def prepared(
    args: argparse.Namespace, control: Any, sim_url: str, workdir: Path, name: str
) -> Iterator[tuple[OMSProcess, dict[str, Any]]]:
    """A fresh start (simulator reset, new migrated database, new OMS process) and the set-up,
    with no broker latency; the OMS process is stopped on the way out."""
    from oms_api.db.migrate import upgrade

    control.reset()  # latency 0, counters and faults cleared, a fresh account
    with database(args.db, workdir) as url:
        upgrade(url)
        oms = OMSProcess(oms_config(url, sim_url, 1.0), workdir, name)
        try:
            oms.wait_ready()
            yield oms, set_up(oms, control, sim_url, args)
        finally:
            oms.stop()


def slow_broker(control: Any, args: argparse.Namespace) -> None:
    """The broker as measured: latency L on every request (and fills in parts if asked)."""
    control.configure(latency_ms=args.latency_ms)
    if args.fill_seconds > 0:  # market orders: half at once, the rest this much later
        control.configure(fill_parts=2, fill_interval_seconds=args.fill_seconds)
    time.sleep(0.3)  # nothing of the set-up still in flight


def one_run(index: int, args: argparse.Namespace, control: Any, sim_url: str, workdir: Path) -> Run:
    with prepared(args, control, sim_url, workdir, f"oms-{index}") as (oms, setup):
        sim_http = httpx.Client(base_url=sim_url, headers=SIM_HEADERS, timeout=30)
        try:
            run = Run(index, setup)
            _ok(oms.client.post("/_bench/budget"), "the real budget")
            slow_broker(control, args)
            oms.client.get("/_bench/stop")  # the timers start afresh
            sim_http.get("/v2/clock")  # the keep-alive connection, before the clock starts
            oms.client.get("/health")
            if args.warm_routes:  # FastAPI builds the controls router's routes now, not below
                oms.client.get("/api/v1/emergency-stops")
            control.reset_counters()  # none of the above calls the broker but the clock

            run.t0 = time.monotonic()
            answer = oms.client.post(
                "/api/v1/emergency-stop",
                json={"reason": "benchmark", "requested_by": "bench", "requested_by_name": "b"},
            )
            run.ack_ms = (time.monotonic() - run.t0) * 1000
            if answer.status_code != 202:
                raise SystemExit(f"emergency stop: HTTP {answer.status_code} {answer.text[:400]}")
            stop_id = answer.json()["id"]
            stop: dict[str, Any] = {}
            while time.monotonic() - run.t0 < STOP_TIMEOUT_SECONDS:
                stop = _ok(oms.client.get(f"/api/v1/emergency-stops/{stop_id}"), "the stop")
                if stop["status"] != "running":
                    break
                time.sleep(POLL_SECONDS)
            run.seen_flat_ms = (time.monotonic() - run.t0) * 1000
            run.status = stop["status"]
            while True:
                held, working = at_broker(sim_url, sim_http)
                if not held and not working:
                    run.verified_ms = (time.monotonic() - run.t0) * 1000
                    break
                if time.monotonic() - run.t0 > STOP_TIMEOUT_SECONDS:
                    run.problems.append(
                        f"the broker still holds {len(held)} positions and {len(working)} open "
                        "orders"
                    )
                    run.verified_ms = float("nan")
                    break
                time.sleep(VERIFY_POLL_SECONDS)
            run.counters = control.counters()
            timers = oms.client.get("/_bench/stop").json()
            run.spans, run.sql = timers["spans"], timers["sql"]
            run.not_timed = timers.get("missing", [])
            run.stop = stop
            started = datetime.fromisoformat(stop["started_at"])
            if stop.get("finished_at"):
                finished = datetime.fromisoformat(stop["finished_at"])
                run.stop_seconds = (finished - started).total_seconds()
            check_after(run, oms, args)
        finally:
            sim_http.close()
    return run


def per_symbol(
    index: int, args: argparse.Namespace, control: Any, sim_url: str, workdir: Path
) -> Baseline:
    """The old systems' emergency stop, from the same set-up, as a naive client of the broker
    would do it with alpaca-py, one request after the other: list the open orders and cancel
    each (`DELETE /v2/orders/{id}`), list the positions and close each (`DELETE
    /v2/positions/{symbol}`), then read positions and open orders until none remain (every
    VERIFY_POLL_SECONDS). The OMS process that did the set-up is stopped first: the old
    systems had no OMS, and its trade stream would answer every closing order (with broker
    calls of its own)."""
    from alpaca.common.exceptions import APIError
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import QueryOrderStatus
    from alpaca.trading.requests import GetOrdersRequest

    with prepared(args, control, sim_url, workdir, f"oms-{index}-baseline") as (oms, setup):
        oms.stop()
        result = Baseline(setup)
        client = TradingClient(
            SIM_HEADERS["APCA-API-KEY-ID"],
            SIM_HEADERS["APCA-API-SECRET-KEY"],
            paper=True,
            url_override=sim_url,
        )
        client._retry = 0  # a 429 or 504 is a failure here, not a retry hidden from the count
        open_orders = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500)
        try:
            slow_broker(control, args)
            client.get_clock()  # the keep-alive connection, before the clock starts
            control.reset_counters()

            t0 = time.monotonic()
            for order in client.get_orders(open_orders):
                try:
                    client.cancel_order_by_id(order.id)
                    result.canceled += 1
                except APIError as error:  # a naive loop notes it and goes on
                    result.problems.append(f"cancel {order.symbol}: {error}")
            result.cancels_ms = (time.monotonic() - t0) * 1000
            for position in client.get_all_positions():
                try:
                    client.close_position(position.symbol)
                    result.closed += 1
                except APIError as error:
                    result.problems.append(f"close {position.symbol}: {error}")
            result.closes_ms = (time.monotonic() - t0) * 1000
            while True:
                held = client.get_all_positions()
                working = client.get_orders(open_orders)
                result.polls += 1
                if not held and not working:
                    result.verified_ms = (time.monotonic() - t0) * 1000
                    break
                if time.monotonic() - t0 > STOP_TIMEOUT_SECONDS:
                    result.problems.append(
                        f"the broker still holds {len(held)} positions and {len(working)} open "
                        "orders"
                    )
                    result.verified_ms = float("nan")
                    break
                time.sleep(VERIFY_POLL_SECONDS)
            result.counters = control.counters()
        finally:
            client._session.close()
    if result.canceled != args.orders:
        result.problems.append(f"canceled {result.canceled} orders (wanted {args.orders})")
    if result.closed != args.positions:
        result.problems.append(f"closed {result.closed} positions (wanted {args.positions})")
    return result


def check_after(run: Run, oms: OMSProcess, args: argparse.Namespace) -> None:
    """The stop's record and the books agree with the broker (nothing left anywhere)."""
    stop = run.stop
    if run.status != "flat":
        run.problems.append(f"the stop ended {run.status}: {stop.get('error')}")
    symbols = stop.get("symbols", [])
    if len(symbols) != args.positions:
        run.problems.append(f"the stop lists {len(symbols)} symbols (wanted {args.positions})")
    not_closed = [s["symbol"] for s in symbols if s["outcome"] != "closed"]
    if not_closed:
        run.problems.append(f"symbols not `closed`: {not_closed[:8]}")
    if stop.get("orders_canceled") != args.orders:
        run.problems.append(f"orders_canceled {stop.get('orders_canceled')} (wanted {args.orders})")
    if stop.get("broker_write_calls") != run.sim_writes:
        run.problems.append(
            f"the stop counts {stop.get('broker_write_calls')} broker writes, the simulator "
            f"{run.sim_writes}"
        )
    view = _ok(oms.client.get("/api/v1/positions/by-portfolio"), "positions by portfolio")
    left = [
        f"{book['name']}:{p['symbol']} {p['qty']}"
        for book in view["portfolios"]
        for p in book.get("positions", [])
        if Decimal(str(p["qty"])) != 0
    ]
    if left or view["outside_portfolios"]:
        run.problems.append(f"books not flat: {left[:6]}, outside {view['outside_portfolios'][:3]}")


# ============================================================================ report
def _rel(run: Run, value: float) -> float:
    return (value - run.t0) * 1000


def _stat(values: list[float]) -> str:
    return (
        f"min {min(values):7.1f}  median {statistics.median(values):7.1f}  max {max(values):7.1f}"
    )


def breakdown(run: Run) -> dict[str, float]:
    """Where one run's time went, in ms: consecutive intervals that add up to `verified`."""
    steps = [s for s in run.spans if s["kind"] == "step"]

    def first(name: str) -> dict[str, Any] | None:
        return next((s for s in steps if s["name"] == name), None)

    parts: dict[str, float] = {}
    request = next((s for s in run.spans if s["kind"] == "request"), None)
    start, go = first("start"), first("run")
    cancel, close = first("_cancel_everything"), first("_close_everything")
    verify, finish = first("_verify"), first("_finish")
    if not all((request, start, go, cancel, close, verify, finish)):
        return parts
    assert request and start and go and cancel and close and verify and finish
    parts["POST -> the OMS's ASGI app"] = _rel(run, request["start"])
    parts["routing, dependencies, the thread pool (*)"] = (start["start"] - request["start"]) * 1000
    parts["start(): HALTED, the record, audit, alerts"] = (start["end"] - start["start"]) * 1000
    parts["-> the stop's thread runs"] = (go["start"] - start["end"]) * 1000
    parts["lock and first read of the record"] = (cancel["start"] - go["start"]) * 1000
    parts["cancel: DELETE /v2/orders"] = (cancel["end"] - cancel["start"]) * 1000
    parts["close: GET positions, DELETE /v2/positions, adopt"] = (
        close["end"] - close["start"]
    ) * 1000
    parts["verify (reads, back-off, refresh)"] = (verify["end"] - close["end"]) * 1000
    parts["finish: record flat, announce"] = (finish["end"] - verify["end"]) * 1000
    parts["-> the client reads it (10 ms polls)"] = run.seen_flat_ms - _rel(run, finish["end"])
    parts["the simulator's check (2 reads)"] = run.verified_ms - run.seen_flat_ms
    return parts


def inside(run: Run) -> dict[str, float]:
    """Totals inside the stop's thread: broker calls, sleeps, SQL, adopting, the rest."""
    stop_spans = [s for s in run.spans if s["thread"] == "stop"]
    go = next((s for s in stop_spans if s["kind"] == "step" and s["name"] == "run"), None)
    if go is None:
        return {}
    broker = [s for s in stop_spans if s["kind"] == "broker"]
    sleeps = [s for s in stop_spans if s["kind"] == "sleep"]
    adopts = [s for s in stop_spans if s["kind"] == "step" and s["name"] == "_adopt"]
    rounds = [s for s in stop_spans if s["kind"] == "step" and s["name"] == "_what_is_left"]
    sql = {"statements": 0, "ms": 0.0, "commits": 0, **run.sql.get("stop", {})}
    total = (go["end"] - go["start"]) * 1000
    broker_ms = sum((s["end"] - s["start"]) * 1000 for s in broker)
    sleep_ms = sum((s["end"] - s["start"]) * 1000 for s in sleeps)
    return {
        "run() total": total,
        "broker calls": len(broker),
        "broker ms": broker_ms,
        "sleeps": len(sleeps),
        "sleep ms": sleep_ms,
        "verify rounds": len(rounds),
        "SQL statements": sql["statements"],
        "SQL ms": sql["ms"],
        "commits": sql["commits"],
        "adopted": len(adopts),
        "adopt ms": sum((s["end"] - s["start"]) * 1000 for s in adopts),
        "rest ms": total - broker_ms - sleep_ms - sql["ms"],
    }


def report(runs: list[Run], args: argparse.Namespace) -> int:
    print()
    print(
        f"Emergency stop: {args.positions} positions ({args.positions - args.seeded} bought "
        f"through the OMS in {len(PORTFOLIOS)} portfolios, {args.seeded} seeded at the broker), "
        f"{args.orders} open orders; broker latency {args.latency_ms} ms per request"
        + (f", fills {args.fill_seconds:g} s apart" if args.fill_seconds else "")
        + "; "
        f"{args.db}; {len(runs)} runs; {os.cpu_count()} CPUs, load average "
        f"{args.load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    for run in runs:
        calls = ", ".join(
            f"{route} x{n}" for route, n in sorted(run.counters.items()) if route in WRITE_ROUTES
        )
        print(
            f"  run {run.index} (set-up: {run.setup['trades']} OMS trades): {run.status}, "
            f"verified {run.verified_ms:7.1f} ms (ack "
            f"{run.ack_ms:.1f}, client saw it {run.seen_flat_ms:.1f}, the stop's own "
            f"{run.stop_seconds * 1000:.1f}); writes {run.stop.get('broker_write_calls')} "
            f"(simulator: {calls or 'none'}); broker requests {run.broker_calls}; canceled "
            f"{run.stop.get('orders_canceled')}"
        )
        for problem in run.problems:
            print(f"      PROBLEM {problem}")
    print()
    verified = [r.verified_ms for r in runs]
    writes = [float(r.stop.get("broker_write_calls", 0)) for r in runs]
    sim_writes = [float(r.sim_writes) for r in runs]
    rows = {
        "POST -> flat verified at the broker (ms)": verified,
        "POST -> 202 (ms)": [r.ack_ms for r in runs],
        "the stop's started_at -> finished_at (ms)": [r.stop_seconds * 1000 for r in runs],
        "broker write calls (the stop's count)": writes,
        "broker write calls (simulator counters)": sim_writes,
        "broker requests, all routes (simulator)": [float(r.broker_calls) for r in runs],
    }
    for name, values in rows.items():
        print(f"  {name:44} {_stat(values)}")
    report_side_by_side(runs)
    print()
    target_ms = TARGET_FLAT_SECONDS * 1000
    worst_writes = max(max(writes), max(sim_writes))
    checks = [
        (
            f"flat verified <= {TARGET_FLAT_SECONDS:g} s in every run: median "
            f"{statistics.median(verified):.0f} ms ({statistics.median(verified) / target_ms:.2f} "
            f"of the target), max {max(verified):.0f} ms ({max(verified) / target_ms:.2f})",
            max(verified) <= target_ms,
        ),
        (
            f"<= {TARGET_WRITE_CALLS} broker write calls in every run: max {worst_writes:.0f} "
            f"({worst_writes / TARGET_WRITE_CALLS:.2f} of the target; the stop's count and the "
            "simulator's agree)"
            if writes == sim_writes
            else f"<= {TARGET_WRITE_CALLS} broker write calls: the stop counted {writes}, the "
            f"simulator {sim_writes}",
            worst_writes <= TARGET_WRITE_CALLS and writes == sim_writes,
        ),
        (
            "every run flat, the broker and every book empty, every symbol `closed`",
            not any(r.problems for r in runs),
        ),
    ]
    if any(r.baseline for r in runs):  # the comparison holds only if the baseline got flat too
        checks.append(
            (
                "the per-symbol baseline: every run flat at the broker, every order canceled and "
                "every position closed one by one",
                not any(r.baseline.problems for r in runs if r.baseline),
            )
        )
    for label, ok in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {label}")
    report_where(runs, args.warm_routes)
    if args.timeline:
        report_timeline(max(runs, key=lambda r: r.verified_ms))
    return 0 if all(ok for _, ok in checks) else 1


def report_side_by_side(runs: list[Run]) -> None:
    """Each run's OMS stop next to the per-symbol approach, then the medians and their ratios."""
    pairs = [(r, r.baseline) for r in runs if r.baseline is not None]
    if not pairs:
        return
    print()
    print(
        "Side by side, each approach from the same set-up (broker calls as the simulator counted "
        "them from the start to verified flat, the verifying reads included):"
    )
    print(
        f"  {'run':>3}  {'approach':36} {'write calls':>11} {'all calls':>9} {'flat verified':>15}"
    )
    for run, base in pairs:
        print(
            f"  {run.index:3}  {'OMS stop (bulk cancel + bulk close)':36} {run.sim_writes:11} "
            f"{run.broker_calls:9} {run.verified_ms:12.1f} ms"
        )
        print(
            f"  {'':3}  {'per-symbol, one request at a time':36} {base.sim_writes:11} "
            f"{base.broker_calls:9} {base.verified_ms:12.1f} ms   ({base.canceled} cancels done "
            f"at {base.cancels_ms:.0f} ms, {base.closed} closes at {base.closes_ms:.0f} ms, "
            f"{base.polls} verification read{'s' if base.polls != 1 else ''})"
        )
        for problem in base.problems:
            print(f"      PROBLEM (per-symbol) {problem}")
    print()
    print(
        f"  {f'median over {len(pairs)} run' + ('s' if len(pairs) != 1 else ''):28} "
        f"{'OMS stop':>10} {'per-symbol':>11}   OMS stop / per-symbol"
    )
    rows = (
        ("broker write calls", [r.sim_writes for r, _ in pairs], [b.sim_writes for _, b in pairs],
         "{:.0f}", ("fewer", "more")),
        ("broker calls, all routes", [r.broker_calls for r, _ in pairs],
         [b.broker_calls for _, b in pairs], "{:.0f}", ("fewer", "more")),
        ("start -> flat verified (ms)", [r.verified_ms for r, _ in pairs],
         [b.verified_ms for _, b in pairs], "{:.1f}", ("faster", "slower")),
    )  # fmt: skip
    for name, ours, theirs, shape, (better, worse) in rows:
        mine, base = statistics.median(ours), statistics.median(theirs)
        ratio = mine / base if base else float("nan")
        times = f"{1 / ratio:.1f}x {better}" if 0 < ratio < 1 else f"{ratio:.2f}x {worse}"
        print(
            f"  {name:28} {shape.format(mine):>10} {shape.format(base):>11}   {ratio:.3f} ({times})"
        )
    calls = [
        ", ".join(f"{route} x{n}" for route, n in sorted(b.counters.items()) if " /v2/" in route)
        for _, b in pairs
    ]
    print(f"  the per-symbol approach's calls (run {pairs[-1][0].index}): {calls[-1]}")


def report_where(runs: list[Run], warm: bool) -> None:
    not_timed = sorted({name for r in runs for name in r.not_timed})
    if not_timed:
        print()
        print(f"Not timed (this version of the stop has no such function): {', '.join(not_timed)}")
    parts = [breakdown(r) for r in runs]
    parts = [p for p in parts if p]
    if not parts:
        return
    print()
    print("Where the time goes (mean ms over the runs, one step after the other):")
    for name in parts[0]:
        print(f"  {name:52} {statistics.fmean(p[name] for p in parts):7.1f}")
    print(f"  {'= POST -> flat verified':52} {statistics.fmean(r.verified_ms for r in runs):7.1f}")
    print(
        "  (*) the first request of a process to reach a router makes FastAPI build that "
        "router's routes" + (" (warmed up before the stop here)" if warm else "")
    )
    totals = [inside(r) for r in runs]
    totals = [t for t in totals if t]
    if not totals:
        return

    def mean(key: str) -> float:
        return statistics.fmean(t[key] for t in totals)

    print(
        f"  inside the stop's thread (run(), {mean('run() total'):.1f} ms): "
        f"{mean('broker calls'):.1f} broker calls {mean('broker ms'):.1f} ms, "
        f"{mean('sleeps'):.1f} back-off sleeps {mean('sleep ms'):.1f} ms, "
        f"{mean('SQL statements'):.0f} SQL statements {mean('SQL ms'):.1f} ms and "
        f"{mean('commits'):.0f} commits, the rest (Python: "
        f"alpaca-py's parsing, the ORM) {mean('rest ms'):.1f} ms; "
        f"{mean('verify rounds'):.1f} verification rounds; {mean('adopted'):.0f} _adopt calls "
        f"(the closing orders adopted) {mean('adopt ms'):.1f} ms"
    )
    calls: dict[str, list[float]] = {}
    for run in runs:
        for s in run.spans:
            if s["kind"] == "broker" and s["thread"] == "stop":
                calls.setdefault(s["name"], []).append((s["end"] - s["start"]) * 1000)
    print(
        "  the stop's broker calls (per run, mean ms each): "
        + ", ".join(
            f"{name} x{len(v) / len(runs):.1f} {statistics.fmean(v):.1f}"
            for name, v in sorted(calls.items(), key=lambda item: -sum(item[1]))
        )
    )
    substeps: dict[str, list[float]] = {}
    for run in runs:
        for s in run.spans:
            if s["kind"] == "substep":
                substeps.setdefault(s["name"], []).append((s["end"] - s["start"]) * 1000)
    print(
        "  inside those steps (per run: calls, ms in all): "
        + ", ".join(
            f"{name} x{len(v) / len(runs):.0f} {sum(v) / len(runs):.1f}"
            for name, v in sorted(substeps.items(), key=lambda item: -sum(item[1]))
        )
    )
    others = [
        s for run in runs for s in run.spans if s["kind"] == "broker" and s["thread"] != "stop"
    ]
    if others:
        names = sorted({f"{s['name']} ({s['thread']})" for s in others})
        print(f"  other broker calls meanwhile: {len(others) / len(runs):.1f} a run: {names}")
    fills = [sum(s.get("fills", 0) for s in r.spans if s["kind"] == "stream") for r in runs]
    last = [
        max((_rel(r, s["end"]) for s in r.spans if s["kind"] == "stream"), default=float("nan"))
        for r in runs
    ]
    print(
        f"  the trade stream: {statistics.fmean(fills):.0f} fills applied a run, the last at "
        f"{statistics.fmean(last):.1f} ms after the POST"
    )


def report_timeline(run: Run) -> None:
    print()
    print(f"Timeline of the slowest run ({run.index}; ms after the POST was sent):")
    shown = [
        s
        for s in run.spans
        if s["kind"] != "substep" and not (s["kind"] == "step" and s["name"] == "_adopt")
    ]
    adopts = [s for s in run.spans if s["kind"] == "step" and s["name"] == "_adopt"]
    if adopts:
        shown.append(
            {
                "kind": "step",
                "name": f"_adopt x{len(adopts)} (first to last)",
                "start": min(s["start"] for s in adopts),
                "end": max(s["end"] for s in adopts),
                "thread": "stop",
            }
        )
    for s in sorted(shown, key=lambda s: s["start"]):
        extra = {k: v for k, v in s.items() if k not in ("kind", "name", "start", "end", "thread")}
        note = " " + json.dumps(extra) if extra else ""
        print(
            f"  {_rel(run, s['start']):8.1f} -> {_rel(run, s['end']):8.1f}  "
            f"{s['kind']:7} {s['thread']:12} {s['name']}{note}"
        )
    print(f"  {run.seen_flat_ms:8.1f}             client  reads `{run.status}`")
    print(f"  {run.verified_ms:8.1f}             client  the simulator confirms: nothing left")


# ============================================================================ main
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs (default 5)")
    parser.add_argument(
        "--latency-ms", type=int, default=20, help="simulator latency per REST call (default 20)"
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--positions", type=int, default=50, help="positions held (default 50)")
    parser.add_argument(
        "--seeded",
        type=int,
        default=10,
        help="of them, seeded straight at the broker, outside every book (default 10)",
    )
    parser.add_argument("--orders", type=int, default=20, help="open limit orders (default 20)")
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        help="first fill the books' history with this many more trades (buys and sells of 1 "
        "share, positions unchanged; default 0)",
    )
    parser.add_argument(
        "--fill-seconds",
        type=float,
        default=0.0,
        help="the broker fills each closing order in two parts this far apart (default 0: "
        "at once, as the simulator fills market orders)",
    )
    parser.add_argument(
        "--warm-routes",
        action="store_true",
        help="ask the controls router something first (GET /emergency-stops), so FastAPI has "
        "built its routes before the stop",
    )
    parser.add_argument(
        "--timeline", action="store_true", help="also print every step of the slowest run"
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the per-symbol approach measured next to the OMS stop in every run",
    )
    parser.add_argument("--role", choices=["oms"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("config", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 0 <= args.seeded < args.positions:
        parser.error("--seeded must be at least 0 and below --positions")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.role == "oms":
        run_oms(args.port, json.loads(args.config))
        return 0

    from oms_api.simulator import SimulatorControl

    args.load_before = os.getloadavg()[0]  # other work on the machine skews every number
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="oms-stop-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        sim = Child("sim", ["--role", "sim", "--port", str(port), "--latency-ms", "0"], workdir)
        sim_url = f"http://127.0.0.1:{port}"
        control = SimulatorControl(sim_url, timeout=30)
        try:
            wait_for(control.state, sim, "the simulator to start")
            for index in range(1, args.runs + 1):
                print(f"  run {index}/{args.runs}: set-up, then the stop ...", flush=True)
                run = one_run(index, args, control, sim_url, workdir)
                if not args.no_baseline:
                    print(
                        f"  run {index}/{args.runs}: set-up again, then per symbol ...", flush=True
                    )
                    run.baseline = per_symbol(index, args, control, sim_url, workdir)
                runs.append(run)
        finally:
            control.close()
            sim.stop()
    return report(runs, args)


if __name__ == "__main__":
    sys.exit(main())
