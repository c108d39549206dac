"""The `oms` command: sim, migrate, api, bot, up."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from oms_api.config import ConfigError, Mode, Settings, load_settings
from oms_api.simulator import MarketMode, SimulatorOptions, SimulatorServer


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


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
    server = SimulatorServer(_sim_options(args, args.host, args.port))
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


def _serve_api(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    from oms_api.db.migrate import check_up_to_date
    from oms_api.main import create_app

    if not check_up_to_date(settings.database_url):
        print(
            "configuration error: DATABASE_URL: the database is not migrated — run `oms migrate`",
            file=sys.stderr,
        )
        raise SystemExit(2)
    try:
        app = create_app(settings)
    except ConfigError as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None
    log_level = settings.log_level.lower()
    if workers > 1:
        # Each worker builds its own app from the environment; the trade stream and the
        # poller run in one of them only (PostgreSQL advisory lock).
        uvicorn.run(
            "oms_api.main:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
        )
        return
    uvicorn.run(app, host=host, port=port, log_level=log_level)


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
    if args.workers > 1 and not settings.database_url.startswith("postgresql"):
        print(
            "configuration error: --workers: several workers need PostgreSQL (DATABASE_URL)",
            file=sys.stderr,
        )
        return 2
    _serve_api(settings, args.host, args.port, args.workers)
    return 0


def _run_up(args: argparse.Namespace) -> int:
    from oms_api.db.migrate import upgrade

    settings = _settings()
    _configure_logging(settings.log_level)
    overrides: dict[str, object] = {}
    token_note = "(from OMS_API_TOKEN)"
    if settings.oms_api_token is None:
        overrides["oms_api_token"] = secrets.token_urlsafe(24)
        token_note = "(generated for this run; set OMS_API_TOKEN to keep one)"
    simulator = None
    if settings.mode is Mode.SIMULATOR and not settings.alpaca_api_key_id:
        simulator = SimulatorServer(_sim_options(args, "127.0.0.1", args.sim_port)).start()
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
    assert settings.oms_api_token is not None
    api_url = f"http://{args.host}:{args.port}"
    lines = [
        "",
        f"Alpaca Slack OMS — mode {settings.mode.value}",
        f"  OMS API:     {api_url}/api/v1   (docs: {api_url}/docs, health: {api_url}/health)",
        f"  API token:   {settings.oms_api_token.get_secret_value()}  {token_note}",
        f"  database:    {settings.database_url.split('@')[-1]}",
    ]
    if simulator is not None:
        lines.append(f"  broker:      embedded Alpaca simulator at {simulator.base_url}")
    else:
        lines.append(f"  broker:      {settings.alpaca_base_url}")
    bot_stop, bot_line = _start_bot_beside(
        f"http://127.0.0.1:{args.port}", settings.oms_api_token.get_secret_value()
    )
    lines.append(f"  Slack bot:   {bot_line}")
    lines += [
        "",
        "Try it:",
        f'  curl -s -X POST {api_url}/api/v1/portfolios -H "Authorization: Bearer $TOKEN" '
        "-H 'Content-Type: application/json' -d '{\"name\": \"main\"}'",
        f'  curl -s -X POST {api_url}/api/v1/trade -H "Authorization: Bearer $TOKEN" '
        "-H 'Content-Type: application/json' "
        '-d \'{"portfolio": "main", "symbol": "AAPL", "side": "buy", "qty": "1"}\'',
        "",
        "Press Ctrl+C to stop.",
    ]
    print("\n".join(lines), flush=True)
    try:
        _serve_api(settings, args.host, args.port)
    finally:
        if bot_stop is not None:
            bot_stop()
        if simulator is not None:
            simulator.stop()
    return 0


def _start_bot_beside(oms_url: str, oms_token: str) -> tuple[Any, str]:
    """Start the Slack bot next to `oms up` when Slack tokens are configured.

    Socket Mode when SLACK_APP_TOKEN is set (no public URL needed), else HTTP mode when the
    signing secret is set. Returns a stop function (or None) and a line for the banner."""
    from slack_bot.config import BotConfigError, load_bot_settings

    try:
        bot = load_bot_settings(oms_url=oms_url, oms_api_token=oms_token)
    except BotConfigError as error:
        return None, f"not started — {error}"
    if bot.socket_mode_ready:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        from slack_bot.app import build_app

        assert bot.slack_app_token is not None
        handler = SocketModeHandler(build_app(bot), bot.slack_app_token.get_secret_value())
        handler.connect()
        return handler.close, "running in Socket Mode (SLACK_APP_TOKEN)"
    if bot.http_mode_ready:
        import threading

        import uvicorn

        from slack_bot.server import create_http_app

        server = uvicorn.Server(
            uvicorn.Config(create_http_app(bot), host="0.0.0.0", port=bot.port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, name="slack-bot", daemon=True)
        thread.start()

        def stop() -> None:
            server.should_exit = True
            thread.join(timeout=5)

        return (
            stop,
            f"HTTP mode on port {bot.port}: point Slack at https://<public-host>/slack/events",
        )
    return None, (
        "not configured — set SLACK_BOT_TOKEN plus SLACK_APP_TOKEN (Socket Mode) or "
        "SLACK_SIGNING_SECRET (HTTP mode); see README → Slack"
    )


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

    port = args.port or bot.port
    print(
        f"Slack bot: HTTP mode on {args.host}:{port}/slack/events, OMS at {bot.oms_url}", flush=True
    )
    run_http(bot, args.host, port)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oms", description="Slack-first OMS for Alpaca")
    commands = parser.add_subparsers(dest="command", required=True)

    sim = commands.add_parser("sim", help="run the Alpaca simulator on its own")
    sim.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    sim.add_argument("--port", type=int, default=5055, help="0 picks a free port")
    _add_market_options(sim)
    sim.set_defaults(handler=_run_sim)

    migrate = commands.add_parser("migrate", help="apply database migrations (DATABASE_URL)")
    migrate.set_defaults(handler=_run_migrate)

    api = commands.add_parser("api", help="run the OMS API alone (needs Alpaca keys)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    api.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "1")),
        help="uvicorn worker processes (PostgreSQL only when more than one)",
    )
    api.set_defaults(handler=_run_api)

    bot = commands.add_parser("bot", help="run the Slack bot (HTTP mode, or --socket)")
    bot.add_argument("--socket", action="store_true", help="Socket Mode (SLACK_APP_TOKEN)")
    bot.add_argument("--host", default="127.0.0.1", help="HTTP mode interface")
    bot.add_argument("--port", type=int, default=None, help="HTTP mode port (default PORT or 3000)")
    bot.set_defaults(handler=_run_bot)

    up = commands.add_parser(
        "up", help="migrate and run the OMS API, with the embedded simulator when no keys are set"
    )
    up.add_argument("--host", default="127.0.0.1", help="OMS API interface")
    up.add_argument("--port", type=int, default=8000, help="OMS API port")
    up.add_argument("--sim-port", type=int, default=5055, help="embedded simulator port")
    _add_market_options(up)
    up.set_defaults(handler=_run_up)

    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
