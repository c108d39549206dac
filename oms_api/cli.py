"""The `oms` command: sim, migrate, api, bot, up."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import secrets
import shlex
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from oms_api.config import ConfigError, Mode, Settings, load_settings
from oms_api.simulator import MarketMode, SimulatorOptions, SimulatorServer


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return value


def _env_int(name: str, default: int, low: int, high: int) -> int:
    """An integer setting read by the CLI itself (PORT, WEB_CONCURRENCY); one-line errors."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        print(
            f"configuration error: {name}: must be a whole number from {low} to {high}, "
            f"not {raw!r}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return value


class ListenError(Exception):
    """A server cannot listen where it was asked to; the message is one line with the fix."""


def _listen_problem(error: OSError, host: str, port: int, what: str, fix: str) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is already in use, so {what} cannot listen there: {fix}"
    reason = error.strerror or str(error)
    return f"{what} cannot listen on {host}:{port} ({reason}): {fix}"


def _listen(host: str, port: int, what: str, fix: str) -> socket.socket:
    """A socket bound to host:port and listening, to hand to uvicorn: the port is taken here,
    before anything starts, so a busy port is one clear line instead of a traceback."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError):
        raise ListenError(
            f"{what} cannot listen on {host!r}: not an address of this machine: {fix}"
        ) from None
    listener = socket.socket(family, kind, proto)
    try:
        # Like uvicorn: a restart need not wait for the last run's connections to time out.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(2048)
    except OSError as error:
        listener.close()
        raise ListenError(_listen_problem(error, host, port, what, fix)) from None
    return listener


def _bound_port(listener: socket.socket) -> int:
    return int(listener.getsockname()[1])


def _local_host(host: str) -> str:
    """The host to put in a URL that a shell on this machine can use."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _start_simulator(args: argparse.Namespace, host: str, port: int, fix: str) -> SimulatorServer:
    try:
        return SimulatorServer(_sim_options(args, host, port))
    except OSError as error:
        raise ListenError(_listen_problem(error, host, port, "the simulator", fix)) from None


def _add_market_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=42, help="seed for the price paths")
    parser.add_argument(
        "--market",
        choices=[m.value for m in MarketMode],
        default=MarketMode.OPEN.value,
        help="open: always open (default); calendar: NYSE hours; closed: always closed",
    )
    parser.add_argument("--cash", type=_decimal, default=Decimal("100000"), help="starting cash")
    parser.add_argument(
        "--rate-limit", type=int, default=200, help="requests per minute per key (0: off)"
    )
    parser.add_argument(
        "--manual-clock",
        metavar="ISO_TIME",
        help="freeze the clock at this time; move it with POST /_sim/clock/advance",
    )


def _sim_options(args: argparse.Namespace, host: str, port: int) -> SimulatorOptions:
    start = None
    if args.manual_clock:
        start = datetime.fromisoformat(args.manual_clock.replace("Z", "+00:00"))
        if start.tzinfo is None:
            raise SystemExit("--manual-clock needs a time zone, e.g. 2026-11-18T15:00:00Z")
    return SimulatorOptions(
        host=host,
        port=port,
        seed=args.seed,
        market_mode=MarketMode(args.market),
        starting_cash=args.cash,
        rate_limit_per_minute=args.rate_limit,
        manual_clock_start=start,
    )


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _run_sim(args: argparse.Namespace) -> int:
    try:
        server = _start_simulator(args, args.host, args.port, "choose another with --port")
    except ListenError as error:
        print(f"oms sim: {error}", file=sys.stderr)
        return 1
    print(server.connection_help(), flush=True)
    print("\nPress Ctrl+C to stop.", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _run_migrate(_: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from oms_api.db.migrate import MigrationError, current, upgrade

    settings = _settings()
    try:
        upgrade(settings.database_url)
    except (SQLAlchemyError, MigrationError) as error:
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        print(f"migration failed: {detail}", file=sys.stderr)
        return 1
    print(f"database at revision {current(settings.database_url)}")
    return 0


def _check_migrated(settings: Settings) -> None:
    from oms_api.db.migrate import check_up_to_date

    if not check_up_to_date(settings.database_url):
        print(
            "configuration error: DATABASE_URL: the database is not migrated — run `oms migrate`",
            file=sys.stderr,
        )
        raise SystemExit(2)


def _serve_api(settings: Settings, listener: socket.socket, workers: int = 1) -> int:
    """Serve the OMS API on `listener` until stopped (Ctrl+C); 1 if it never started."""
    import uvicorn

    from oms_api.main import create_app

    host, port = listener.getsockname()[:2]
    log_level = settings.log_level.lower()
    if workers > 1:
        # Each worker builds its own app from the environment; the trade stream and the
        # poller run in one of them only (PostgreSQL advisory lock). uvicorn binds the port
        # itself for its workers: `_listen` only proved it free a moment ago.
        listener.close()
        uvicorn.run(
            "oms_api.main:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
        )
        return 0
    try:
        app = create_app(settings)
    except ConfigError as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level))
    server.run(sockets=[listener])
    if not server.started:
        print("the OMS API did not start: see the log above", file=sys.stderr)
        return 1
    return 0


def _run_api(args: argparse.Namespace) -> int:
    settings = _settings()
    _configure_logging(settings.log_level)
    if not settings.alpaca_api_key_id:
        print(
            "configuration error: ALPACA_API_KEY_ID: not set — `oms api` needs a broker: set "
            "ALPACA_API_KEY_ID and ALPACA_SECRET_KEY (paper keys), or run `oms up` to use the "
            "embedded simulator",
            file=sys.stderr,
        )
        return 2
    workers = args.workers if args.workers is not None else _env_int("WEB_CONCURRENCY", 1, 1, 64)
    if workers > 1 and not settings.database_url.startswith("postgresql"):
        print(
            "configuration error: --workers: several workers need PostgreSQL (DATABASE_URL)",
            file=sys.stderr,
        )
        return 2
    port = args.port if args.port is not None else _env_int("PORT", 8000, 0, 65535)
    try:
        listener = _listen(args.host, port, "the OMS API", "choose another with --port (or PORT)")
    except ListenError as error:
        print(f"oms api: {error}", file=sys.stderr)
        return 1
    with contextlib.closing(listener):
        _check_migrated(settings)
        return _serve_api(settings, listener, workers)


@dataclass
class _BotBeside:
    """The Slack bot as `oms up` runs it next to the OMS: a banner line, and how to stop it."""

    line: str
    stop: Callable[[], None] | None = None


def _portfolios(
    settings: Settings, *, create_main: bool
) -> tuple[list[tuple[str, str]], Decimal | None]:
    """The portfolios as (name, status). With `create_main`, a database without any portfolio
    gets `main` first, so /trade works from Slack at once, with the capital the account has
    available now. Returns (portfolios, main's capital when it was created here, else None)."""
    from oms_api.db.engine import make_engine
    from oms_api.errors import ServiceError
    from oms_api.portfolios.models import PortfolioCreate
    from oms_api.portfolios.service import PortfolioService

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        service = PortfolioService(engine)
        created = None
        if create_main and not service.list():
            capital, account = _main_capital(settings, engine)
            try:
                data = PortfolioCreate(name="main", allocated_capital=capital)
                service.create(data, market=account)
                created = capital
            except ServiceError:  # another `oms up` on this database created it first
                pass
        return [(p.name, p.status) for p in service.list()], created
    finally:
        engine.dispose()


@dataclass(frozen=True)
class _AccountAsRead:
    """The account read once, handed to the capital check so it does not ask again."""

    read: Any  # oms_api.broker.models.Account

    def account(self) -> Any:
        return self.read


def _main_capital(settings: Settings, engine: Any) -> tuple[Decimal, _AccountAsRead | None]:
    """The capital `main` starts with: what the account has available now (buying power less
    every portfolio's capital), or 0, said in the log, when the broker cannot be read."""
    from oms_api.errors import ServiceError
    from oms_api.market.service import MarketService
    from oms_api.risk.capital import CENT, allocated_capital
    from oms_api.runtime import build_gateway

    try:
        account = MarketService(build_gateway(settings, engine)).account()
    except Exception as error:  # whatever it is, `oms up` goes on: main just starts empty
        reason = error.message if isinstance(error, ServiceError) else repr(error)
        logging.getLogger(__name__).warning(
            "could not read the account's buying power (%s): portfolio main is created with "
            "capital $0.00, so it cannot buy until it is given some "
            "(PATCH /api/v1/portfolios/main with allocated_capital)",
            reason,
        )
        return Decimal(0), None
    with engine.connect() as connection:
        available = account.buying_power - allocated_capital(connection)
    return max(available, Decimal(0)).quantize(CENT, ROUND_DOWN), _AccountAsRead(account)


def _portfolio_line(portfolios: list[tuple[str, str]], created: Decimal | None) -> str:
    if created is not None:
        if created > 0:
            return (
                f"main — created on this fresh database with capital ${created:,.2f} (the "
                "account's available buying power), so /trade works from Slack right away"
            )
        return (
            "main — created on this fresh database with capital $0.00 (the broker's buying "
            "power could not be read): give it capital with PATCH /api/v1/portfolios/main "
            "before buying"
        )
    if not portfolios:
        return "none yet — create one with the POST /portfolios line below, then trade"
    return ", ".join(
        name if status == "active" else f"{name} ({status})" for name, status in portfolios
    )


def _try_it_lines(
    api_url: str, token: str, portfolios: list[tuple[str, str]], mode: Mode
) -> list[str]:
    """Shell lines that work as pasted: the token is exported first, then used."""
    # -w '\n': each answer on its own line in the terminal.
    curl = "curl -s -w '\\n'"
    auth = '-H "Authorization: Bearer $OMS_API_TOKEN"'
    json_type = "-H 'Content-Type: application/json'"
    lines = [
        "Try it (paste into a shell):",
        f"  export OMS_API_TOKEN={shlex.quote(token)}",
        f"  {curl} {api_url}/api/v1/portfolios {auth}",
    ]
    active = [name for name, status in portfolios if status == "active"]
    if not portfolios:
        lines.append(
            f"  {curl} -X POST {api_url}/api/v1/portfolios {auth} {json_type} "
            '-d \'{"name": "main", "allocated_capital": "10000"}\''
        )
        active = ["main"]
    if active and mode is not Mode.LIVE:  # never a copy-paste line that spends real money
        order = json.dumps({"portfolio": active[0], "symbol": "AAPL", "side": "buy", "qty": "1"})
        lines.append(
            f"  {curl} -X POST {api_url}/api/v1/trade {auth} {json_type} -d {shlex.quote(order)}"
        )
    return lines


def _run_up(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from oms_api.db.migrate import MigrationError, upgrade

    settings = _settings()
    _configure_logging(settings.log_level)
    overrides: dict[str, object] = {}
    token_note = "(from OMS_API_TOKEN)"
    if settings.oms_api_token is None:
        overrides["oms_api_token"] = secrets.token_urlsafe(24)
        token_note = "(generated for this run; set OMS_API_TOKEN to keep one)"
    embedded = settings.mode is Mode.SIMULATOR and not settings.alpaca_api_key_id
    listeners: list[socket.socket] = []
    simulator: SimulatorServer | None = None
    bot = _BotBeside("not started")
    try:
        # Every port is claimed before anything starts: a busy one is one line, nothing runs.
        api_listener = _listen(args.host, args.port, "the OMS API", "choose another with --port")
        listeners.append(api_listener)
        api_url = f"http://{_local_host(args.host)}:{_bound_port(api_listener)}"
        token = (
            settings.oms_api_token.get_secret_value()
            if settings.oms_api_token is not None
            else str(overrides["oms_api_token"])
        )
        bot_start = _plan_bot(args, api_url, token, listeners)
        if embedded:
            simulator = _start_simulator(
                args, "127.0.0.1", args.sim_port, "choose another with --sim-port"
            ).start()
            overrides.update(
                alpaca_api_key_id=simulator.options.api_key_id,
                alpaca_secret_key=simulator.options.api_secret_key,
                alpaca_base_url=simulator.base_url,
                alpaca_data_url=simulator.base_url,
                alpaca_stream_url=simulator.stream_url,
                embedded_simulator=True,
            )
        settings = _settings(**overrides) if overrides else settings
        upgrade(settings.database_url)
        # Only on the embedded simulator: a real account's portfolios are the operator's call.
        portfolios, created = _portfolios(settings, create_main=embedded)
        bot = bot_start()
        lines = [
            "",
            f"Alpaca Slack OMS — mode {settings.mode.value}",
            f"  OMS API:     {api_url}/api/v1   (docs: {api_url}/docs, health: {api_url}/health)",
            f"  API token:   {token}  {token_note}",
            f"  database:    {settings.database_url.split('@')[-1]}",
        ]
        if simulator is not None:
            lines.append(f"  broker:      embedded Alpaca simulator at {simulator.base_url}")
        else:
            lines.append(f"  broker:      {settings.alpaca_base_url}")
            if settings.custom_broker_host is not None:
                lines.append(
                    f"               (not Alpaca's own host: allowed by ALPACA_ALLOWED_HOST="
                    f"{settings.custom_broker_host})"
                )
        lines.append(f"  portfolios:  {_portfolio_line(portfolios, created)}")
        lines.append(f"  Slack bot:   {bot.line}")
        lines += ["", *_try_it_lines(api_url, token, portfolios, settings.mode)]
        lines += ["", "Press Ctrl+C to stop."]
        print("\n".join(lines), flush=True)
        return _serve_api(settings, api_listener)
    except ListenError as error:
        print(f"oms up: {error}", file=sys.stderr)
        return 1
    except (SQLAlchemyError, MigrationError) as error:
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        print(f"oms up: the database is not usable: {detail}", file=sys.stderr)
        return 1
    finally:
        if bot.stop is not None:
            bot.stop()
        if simulator is not None:
            simulator.stop()
        for listener in listeners:
            listener.close()


def _plan_bot(
    args: argparse.Namespace, oms_url: str, oms_token: str, listeners: list[socket.socket]
) -> Callable[[], _BotBeside]:
    """Decide how the Slack bot runs next to `oms up`, claiming its HTTP port now (so a busy
    port stops `oms up` before anything starts); the returned function starts it.

    Socket Mode when SLACK_APP_TOKEN is set (no public URL needed), else HTTP mode when the
    signing secret is set, bound to this machine only unless SLACK_BOT_HOST / --bot-host
    says otherwise."""
    from slack_bot.config import BotConfigError, load_bot_settings

    try:
        bot = load_bot_settings(oms_url=oms_url, oms_api_token=oms_token)
    except BotConfigError as error:
        problem = f"not started — {error}"
        return lambda: _BotBeside(problem)
    if bot.socket_mode_ready:
        return lambda: _start_socket_mode_bot(bot)
    if not bot.http_mode_ready:
        return lambda: _BotBeside(
            "not configured — set SLACK_BOT_TOKEN plus SLACK_APP_TOKEN (Socket Mode) or "
            "SLACK_SIGNING_SECRET (HTTP mode); see README → Slack"
        )
    host = args.bot_host or bot.slack_bot_host
    port = args.bot_port if args.bot_port is not None else bot.port
    listener = _listen(
        host, port, "the Slack bot", "choose another with --bot-port (or the PORT setting)"
    )
    listeners.append(listener)
    return lambda: _start_http_bot(bot, listener, host)


def _start_socket_mode_bot(bot: Any) -> _BotBeside:
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.errors import SlackApiError, SlackClientError

    from slack_bot.app import build_app

    assert bot.slack_app_token is not None
    handler = SocketModeHandler(build_app(bot), bot.slack_app_token.get_secret_value())
    try:
        handler.connect()
    except SlackApiError as error:
        return _BotBeside(
            f"not started — Slack refused the Socket Mode connection "
            f"({error.response.get('error')}): check SLACK_APP_TOKEN"
        )
    except (SlackClientError, OSError) as error:
        return _BotBeside(f"not started — cannot reach Slack for Socket Mode ({error})")
    return _BotBeside("running in Socket Mode (SLACK_APP_TOKEN)", handler.close)


def _http_bot_line(host: str, port: int) -> str:
    url = f"http://{_local_host(host)}:{port}/slack/events"
    if host in ("127.0.0.1", "localhost", "::1"):
        return (
            f"HTTP mode, listening on {url} (this machine only: put an HTTPS tunnel or proxy "
            "in front, or set SLACK_BOT_HOST / --bot-host)"
        )
    return (
        f"HTTP mode, listening on {host} port {port} ({url}): "
        "point Slack at https://<public-host>/slack/events"
    )


def _start_http_bot(bot: Any, listener: socket.socket, host: str) -> _BotBeside:
    from slack_bot.server import http_server

    server = http_server(bot, listener, log_level="warning")
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="slack-bot", daemon=True
    )
    thread.start()

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=5)

    return _BotBeside(_http_bot_line(host, _bound_port(listener)), stop)


def _run_bot(args: argparse.Namespace) -> int:
    from slack_bot.config import BotConfigError, load_bot_settings

    try:
        bot = load_bot_settings()
        bot.require_mode("socket" if args.socket else "http")
    except BotConfigError as error:
        print(f"oms bot: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=bot.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.socket:
        from slack_bot.server import run_socket_mode

        print(f"Slack bot: Socket Mode, OMS at {bot.oms_url}", flush=True)
        run_socket_mode(bot)
        return 0
    from slack_bot.server import run_http

    host = args.host or bot.slack_bot_host
    port = args.port if args.port is not None else bot.port
    try:
        listener = _listen(host, port, "the Slack bot", "choose another with --port (or PORT)")
    except ListenError as error:
        print(f"oms bot: {error}", file=sys.stderr)
        return 1
    with contextlib.closing(listener):
        print(
            f"Slack bot: {_http_bot_line(host, _bound_port(listener))}; OMS at {bot.oms_url}",
            flush=True,
        )
        return 0 if run_http(bot, listener) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oms", description="Slack-first OMS for Alpaca")
    commands = parser.add_subparsers(dest="command", required=True)

    sim = commands.add_parser("sim", help="run the Alpaca simulator on its own")
    sim.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    sim.add_argument("--port", type=_port, default=5055, help="0 picks a free port")
    _add_market_options(sim)
    sim.set_defaults(handler=_run_sim)

    migrate = commands.add_parser("migrate", help="apply database migrations (DATABASE_URL)")
    migrate.set_defaults(handler=_run_migrate)

    api = commands.add_parser("api", help="run the OMS API alone (needs Alpaca keys)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=_port, default=None, help="default: PORT, else 8000")
    api.add_argument(
        "--workers",
        type=int,
        default=None,
        help="uvicorn worker processes (default: WEB_CONCURRENCY, else 1; PostgreSQL only when "
        "more than one)",
    )
    api.set_defaults(handler=_run_api)

    bot = commands.add_parser("bot", help="run the Slack bot (HTTP mode, or --socket)")
    bot.add_argument("--socket", action="store_true", help="Socket Mode (SLACK_APP_TOKEN)")
    bot.add_argument(
        "--host", default=None, help="HTTP mode interface (default: SLACK_BOT_HOST, 127.0.0.1)"
    )
    bot.add_argument(
        "--port", type=_port, default=None, help="HTTP mode port (default: PORT, else 3000)"
    )
    bot.set_defaults(handler=_run_bot)

    up = commands.add_parser(
        "up", help="migrate and run the OMS API, with the embedded simulator when no keys are set"
    )
    up.add_argument("--host", default="127.0.0.1", help="OMS API interface")
    up.add_argument("--port", type=_port, default=8000, help="OMS API port (0: any free port)")
    up.add_argument("--sim-port", type=_port, default=5055, help="embedded simulator port")
    up.add_argument(
        "--bot-host",
        default=None,
        help="Slack bot (HTTP mode) interface (default: SLACK_BOT_HOST, 127.0.0.1)",
    )
    up.add_argument(
        "--bot-port",
        type=_port,
        default=None,
        help="Slack bot (HTTP mode) port (default: PORT, else 3000)",
    )
    _add_market_options(up)
    up.set_defaults(handler=_run_up)

    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        # Ctrl+C before a server took over the signal (e.g. during start-up): the handlers'
        # `finally` blocks already stopped what ran; a clean stop, not a traceback.
        return 0


if __name__ == "__main__":
    sys.exit(main())
