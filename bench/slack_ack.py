"""Slack ack-latency benchmark (run by hand; not part of the test suite).

    .venv/bin/python bench/slack_ack.py [--runs N] [--oms-latency-ms L] [--in-process]

N signed `/trade AAPL buy 10` slash commands go, one at a time, over real HTTP to the bot's
`POST /slack/events` (`slack_bot.server.create_http_app` under uvicorn), and it measures:
- ack: signed command sent -> the bot's HTTP response (Slack gives up after 3 s; target p99
  <= 100 ms);
- views.open: signed command sent -> the fake Slack Web API receiving the views.open call that
  shows the loading modal (the trigger_id dies 3 s after Slack sent it; target p99 <= 300 ms);
- form (information only): signed command sent -> the views.update that replaces the loading
  view with the trade form, after the bot's OMS calls.
The next command goes only after the previous one's views.update (or a 5 s timeout), so each
sample starts with the bot idle.

Processes:
- this one: the load generator, the fake Slack Web API (tests/slack_fakes.py; it timestamps
  every call on arrival with this process's monotonic clock, so latencies need no clock sync),
  and a fake OMS answering every request after a fixed L ms (default 50) with canned JSON;
- the bot (`--role bot`), alone in its own process as in production (`--in-process` runs it in
  a thread here instead: quicker to debug, but it shares this process's GIL with the fakes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.slack_fakes

from tests.slack_fakes import (  # noqa: E402
    BotServer,
    FakeSlackAPI,
    SlackRequestSigner,
    free_port,
)

SIGNING_SECRET = "bench-secret"
BOT_TOKEN = "xoxb-bench"
TRADER = "UBENCH"
CHANNEL = "CBENCH"
COMMAND_TEXT = "AAPL buy 10"
TARGET_ACK_P99_MS = 100.0
TARGET_VIEWS_OPEN_P99_MS = 300.0
WARMUP_COMMANDS = 5
FORM_TIMEOUT_SECONDS = 5.0


# ============================================================================ the fake OMS
def _canned(path: str, method: str) -> tuple[int, Any]:
    """What the OMS would answer (shapes from oms_api/api/schemas.py), or a 404 error shape."""
    now = "2026-11-18T15:00:00Z"
    path = path.split("?", 1)[0]
    if path == "/health":
        return 200, {
            "status": "ok",
            "database": "ok",
            "alpaca_connected": True,
            "stream_connected": True,
            "mode": "SIMULATOR",
            "version": "bench",
        }
    if not path.startswith("/api/v1/"):
        return 404, {"error": {"code": "not_found", "message": "Not Found", "details": {}}}
    route = path.removeprefix("/api/v1/")
    if route == "portfolios":
        return 200, [
            {
                "id": 1,
                "name": "main",
                "allocated_capital": "10000.00",
                "status": "active",
                "created_at": now,
                "updated_at": now,
            }
        ]
    if route.startswith("quote/"):
        symbol = route.removeprefix("quote/").upper()
        return 200, {
            "symbol": symbol,
            "price": "187.25",
            "bid": "187.20",
            "ask": "187.30",
            "timestamp": now,
        }
    if route == "market-status":
        return 200, {
            "is_open": True,
            "timestamp": now,
            "next_open": "2026-11-19T14:30:00Z",
            "next_close": "2026-11-18T21:00:00Z",
        }
    if route == "positions":
        return 200, []
    if route == "account":
        return 200, {
            "account_number": "BENCH0001",
            "status": "ACTIVE",
            "currency": "USD",
            "equity": "100000",
            "cash": "100000",
            "buying_power": "200000",
            "portfolio_value": "100000",
            "mode": "SIMULATOR",
        }
    if route.startswith("portfolio/"):
        return 200, {
            "name": route.removeprefix("portfolio/"),
            "status": "active",
            "allocated_capital": "10000.00",
            "positions": [],
            "market_value": "0",
            "unrealized_pl": "0",
            "realized_pl": "0",
        }
    if route == "trades" and method == "GET":
        return 200, {"trades": [], "next_cursor": None}
    return 404, {"error": {"code": "not_found", "message": f"no {route}", "details": {}}}


class FakeOMS:
    """Answers every request after a fixed latency, in its own server thread per request."""

    def __init__(self, latency_seconds: float) -> None:
        self.requests: dict[str, int] = {}
        self._lock = threading.Lock()
        latency = latency_seconds
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # httpx keeps its connections alive
            # Headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK
            # hold the body ~40 ms on a kept-alive connection.
            disable_nagle_algorithm = True

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with owner._lock:
                    key = f"{self.command} {self.path.split('?', 1)[0]}"
                    owner.requests[key] = owner.requests.get(key, 0) + 1
                time.sleep(latency)
                status, answer = _canned(self.path, self.command)
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# ============================================================================ the bot
def bot_settings(config: dict[str, Any]) -> Any:
    from slack_bot.config import BotSettings

    return BotSettings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=config["slack_api_url"],
        oms_url=config["oms_url"],
        oms_api_token="bench-oms-token",
        slack_trader_user_ids=[TRADER],
        log_level="WARNING",
    )


def run_bot(port: int, config: dict[str, Any]) -> None:
    """The bot process: the HTTP app under uvicorn, as `oms bot` serves it."""
    import uvicorn

    from slack_bot.server import create_http_app

    app = create_http_app(bot_settings(config))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


class BotProcess:
    """This script with --role bot, its output in a log file."""

    def __init__(self, port: int, config: dict[str, Any], workdir: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = workdir / "bot.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--role",
                "bot",
                "--port",
                str(port),
                json.dumps(config),
            ],
            cwd=workdir,  # away from the checkout's .env, so only the given settings apply
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._client = httpx.Client(base_url=self.url, timeout=10.0)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"the bot exited ({self.process.returncode}):\n{tail}")

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if self._client.get("/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"the bot did not answer /health in {timeout:g} s")

    def post_signed(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self._client.post("/slack/events", content=body, headers=headers)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        self._client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


# ============================================================================ measuring
@dataclass
class Sample:
    status: int
    ack_ms: float
    views_open_ms: float | None  # None: no views.open for this trigger_id
    form_ms: float | None  # None: no views.update of that view within the timeout


@dataclass
class Result:
    samples: list[Sample] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def one_command(
    index: int,
    fake: FakeSlackAPI,
    signer: SlackRequestSigner,
    post: Callable[[bytes, dict[str, str]], httpx.Response],
) -> tuple[Sample, str | None]:
    trigger_id = f"bench.{index}.{os.getpid()}"
    body, headers = signer.command(
        "/trade",
        COMMAND_TEXT,
        TRADER,
        CHANNEL,
        fake.response_url(f"cmd-{index}"),
        trigger_id=trigger_id,
    )
    started = time.monotonic()
    response = post(body, headers)
    ack_ms = (time.monotonic() - started) * 1000
    problem = None
    if response.status_code != 200:
        problem = f"command {index}: HTTP {response.status_code} {response.text[:200]!r}"
    views_open_ms = form_ms = None
    try:
        [opened] = fake.wait_for(
            "views.open",
            timeout=FORM_TIMEOUT_SECONDS,
            where=lambda c: c.args.get("trigger_id") == trigger_id,
        )
        views_open_ms = (opened.received_at - started) * 1000
        # Commands go one at a time: the next views.update is this command's form.
        [form] = fake.wait_for(
            "views.update",
            timeout=FORM_TIMEOUT_SECONDS,
            where=lambda c: c.received_at >= opened.received_at,
        )[:1]
        form_ms = (form.received_at - started) * 1000
    except AssertionError as missing:
        problem = problem or f"command {index}: {missing}"
    return Sample(response.status_code, ack_ms, views_open_ms, form_ms), problem


def run(args: argparse.Namespace) -> Result:
    result = Result()
    signer = SlackRequestSigner(SIGNING_SECRET)
    oms = FakeOMS(args.oms_latency_ms / 1000)
    with FakeSlackAPI() as fake, tempfile.TemporaryDirectory(prefix="slack-bench-") as tmp:
        config = {"slack_api_url": fake.base_url, "oms_url": oms.url}
        bot: Any
        if args.in_process:
            from slack_bot.server import create_http_app

            bot = BotServer(create_http_app(bot_settings(config))).start()
        else:
            bot = BotProcess(free_port(), config, Path(tmp))
            bot.wait_ready()
        try:
            for index in range(WARMUP_COMMANDS):
                _, problem = one_command(-1 - index, fake, signer, bot.post_signed)
                if problem:
                    result.problems.append(f"warm-up {problem}")
            fake.reset()
            for index in range(args.runs):
                sample, problem = one_command(index, fake, signer, bot.post_signed)
                result.samples.append(sample)
                if problem:
                    result.problems.append(problem)
                if not args.in_process:
                    bot.check_alive()
            other_calls = sorted({c.method for c in fake.calls()} - {"views.open", "views.update"})
            if other_calls:
                result.problems.append(f"the bot also called: {', '.join(other_calls)}")
            args.oms_requests = dict(oms.requests)
        finally:
            if not args.in_process and result.problems:
                args.bot_log = bot.log_tail()
            bot.stop()
            oms.close()
    return result


# ============================================================================ report
def report(result: Result, args: argparse.Namespace) -> None:
    samples = result.samples
    acks = [s.ack_ms for s in samples]
    opens = [s.views_open_ms for s in samples if s.views_open_ms is not None]
    forms = [s.form_ms for s in samples if s.form_ms is not None]
    where = "a thread of this process" if args.in_process else "its own process"
    print()
    print(
        f"Slack ack latency: {len(samples)} signed `/trade {COMMAND_TEXT}` commands, one at a "
        f"time; bot in {where} (uvicorn + create_http_app); fake OMS {args.oms_latency_ms} ms "
        f"per request; {os.cpu_count()} CPUs, load average {args.load_before:.2f} before the run"
    )
    rows = [
        ("ack (command -> HTTP response)", acks),
        ("views.open (command -> fake Slack)", opens),
        ("form (command -> views.update)", forms),
    ]
    for name, values in rows:
        print(
            f"  {name:38} p50 {percentile(values, 0.5):7.1f} ms  p99 "
            f"{percentile(values, 0.99):7.1f} ms  max {max(values, default=float('nan')):7.1f} "
            f"ms  ({len(values)}/{len(samples)})"
        )
    print()
    print(
        f"Targets: p99 ack <= {TARGET_ACK_P99_MS:g} ms, p99 views.open <= "
        f"{TARGET_VIEWS_OPEN_P99_MS:g} ms"
    )
    ack_p99, open_p99 = percentile(acks, 0.99), percentile(opens, 0.99)
    all_acked = all(s.status == 200 for s in samples)
    all_opened = len(opens) == len(samples)
    for ok, label, value, target in (
        (all_acked and ack_p99 <= TARGET_ACK_P99_MS, "ack", ack_p99, TARGET_ACK_P99_MS),
        (
            all_opened and open_p99 <= TARGET_VIEWS_OPEN_P99_MS,
            "views.open",
            open_p99,
            TARGET_VIEWS_OPEN_P99_MS,
        ),
    ):
        verdict = "PASS" if ok else "MISS"
        print(f"  {verdict}  {label} p99 {value:.1f} ms ({value / target:.2f} of {target:g})")
    print(
        "  OMS requests: "
        + ", ".join(f"{k} x{v}" for k, v in sorted(getattr(args, "oms_requests", {}).items()))
    )
    if result.problems:
        print(f"  {len(result.problems)} problems, e.g.:")
        for problem in result.problems[:5]:
            print(f"    {problem}")
        if getattr(args, "bot_log", ""):
            print("  bot log (tail):")
            print("    " + args.bot_log.replace("\n", "\n    "))


# ============================================================================ main
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="commands to send (default 200)")
    parser.add_argument(
        "--oms-latency-ms", type=int, default=50, help="fake OMS latency per request (default 50)"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the bot in a thread of this process instead of its own process",
    )
    parser.add_argument("--role", choices=["bot"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("config", nargs="?", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.role == "bot":
        run_bot(args.port, json.loads(args.config))
        return 0
    args.load_before = os.getloadavg()[0]  # other work on the machine skews every number
    result = run(args)
    report(result, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
