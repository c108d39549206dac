"""`oms up`, `oms api`, `oms sim` and `oms bot` as a user runs them: real processes, a fresh
database, the Slack bot in HTTP mode against a local fake of Slack's Web API.

- the first run: a portfolio `main` on a fresh database (embedded simulator only), `/trade`
  from Slack at once, `curl` lines that work as pasted;
- the bot listens on 127.0.0.1 unless told otherwise;
- a port already taken is one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from oms_api.db.engine import make_engine
from oms_api.db.migrate import upgrade
from oms_api.portfolios.models import PortfolioCreate
from oms_api.portfolios.service import PortfolioService
from oms_api.simulator import SimulatorOptions, SimulatorServer
from slack_bot.blocks import ids
from tests import db as test_db
from tests.cli_process import OmsProcess, clean_env, run_oms
from tests.slack_fakes import FakeSlackAPI, SlackRequestSigner

SIGNING_SECRET = "first-run-signing-secret"
TRADER, CHANNEL = "UTRADER1", "CTRADING1"
BANNER_END = "Press Ctrl+C to stop."
# Another loopback address: a server bound to 127.0.0.1 does not answer there, one bound to
# every interface does (Linux routes all of 127.0.0.0/8 to the loopback interface).
OTHER_LOOPBACK = "127.0.0.2"
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="127.0.0.2 is loopback on Linux only"
)
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


def slack_http_env(slack_api_url: str = "http://127.0.0.1:9/api/") -> dict[str, str]:
    """The bot in HTTP mode (a bot token and a signing secret)."""
    return {
        "SLACK_BOT_TOKEN": "xoxb-1-first-run",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api_url,
        "SLACK_TRADER_USER_IDS": TRADER,
    }


def banner_value(banner: str, label: str) -> str:
    found = re.search(rf"^  {label}:\s+(.+)$", banner, re.M)
    assert found, f"no {label!r} line in the banner:\n{banner}"
    return found.group(1)


def bot_port(banner: str) -> int:
    found = re.search(r"listening on http://127\.0\.0\.1:(\d+)/slack/events", banner)
    assert found, f"the banner does not say where the bot listens:\n{banner}"
    return int(found.group(1))


def try_it_lines(banner: str) -> str:
    """The shell lines under "Try it", as a user would select and paste them."""
    block = banner.split("Try it (paste into a shell):\n", 1)[1].split("\n\n", 1)[0]
    return "\n".join(line.strip() for line in block.splitlines())


def paste_into_a_shell(lines: str) -> list[object]:
    """Run the lines in bash (no OMS_API_TOKEN in its environment); one JSON per answer."""
    done = subprocess.run(
        ["bash", "-e", "-c", lines], env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except ConnectionRefusedError:
        return False
    return True


def portfolio_names(database_url: str) -> list[str]:
    engine = make_engine(database_url, pool_size=1)
    try:
        return [p.name for p in PortfolioService(engine).list()]
    finally:
        engine.dispose()


@dataclass
class FirstRun:
    process: OmsProcess
    banner: str
    slack: FakeSlackAPI
    database_url: str


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstRun]:
    """`oms up` on a fresh database, with the embedded simulator and the bot in HTTP mode."""
    folder = tmp_path_factory.mktemp("first-run")
    with FakeSlackAPI() as slack, test_db.temporary_database(folder) as database_url:
        env = clean_env(DATABASE_URL=database_url, **slack_http_env(slack.base_url))
        args = ["up", "--port", "0", "--sim-port", "0", "--bot-port", "0"]
        with OmsProcess(args, env, folder) as process:
            banner = process.wait_for_line(BANNER_END)
            yield FirstRun(process, banner, slack, database_url)
            assert process.stop() == 0


# ----------------------------------------------------------------------------- the first run
def test_new_user_can_trade_at_once_oms_up_creates_main_and_says_so(first_run: FirstRun) -> None:
    assert banner_value(first_run.banner, "portfolios").startswith(
        "main — created on this fresh database"
    )
    assert portfolio_names(first_run.database_url) == ["main"]


def test_new_user_can_trade_at_once_from_slack(first_run: FirstRun) -> None:
    port = bot_port(first_run.banner)
    signer = SlackRequestSigner(SIGNING_SECRET)
    body, headers = signer.command(
        "/trade", "AAPL buy 1", TRADER, CHANNEL, first_run.slack.response_url("trade")
    )
    answer = httpx.post(f"http://127.0.0.1:{port}/slack/events", content=body, headers=headers)
    assert answer.status_code == 200
    first_run.slack.wait_for("views.update", timeout=20)
    view = first_run.slack.last("views.update").args["view"]
    assert view["callback_id"] == ids.TRADE_FORM  # not "create a portfolio first"
    portfolio = next(b for b in view["blocks"] if b.get("block_id") == ids.PORTFOLIO)
    assert portfolio["element"]["initial_option"]["value"] == "main"


@needs_curl
def test_banner_curl_lines_work_when_pasted_into_a_shell(first_run: FirstRun) -> None:
    lines = try_it_lines(first_run.banner)
    assert lines.splitlines()[0].startswith("export OMS_API_TOKEN=")
    portfolios, trade = paste_into_a_shell(lines)
    assert [p["name"] for p in portfolios] == ["main"]  # type: ignore[index]
    assert trade["status"] == "filled" and trade["symbol"] == "AAPL"  # type: ignore[index]


@linux_only
def test_bind_loopback_oms_up_bot_listens_on_this_machine_only(first_run: FirstRun) -> None:
    port = bot_port(first_run.banner)
    assert "this machine only" in banner_value(first_run.banner, "Slack bot")
    assert httpx.get(f"http://127.0.0.1:{port}/health").json() == {"status": "ok"}
    assert not reachable(OTHER_LOOPBACK, port)


# ----------------------------------------------------------------------------- not a first run
def test_new_user_can_trade_at_once_but_existing_portfolios_are_left_alone(
    fresh_database_url: str, tmp_path: Path
) -> None:
    upgrade(fresh_database_url)
    engine = make_engine(fresh_database_url, pool_size=1)
    PortfolioService(engine).create(PortfolioCreate(name="alpha"))
    engine.dispose()
    env = clean_env(DATABASE_URL=fresh_database_url)
    with OmsProcess(["up", "--port", "0", "--sim-port", "0"], env, tmp_path) as process:
        banner = process.wait_for_line(BANNER_END)
        assert banner_value(banner, "portfolios") == "alpha"
        assert '"portfolio": "alpha"' in try_it_lines(banner)
        assert process.stop() == 0
    assert portfolio_names(fresh_database_url) == ["alpha"]


@needs_curl
def test_new_user_can_trade_at_once_but_not_created_for_an_external_broker(
    fresh_database_url: str, tmp_path: Path
) -> None:
    """A broker `oms up` did not start itself (here a simulator of its own, as a real account
    would be) gets no portfolio made up for it; the banner shows how to create one."""
    with SimulatorServer(SimulatorOptions(port=0)) as broker:
        env = clean_env(
            DATABASE_URL=fresh_database_url,
            ALPACA_API_KEY_ID=broker.options.api_key_id,
            ALPACA_SECRET_KEY=broker.options.api_secret_key,
            ALPACA_BASE_URL=broker.base_url,
            ALPACA_DATA_URL=broker.base_url,
        )
        with OmsProcess(["up", "--port", "0"], env, tmp_path) as process:
            banner = process.wait_for_line(BANNER_END)
            assert "broker:      http://127.0.0.1" in banner
            assert banner_value(banner, "portfolios").startswith("none yet")
            assert portfolio_names(fresh_database_url) == []
            listed, created, trade = paste_into_a_shell(try_it_lines(banner))
            assert listed == [] and created["name"] == "main"  # type: ignore[index]
            assert trade["status"] == "filled"  # type: ignore[index]
            assert process.stop() == 0


# ----------------------------------------------------------------------------- oms bot binds
def _oms_bot(tmp_path: Path, args: list[str], **settings: str) -> OmsProcess:
    env = clean_env(**slack_http_env(), **settings)
    return OmsProcess(["bot", "--port", "0", *args], env, tmp_path)


@linux_only
def test_bind_loopback_oms_bot_listens_on_this_machine_only_by_default(tmp_path: Path) -> None:
    with _oms_bot(tmp_path, []) as process:
        port = bot_port(process.wait_for_line("listening on"))
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        assert not reachable(OTHER_LOOPBACK, port)
        assert process.stop() == 0


@linux_only
@pytest.mark.parametrize(
    ("args", "settings"),
    [([], {"SLACK_BOT_HOST": "0.0.0.0"}), (["--host", "0.0.0.0"], {})],
    ids=["SLACK_BOT_HOST", "--host"],
)
def test_bind_loopback_unless_told_otherwise(
    tmp_path: Path, args: list[str], settings: dict[str, str]
) -> None:
    with _oms_bot(tmp_path, args, **settings) as process:
        banner = process.wait_for_line("listening on")
        found = re.search(r"listening on 0\.0\.0\.0 port (\d+)", banner)
        assert found, banner
        assert reachable(OTHER_LOOPBACK, int(found.group(1)))
        assert process.stop() == 0


# ----------------------------------------------------------------------------- busy ports
@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program already listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


API_KEYS = {
    "ALPACA_API_KEY_ID": "test-key-id",
    "ALPACA_SECRET_KEY": "test-secret-key",
    "ALPACA_BASE_URL": "http://127.0.0.1:9",
    "ALPACA_DATA_URL": "http://127.0.0.1:9",
}


@pytest.mark.parametrize(
    ("args", "settings", "what", "fix"),
    [
        (["up", "--port", "{port}", "--sim-port", "0"], {}, "the OMS API", "--port"),
        (["up", "--port", "0", "--sim-port", "{port}"], {}, "the simulator", "--sim-port"),
        (
            ["up", "--port", "0", "--sim-port", "0", "--bot-port", "{port}"],
            slack_http_env(),
            "the Slack bot",
            "--bot-port",
        ),
        (
            ["up", "--port", "0", "--sim-port", "0"],
            {**slack_http_env(), "PORT": "{port}"},
            "the Slack bot",
            "PORT",
        ),
        (["api", "--port", "{port}"], API_KEYS, "the OMS API", "--port"),
        (["api"], {**API_KEYS, "PORT": "{port}"}, "the OMS API", "PORT"),
        (["sim", "--port", "{port}"], {}, "the simulator", "--port"),
        (["bot", "--port", "{port}"], slack_http_env(), "the Slack bot", "--port"),
        (["bot"], {**slack_http_env(), "PORT": "{port}"}, "the Slack bot", "PORT"),
    ],
    ids=[
        "up-api",
        "up-sim",
        "up-bot-flag",
        "up-bot-PORT",
        "api-flag",
        "api-PORT",
        "sim",
        "bot-flag",
        "bot-PORT",
    ],
)
def test_port_already_taken_is_one_clear_line(
    tmp_path: Path,
    taken_port: int,
    args: list[str],
    settings: dict[str, str],
    what: str,
    fix: str,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'oms.db'}"
    env = clean_env(
        DATABASE_URL=database_url,
        **{name: value.format(port=taken_port) for name, value in settings.items()},
    )
    done = run_oms([arg.format(port=taken_port) for arg in args], env, tmp_path)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    problem = done.stderr.strip().splitlines()
    assert len(problem) == 1, done.stderr
    assert f"port {taken_port} on 127.0.0.1 is already in use" in problem[0]
    assert what in problem[0] and fix in problem[0]
    assert BANNER_END not in done.stdout  # nothing was started...
    if args[0] == "up":
        assert not (tmp_path / "oms.db").exists()  # ...not even the database migrated
