"""The `oms` command."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation

from oms_api.simulator import MarketMode, SimulatorOptions, SimulatorServer


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _add_sim_options(parser: argparse.ArgumentParser, default_port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=default_port, help="0 picks a free port")
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


def _sim_options(args: argparse.Namespace) -> SimulatorOptions:
    start = None
    if args.manual_clock:
        start = datetime.fromisoformat(args.manual_clock.replace("Z", "+00:00"))
        if start.tzinfo is None:
            raise SystemExit("--manual-clock needs a time zone, e.g. 2026-11-18T15:00:00Z")
    return SimulatorOptions(
        host=args.host,
        port=args.port,
        seed=args.seed,
        market_mode=MarketMode(args.market),
        starting_cash=args.cash,
        rate_limit_per_minute=args.rate_limit,
        manual_clock_start=start,
    )


def _run_sim(args: argparse.Namespace) -> int:
    server = SimulatorServer(_sim_options(args))
    print(server.connection_help(), flush=True)
    print("\nPress Ctrl+C to stop.", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oms", description="Slack-first OMS for Alpaca")
    commands = parser.add_subparsers(dest="command", required=True)

    sim = commands.add_parser("sim", help="run the Alpaca simulator on its own")
    _add_sim_options(sim, default_port=5055)
    sim.set_defaults(handler=_run_sim)

    up = commands.add_parser("up", help="run the product on its embedded defaults")
    _add_sim_options(up, default_port=5055)
    up.set_defaults(handler=_run_sim)

    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
