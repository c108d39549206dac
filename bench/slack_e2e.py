"""Slack end-to-end benchmark (run by hand; not part of the test suite).

    .venv/bin/python bench/slack_e2e.py [--runs 100] [--latency-ms 20] [--db sqlite|postgres]
        [--resting 500] [--min-seconds 65]

What a trader waits for, measured from the signed request the load generator sends (as Slack
would) to what reaches the fake Slack Web API, through the real bot, the real OMS and the
simulator, each in its own process:
- Place order -> result: the confirmation's submission -> the result's chat.postMessage; the
  broker time inside the OMS's POST /trade (from the OMS's x-bench header) is subtracted:
  target p50 <= broker time + 30 ms;
- Review -> confirmation: the trade form's submission -> its ack, which carries the
  confirmation view (the bot asks the OMS for the quote and the market's hours meanwhile);
- /trade -> form: the command -> the views.update with the filled-in form;
- /positions (60 positions in 3 portfolios) and its Next: the command / click -> the message at
  the response_url; target p50 <= 60 ms and at most one broker call each;
- /orders (300 orders) and its Next: likewise;
- every ack (commands, clicks, submissions): target p99 <= 100 ms.
All of it first with no working order, then again with N resting limit orders (default 500),
which the OMS checks with the broker in the background. Every message the bot sends is
scanned: none may carry an error (target: no trader-visible error from the OMS's own work).

Processes: the simulator and the OMS are oms_latency.py's roles (simulator: rate limit off,
latency L on every REST call; OMS: `create_app` under uvicorn with a broker budget no run
reaches and bench-only timers that return each request's broker time in an `x-bench` header);
the bot (`--role bot`) is `create_http_app` under uvicorn as `oms bot` serves it, plus a
bench-only hook on its OMS client that keeps each OMS answer's x-bench timings, read back
through `GET /_bench/oms`; this process holds the load generator and the fake Slack Web API
(tests/slack_fakes.py, which timestamps every call on arrival with this machine's monotonic
clock).
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
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (str(BENCH), str(ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)  # oms_latency (sibling script) and tests.slack_fakes

from oms_latency import (  # noqa: E402
    TOKEN,
    Child,
    database,
    free_port,
    oms_config,
    percentile,
    start_workers,
    wait_for,
)

from tests.slack_fakes import (  # noqa: E402
    FakeSlackAPI,
    SlackRequestSigner,
    block_action,
    checkboxes,
    form_values,
    radio_buttons,
    static_select,
    view_submission,
)

SIGNING_SECRET = "bench-secret"
BOT_TOKEN = "xoxb-bench"
TRADER = "UBENCH1"
CHANNEL = "CBENCH1"
PORTFOLIOS = ("alpha", "beta", "gamma")
SYMBOLS = (
    "AAPL", "MSFT", "GOOGL", "AMZN", "META", "NVDA", "TSLA", "NFLX", "AMD", "INTC",
    "CSCO", "ADBE", "PEP", "COST", "JPM", "BAC", "WMT", "KO", "DIS", "XOM",
)  # fmt: skip
ORDERS = 300
TARGET_PLACE_OVERHEAD_P50_MS = 30.0
TARGET_POSITIONS_P50_MS = 60.0
TARGET_POSITIONS_BROKER_CALLS = 1
TARGET_ACK_P99_MS = 100.0
WAIT_SECONDS = 10.0
WARMUP_ROUNDS = 3
# What a trader must never see caused by the OMS's own background work.
ERROR_MARKS = (":x:", "OMS unavailable", "busy", "could not be read", "did not confirm")


# ============================================================================ the bot process
def bot_settings(config: dict[str, Any]) -> Any:
    from slack_bot.config import BotSettings

    return BotSettings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=config["slack_api_url"],
        oms_url=config["oms_url"],
        oms_api_token=TOKEN,
        slack_trader_user_ids=[TRADER],
        log_level="WARNING",
    )


def run_bot(port: int, config: dict[str, Any]) -> None:
    """`create_http_app` under uvicorn (as `oms bot` serves it), with a bench-only hook that
    keeps the OMS's x-bench timings of every answer the bot receives."""
    import uvicorn

    from slack_bot.server import create_http_app

    app = create_http_app(bot_settings(config))
    seen: list[dict[str, Any]] = []
    lock = threading.Lock()

    def keep_timings(response: httpx.Response) -> None:
        timing = json.loads(response.headers.get("x-bench", "{}"))
        request = response.request
        with lock:
            seen.append(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                    "broker_calls": timing.get("broker_calls", 0),
                    "broker_ms": timing.get("broker_ms", 0.0),
                }
            )

    app.state.bolt.deps.oms._http.event_hooks["response"].append(keep_timings)

    @app.get("/_bench/oms")
    def oms_answers() -> list[dict[str, Any]]:
        with lock:
            answers = list(seen)
            seen.clear()
        return answers

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


class BotProcess:
    """This script with --role bot, its output in a log file."""

    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = workdir / "bot.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--role", "bot", "--port", str(port), json.dumps(config)],
            cwd=workdir,  # away from the checkout's .env, so only the given settings apply
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(base_url=self.url, timeout=30.0)

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"the bot exited ({self.process.returncode}):\n{tail}")

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if self.client.get("/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"the bot did not answer /health in {timeout:g} s")

    def oms_answers(self) -> list[dict[str, Any]]:
        return self.client.get("/_bench/oms").json()

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


# ============================================================================ measuring
@dataclass
class Scenario:
    label: str
    series: dict[str, list[float]] = field(default_factory=dict)
    acks: dict[str, list[float]] = field(default_factory=dict)
    broker_calls: dict[str, list[int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    background_calls: int = 0  # broker calls the OMS made on its own during the scenario

    def add(self, name: str, value: float) -> None:
        self.series.setdefault(name, []).append(value)

    def ack(self, name: str, value: float) -> None:
        self.acks.setdefault(name, []).append(value)


class Trader:
    """Sends what Slack sends on a trader's behalf (signed, one at a time) and times the
    answers at the fake Slack API."""

    def __init__(self, bot: BotProcess, slack: FakeSlackAPI) -> None:
        self.bot, self.slack = bot, slack
        self.signer = SlackRequestSigner(SIGNING_SECRET)
        self.counter = 0

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[float, float, httpx.Response]:
        started = time.monotonic()
        response = self.bot.client.post("/slack/events", content=body, headers=headers)
        acked = time.monotonic()
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
        return started, (acked - started) * 1000, response

    def _arrival(self, method: str, started: float, where: Callable[[Any], bool]) -> Any:
        [call] = self.slack.wait_for(method, timeout=WAIT_SECONDS, where=where)[-1:]
        return call, (call.received_at - started) * 1000

    def command(self, command: str, text: str = "") -> tuple[float, float, str, Any]:
        """(ack ms, answer ms, response_url name, answer call) of a slash command answered at
        its response_url."""
        self.counter += 1
        name = f"{command.strip('/')}-{self.counter}"
        body, headers = self.signer.command(
            command, text, TRADER, CHANNEL, self.slack.response_url(name)
        )
        started, ack_ms, _ = self._post(body, headers)
        call, answer_ms = self._arrival("response_url", started, lambda c: c.target == name)
        return ack_ms, answer_ms, name, call

    def click(self, button: dict[str, Any]) -> tuple[float, float, Any]:
        """(ack ms, answer ms, answer call) of a button whose answer replaces the message."""
        self.counter += 1
        name = f"click-{self.counter}"
        payload = block_action(
            button["action_id"], button["value"], TRADER, CHANNEL, None,
            self.slack.response_url(name),
        )  # fmt: skip
        started, ack_ms, _ = self._post(*self.signer.interaction(payload))
        call, answer_ms = self._arrival("response_url", started, lambda c: c.target == name)
        return ack_ms, answer_ms, call

    def open_trade_form(self) -> tuple[float, float]:
        """(ack ms, form ms) of `/trade AAPL buy 1`: the form replaces the loading view."""
        self.counter += 1
        trigger = f"bench.{self.counter}.{os.getpid()}"
        body, headers = self.signer.command(
            "/trade", "AAPL buy 1", TRADER, CHANNEL, self.slack.response_url("trade"), trigger
        )
        started, ack_ms, _ = self._post(body, headers)
        opened, _ = self._arrival("views.open", started, lambda c: c.args["trigger_id"] == trigger)
        _, form_ms = self._arrival(
            "views.update",
            started,
            lambda c: (
                c.received_at >= opened.received_at
                and c.args["view"].get("callback_id") == "trade_form"
            ),
        )
        return ack_ms, form_ms

    def review(self) -> tuple[float, str]:
        """(ack ms, the confirmation's private_metadata) of the trade form's submission."""
        values = form_values(
            {
                "portfolio": static_select("alpha"),
                "symbol": "AAPL",
                "side": radio_buttons("buy"),
                "amount_kind": radio_buttons("qty"),
                "amount": "1",
                "order_type": static_select("market"),
                "limit_price": None,
                "stop_price": None,
                "time_in_force": static_select("day"),
                "take_profit": None,
                "stop_loss": None,
                "extended_hours": checkboxes([]),
                "reason": "bench",
            }
        )
        payload = view_submission(
            "trade_form", values, json.dumps({"channel_id": CHANNEL}), TRADER, "VBENCH"
        )
        _, ack_ms, response = self._post(*self.signer.interaction(payload))
        answer = response.json()
        if answer.get("response_action") != "update":
            raise RuntimeError(f"Review was not confirmed: {json.dumps(answer)[:300]}")
        return ack_ms, answer["view"]["private_metadata"]

    def place(self, metadata: str) -> tuple[float, float, Any]:
        """(ack ms, result ms, the result call) of Place order."""
        payload = view_submission("trade_confirm", {}, metadata, TRADER, "VBENCH")
        started, ack_ms, _ = self._post(*self.signer.interaction(payload))
        call, result_ms = self._arrival(
            "chat.postMessage", started, lambda c: c.received_at >= started
        )
        return ack_ms, result_ms, call


def buttons(payload: dict[str, Any], action_id: str) -> list[dict[str, Any]]:
    found = []
    for block in payload.get("blocks") or []:
        for element in [block.get("accessory") or {}, *(block.get("elements") or [])]:
            if element.get("action_id") == action_id:
                found.append(element)
    return found


def broker_calls_of(answers: list[dict[str, Any]], path_end: str) -> int:
    return sum(a["broker_calls"] for a in answers if a["path"].endswith(path_end))


def one_round(trader: Trader, scenario: Scenario | None) -> None:
    """Every measured step once, one after the other (each starts with an idle bot)."""
    bot = trader.bot
    bot.oms_answers()  # start the round's accounting afresh

    ack, form = trader.open_trade_form()
    if scenario:
        scenario.ack("/trade", ack)
        scenario.add("/trade -> form", form)

    ack, metadata = trader.review()
    if scenario:
        scenario.ack("Review (trade form)", ack)
        scenario.add("Review -> confirmation", ack)
    bot.oms_answers()
    ack, result_ms, call = trader.place(metadata)
    trade_answers = [a for a in bot.oms_answers() if a["path"] == "/api/v1/trade"]
    if scenario:
        scenario.ack("Place order (confirmation)", ack)
        scenario.add("Place order -> result", result_ms)
        broker_ms = sum(a["broker_ms"] for a in trade_answers)
        scenario.add("Place order -> result, minus broker time", result_ms - broker_ms)
        scenario.add("  broker time inside POST /trade", broker_ms)
        if "filled" not in json.dumps(call.args):
            scenario.problems.append(f"a placed order did not fill: {call.args.get('text')}")

    for command, kind in (("/positions", "positions"), ("/orders", "orders")):
        bot.oms_answers()
        ack, answer_ms, _, call = trader.command(command)
        calls = broker_calls_of(bot.oms_answers(), "")
        following = buttons(call.args, "page_next")
        if not following:
            raise RuntimeError(f"{command}: no Next button in {json.dumps(call.args)[:300]}")
        ack_next, next_ms, next_call = trader.click(following[0])
        calls_next = broker_calls_of(bot.oms_answers(), "")
        if scenario:
            scenario.ack(command, ack)
            scenario.ack(f"{command} Next (button)", ack_next)
            scenario.add(command, answer_ms)
            scenario.add(f"{command} Next", next_ms)
            scenario.broker_calls.setdefault(command, []).append(calls)
            scenario.broker_calls.setdefault(f"{command} Next", []).append(calls_next)
            if kind == "orders" and "Page 2" not in json.dumps(next_call.args):
                scenario.problems.append("/orders Next did not show page 2")


def scan_for_errors(slack: FakeSlackAPI, scenario: Scenario) -> None:
    """Every message and view the bot sent in the scenario: none may show an error."""
    for call in slack.calls():
        shown = ("response_url", "chat.postMessage", "chat.postEphemeral", "views.update")
        if call.method not in shown:
            continue
        text = json.dumps(call.args, ensure_ascii=False)
        if any(mark in text for mark in ERROR_MARKS):
            scenario.problems.append(f"{call.method}: {call.args.get('text') or text[:200]}")


def oms_background_calls(oms_url: str) -> int:
    """Broker calls the OMS made outside any request (oms_latency's instrumentation)."""
    return int(httpx.get(f"{oms_url}/_bench/background", timeout=10).json()["broker_calls"])


def run_scenario(
    label: str, trader: Trader, slack: FakeSlackAPI, oms_url: str, args: argparse.Namespace
) -> Scenario:
    """`args.runs` rounds, and more until `args.min_seconds` have passed: the OMS's own
    checks of working orders (once a minute) happen while traders wait."""
    scenario = Scenario(label)
    print(f"  {label}: {args.runs} rounds, at least {args.min_seconds:g} s ...", flush=True)
    for _ in range(WARMUP_ROUNDS):
        one_round(trader, None)
    slack.reset()
    background = oms_background_calls(oms_url)
    started = time.monotonic()
    rounds = 0
    while rounds < args.runs or time.monotonic() - started < args.min_seconds:
        one_round(trader, scenario)
        trader.bot.check_alive()
        rounds += 1
    scenario.seconds = time.monotonic() - started
    scenario.background_calls = oms_background_calls(oms_url) - background
    scan_for_errors(slack, scenario)
    return scenario


# ============================================================================ set-up
def seed(oms_url: str, control: Any) -> None:
    """3 portfolios x 20 symbols = 60 positions, then market buys up to 300 orders."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=oms_url, headers=headers, timeout=60) as oms:
        for name in (*PORTFOLIOS, "resting"):
            body = {"name": name, "allocated_capital": "100000000"}
            oms.post("/api/v1/portfolios", json=body).raise_for_status()
        placed = 0
        for i, symbol in enumerate(SYMBOLS):
            for j, name in enumerate(PORTFOLIOS):
                qty = str(1 + (i * 7 + j * 3) % 11)
                trade = {"portfolio": name, "symbol": symbol, "side": "buy", "qty": qty}
                oms.post("/api/v1/trade", json=trade).raise_for_status()
                placed += 1
        while placed < ORDERS:
            trade = {"portfolio": PORTFOLIOS[placed % 3], "symbol": "AAPL", "side": "buy"}
            oms.post("/api/v1/trade", json=trade | {"qty": "1"}).raise_for_status()
            placed += 1


def place_resting(oms_url: str, count: int) -> None:
    """`count` GTC limit buys far below the market, in their own portfolio: they rest."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=oms_url, headers=headers, timeout=60) as oms:
        for i in range(count):
            trade = {
                "portfolio": "resting",
                "symbol": SYMBOLS[i % len(SYMBOLS)],
                "side": "buy",
                "qty": "1",
                "order_type": "limit",
                "limit_price": "1.00",
                "time_in_force": "gtc",
            }
            oms.post("/api/v1/trade", json=trade).raise_for_status()


# ============================================================================ report
def report(scenarios: list[Scenario], args: argparse.Namespace) -> int:
    print()
    print(
        f"Slack end to end: at least {args.runs} rounds and {args.min_seconds:g} s per scenario, "
        f"bot / OMS ({args.db}) / simulator "
        f"in their own processes, broker latency {args.latency_ms} ms; {os.cpu_count()} CPUs, "
        f"load average {args.load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    verdicts: list[bool] = []
    for scenario in scenarios:
        print(f"\n  {scenario.label}")
        for name, values in scenario.series.items():
            print(
                f"    {name:44} p50 {percentile(values, 0.5):7.1f} ms  p99 "
                f"{percentile(values, 0.99):7.1f} ms  (n={len(values)})"
            )
        worst_ack = max(scenario.acks, key=lambda n: percentile(scenario.acks[n], 0.99))
        for name, values in scenario.acks.items():
            mark = "  <- slowest" if name == worst_ack else ""
            print(
                f"    ack {name:40} p50 {percentile(values, 0.5):7.1f} ms  p99 "
                f"{percentile(values, 0.99):7.1f} ms{mark}"
            )
        for name, counts in scenario.broker_calls.items():
            mean = sum(counts) / len(counts)
            print(f"    broker calls per {name:26} max {max(counts)}  mean {mean:.2f}")
        print(
            f"    the OMS's own broker calls meanwhile: {scenario.background_calls} in "
            f"{scenario.seconds:.0f} s (its checks of working orders, its health probe)"
        )
        checks: list[tuple[str, float, float]] = [
            (
                "Place order -> result p50 - broker time",
                percentile(scenario.series["Place order -> result, minus broker time"], 0.5),
                TARGET_PLACE_OVERHEAD_P50_MS,
            ),
            (
                "/positions p50",
                percentile(scenario.series["/positions"], 0.5),
                TARGET_POSITIONS_P50_MS,
            ),
            (
                "/positions Next p50",
                percentile(scenario.series["/positions Next"], 0.5),
                TARGET_POSITIONS_P50_MS,
            ),
            (
                "/positions broker calls (max)",
                max(scenario.broker_calls["/positions"] + scenario.broker_calls["/positions Next"]),
                TARGET_POSITIONS_BROKER_CALLS,
            ),
            (
                f"every ack p99 (slowest: {worst_ack})",
                percentile(scenario.acks[worst_ack], 0.99),
                TARGET_ACK_P99_MS,
            ),
        ]
        for label, value, target in checks:
            ok = value <= target
            verdicts.append(ok)
            verdict = "PASS" if ok else "MISS"
            print(f"    {verdict}  {label}: {value:.1f} ({value / target:.2f} of {target:g})")
        errors_ok = not scenario.problems
        verdicts.append(errors_ok)
        verdict = "PASS" if errors_ok else "MISS"
        print(f"    {verdict}  trader-visible errors: {len(scenario.problems)}")
        for problem in scenario.problems[:5]:
            print(f"      {problem}")
    return 0 if all(verdicts) else 1


# ============================================================================ main
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="measured rounds per scenario")
    parser.add_argument("--latency-ms", type=int, default=20, help="per broker REST call")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--resting", type=int, default=500, help="resting orders in the second scenario (0: none)"
    )
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=65.0,
        help="keep measuring at least this long per scenario (the OMS checks working orders "
        "once a minute)",
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

    from oms_api.db.migrate import upgrade
    from oms_api.simulator import SimulatorControl

    args.load_before = os.getloadavg()[0]  # other work on the machine skews every number
    scenarios: list[Scenario] = []
    with tempfile.TemporaryDirectory(prefix="slack-e2e-") as tmp:
        workdir = Path(tmp)
        sim_port = free_port()
        sim = Child(
            "sim",
            ["--role", "sim", "--port", str(sim_port), "--latency-ms", str(args.latency_ms)],
            workdir,
        )
        sim_url = f"http://127.0.0.1:{sim_port}"
        control = SimulatorControl(sim_url, timeout=10)
        bot: BotProcess | None = None
        omses: list[Child] = []
        try:
            wait_for(control.state, sim, "the simulator to start")
            with database(args.db, workdir) as url, FakeSlackAPI() as slack:
                upgrade(url)
                omses, [oms_url] = start_workers(1, "oms", oms_config(url, sim_url, 1.0), workdir)
                print(f"  seeding {ORDERS} orders, {len(SYMBOLS) * 3} positions ...", flush=True)
                seed(oms_url, control)
                bot = BotProcess({"slack_api_url": slack.base_url, "oms_url": oms_url}, workdir)
                bot.wait_ready()
                trader = Trader(bot, slack)
                scenarios.append(run_scenario("no working orders", trader, slack, oms_url, args))
                if args.resting:
                    print(f"  placing {args.resting} resting limit orders ...", flush=True)
                    place_resting(oms_url, args.resting)
                    label = f"{args.resting} resting limit orders"
                    scenarios.append(run_scenario(label, trader, slack, oms_url, args))
        finally:
            if bot is not None:
                bot.stop()
            for oms in omses:
                oms.stop()
            control.close()
            sim.stop()
    return report(scenarios, args)


if __name__ == "__main__":
    sys.exit(main())
