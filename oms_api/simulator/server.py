"""Run the simulator on a loopback port: in a background thread (tests, `oms up`) or in the
foreground (`oms sim`)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import uvicorn

from oms_api.simulator.app import Simulator, create_app
from oms_api.simulator.clock import Clock, ManualClock, MarketMode, WallClock
from oms_api.simulator.engine import Broker, BrokerConfig

DEFAULT_KEY_ID = "SIMULATOR-KEY"
DEFAULT_SECRET_KEY = "simulator-secret"  # not a secret: the simulator is a local test broker


@dataclass
class SimulatorOptions:
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    seed: int = 42
    api_key_id: str = DEFAULT_KEY_ID
    api_secret_key: str = DEFAULT_SECRET_KEY
    market_mode: MarketMode = MarketMode.OPEN
    starting_cash: Decimal = Decimal("100000")
    rate_limit_per_minute: int = 200
    manual_clock_start: datetime | None = None  # set: a ManualClock starting there
    max_step_bps: int = 8


def build_simulator(options: SimulatorOptions) -> Simulator:
    clock: Clock = (
        ManualClock(options.manual_clock_start)
        if options.manual_clock_start is not None
        else WallClock()
    )
    config = BrokerConfig(
        seed=options.seed,
        starting_cash=options.starting_cash,
        market_mode=options.market_mode,
        max_step_bps=options.max_step_bps,
    )
    return Simulator(
        broker=Broker(clock, config),
        api_key_id=options.api_key_id,
        api_secret_key=options.api_secret_key,
        rate_limit_per_minute=options.rate_limit_per_minute,
    )


class SimulatorServer:
    """A simulator served by uvicorn in a daemon thread."""

    def __init__(self, options: SimulatorOptions | None = None) -> None:
        self.options = options or SimulatorOptions()
        self.sim = build_simulator(self.options)
        # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto
        # says TCP, and without it every reply's body waits ~40 ms behind its headers.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((self.options.host, self.options.port))
        self.port = self._socket.getsockname()[1]
        # Listen now: clients that connect before uvicorn runs wait in the backlog, not fail.
        self._socket.listen(128)
        config = uvicorn.Config(
            create_app(self.sim),
            log_level="warning",
            ws="websockets-sansio",
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.options.host}:{self.port}"

    @property
    def stream_url(self) -> str:
        return f"ws://{self.options.host}:{self.port}/stream"

    @property
    def broker(self) -> Broker:
        return self.sim.broker

    def start(self, timeout: float = 10.0) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Alpaca simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._socket.close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        self._server.run(sockets=[self._socket])

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def connection_help(self) -> str:
        o = self.options
        return "\n".join(
            [
                f"Alpaca simulator listening on {self.base_url}",
                f"  trade_updates stream:  {self.stream_url}",
                f"  control API:           {self.base_url}/_sim/state",
                f"  API docs:              {self.base_url}/docs",
                "",
                "Point the OMS at it:",
                f"  export ALPACA_BASE_URL={self.base_url}",
                f"  export ALPACA_DATA_URL={self.base_url}",
                f"  export ALPACA_STREAM_URL={self.stream_url}",
                f"  export ALPACA_API_KEY_ID={o.api_key_id}",
                f"  export ALPACA_SECRET_KEY={o.api_secret_key}",
                "",
                "Point alpaca-py at it:",
                f'  TradingClient("{o.api_key_id}", "{o.api_secret_key}", '
                f'url_override="{self.base_url}")',
                f'  StockHistoricalDataClient("{o.api_key_id}", "{o.api_secret_key}", '
                f'url_override="{self.base_url}")',
                f'  TradingStream("{o.api_key_id}", "{o.api_secret_key}", '
                f'url_override="{self.stream_url}")',
            ]
        )
