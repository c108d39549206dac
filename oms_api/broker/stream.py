"""trade_updates from Alpaca, delivered to a plain callback by a supervised alpaca-py stream.

alpaca-py's TradingStream needs guarding: depending on the version it stops reading for good
when a handler raises or a message fails to parse, `run()` calls asyncio.run (so it needs its
own thread), it reconnects only on websocket errors, and its authentication read has no
timeout. Here:
- messages arrive raw (`raw_data=True`) and are converted by our own code inside a handler that
  catches everything, so no message and no callback can stop the reading; `on_event` is
  called on the reader's own thread and must only hand the event on (the OMS queues it), so
  the reader never waits for a database;
- the websocket library logs every frame at DEBUG, the authentication frame (with the secret
  key) included: the connection gets a logger of its own that never logs below INFO;
- a supervisor thread restarts the TradingStream (with backoff) if its thread ends, and closes
  its socket to force a reconnect if it stays unconnected too long;
- `on_connect` fires after every successful (re)subscription: Alpaca does not replay events
  missed while disconnected, so the OMS polls open orders then.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from alpaca.trading.models import TradeUpdate
from alpaca.trading.stream import TradingStream

from oms_api.broker.gateway import broker_order_from_alpaca
from oms_api.broker.models import TradeEvent

log = logging.getLogger(__name__)

# The websocket connection's logger: at DEBUG, `websockets` writes each frame it sends, and the
# first one carries the API secret. This logger is pinned at INFO whatever the root level.
_socket_log = logging.getLogger("oms_api.broker.stream.socket")
_socket_log.setLevel(logging.INFO)


class _NoFrames(logging.Filter):
    """Belt and braces: drop frame dumps ("> TEXT ...", "< TEXT ...") even if the level is
    lowered on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("> ", "< "))


_socket_log.addFilter(_NoFrames())

# alpaca-py's defaults, plus our logger.
_WEBSOCKET_PARAMS = {"ping_interval": 10, "ping_timeout": 180, "max_queue": 1024}


def trade_event_from_message(message: Any) -> TradeEvent | None:
    """Convert one raw stream message; None if it is not a trade update.

    Raises ValueError (or pydantic's ValidationError, a ValueError) for a malformed one.
    """
    if not isinstance(message, dict) or message.get("stream") != "trade_updates":
        return None
    data = message.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("order"), dict):
        raise ValueError("trade update without data.order")
    # alpaca-py's models validate the shape (and parse timestamps); amounts are taken from the
    # raw JSON strings because TradeUpdate turns price/qty into floats.
    update = TradeUpdate(**data)
    order = broker_order_from_alpaca(update.order, raw=data["order"])
    execution_id = data.get("execution_id")
    return TradeEvent(
        event=str(getattr(update.event, "value", update.event)),
        order=order,
        execution_id=str(execution_id) if execution_id else None,
        price=_dec(data.get("price")),
        qty=_dec(data.get("qty")),
        position_qty=_dec(data.get("position_qty")),
        timestamp=_aware(update.timestamp),
    )


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _SupervisedTradingStream(TradingStream):
    """A TradingStream that reports when it is subscribed (private hooks, see below)."""

    def __init__(self, owner: TradeUpdatesStream, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._owner = owner
        self.listening = False

    async def _dispatch(self, msg: dict) -> None:
        # Overrides a private method: the "listening" acknowledgement is the only reliable sign
        # that events will flow, and TradingStream does not pass it to any handler.
        if isinstance(msg, dict) and msg.get("stream") == "listening":
            streams = (msg.get("data") or {}).get("streams") or []
            if "trade_updates" in streams and not self.listening:
                self.listening = True
                await self._owner._connected_now()
            return
        await super()._dispatch(msg)

    async def close(self) -> None:
        self.listening = False
        await super().close()


class TradeUpdatesStream:
    """Alpaca trade_updates, converted to TradeEvent and handed to `on_event`, kept alive."""

    def __init__(
        self,
        *,
        key_id: str,
        secret_key: str,
        stream_url: str,
        on_event: Callable[[TradeEvent], None],
        on_connect: Callable[[], None] | None = None,
        paper: bool = True,
        connect_timeout: float = 30.0,
        restart_backoff: tuple[float, float] = (1.0, 30.0),
        reconnect_backoff: tuple[float, float] = (1.0, 30.0),
        check_interval: float = 0.5,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """
        connect_timeout: force a reconnect if not subscribed for this long (monotonic clock).
        restart_backoff: (first, max) delay before restarting a TradingStream whose thread ended.
        reconnect_backoff: (first, max) for alpaca-py's own reconnects after a dropped socket.
        sleep: the restart wait; by default an interruptible wait that stop() cuts short.
        """
        self._key_id = key_id
        self._secret_key = secret_key
        self.stream_url = stream_url
        self._on_event = on_event
        self._on_connect = on_connect
        self._paper = paper
        self._connect_timeout = connect_timeout
        self._restart_backoff = restart_backoff
        self._reconnect_backoff = reconnect_backoff
        self._check_interval = check_interval
        self._monotonic = monotonic
        self._stopping = threading.Event()
        self._sleep = sleep if sleep is not None else self._stopping.wait
        self._stream: _SupervisedTradingStream | None = None
        self._runner: threading.Thread | None = None
        self._supervisor: threading.Thread | None = None
        self._lock = threading.Lock()
        self.connections = 0  # successful subscriptions so far
        self.restarts = 0  # TradingStreams replaced by the supervisor
        self.events_received = 0
        self.malformed_messages = 0

    def __repr__(self) -> str:  # never the keys
        return f"TradeUpdatesStream(stream_url={self.stream_url!r}, connected={self.connected})"

    # ------------------------------------------------------------------ public
    @property
    def connected(self) -> bool:
        """Subscribed to trade_updates on a live socket, as far as we can tell.

        True after Alpaca acknowledged the listen request; False again once alpaca-py drops the
        socket (its private `_running` flag, cleared in TradingStream.close()).
        """
        stream = self._stream
        return bool(stream is not None and stream.listening and stream._running)

    def start(self) -> None:
        with self._lock:
            if self._supervisor is not None:
                return
            self._stopping.clear()
            self._supervisor = threading.Thread(
                target=self._supervise, name="trade-updates-supervisor", daemon=True
            )
            self._supervisor.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop promptly: ask the TradingStream to stop, then close its socket."""
        self._stopping.set()
        deadline = time.monotonic() + timeout
        stopped: set[int] = set()
        while time.monotonic() < deadline:
            runner, stream = self._runner, self._stream
            if stream is not None and id(stream) not in stopped:
                loop = stream._loop
                if loop is not None and loop.is_running():
                    stopped.add(id(stream))
                    future = asyncio.run_coroutine_threadsafe(self._shutdown(stream), loop)
                    try:
                        future.result(timeout=max(0.1, deadline - time.monotonic()))
                    except Exception:
                        log.debug("trade_updates: shutdown did not complete cleanly")
            if runner is None or not runner.is_alive():
                break
            runner.join(0.05)
        supervisor = self._supervisor
        if supervisor is not None:
            supervisor.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._supervisor = None

    # ------------------------------------------------------------------ supervision
    def _new_stream(self) -> _SupervisedTradingStream:
        stream = _SupervisedTradingStream(
            self,
            api_key=self._key_id,
            secret_key=self._secret_key,
            paper=self._paper,
            raw_data=True,  # we parse: a bad message must not reach alpaca-py's model code
            url_override=self.stream_url,
            websocket_params={**_WEBSOCKET_PARAMS, "logger": _socket_log},
        )
        # Private tunables of TradingStream's reconnect backoff (defaults 1 s and 30 s).
        stream._reconnect_min_backoff, stream._reconnect_max_backoff = self._reconnect_backoff
        stream.subscribe_trade_updates(self._handle)
        return stream

    def _supervise(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            stream = self._new_stream()
            self._stream = stream
            runner = threading.Thread(target=self._run, args=(stream,), daemon=True)
            runner.name = "trade-updates"
            self._runner = runner
            runner.start()
            connections_before = self.connections
            unconnected_since = self._monotonic()
            while runner.is_alive() and not self._stopping.is_set():
                runner.join(self._check_interval)
                if self.connected:
                    unconnected_since = self._monotonic()
                elif self._monotonic() - unconnected_since > self._connect_timeout:
                    # alpaca-py waits forever for the auth reply; dropping the socket makes it
                    # reconnect.
                    log.warning(
                        "trade_updates: not connected for %ss, reconnecting", self._connect_timeout
                    )
                    self._force_reconnect(stream)
                    unconnected_since = self._monotonic()
            if self._stopping.is_set():
                break
            failures = 0 if self.connections > connections_before else failures + 1
            first, most = self._restart_backoff
            delay = min(most, first * (2 ** max(0, failures - 1)))
            self.restarts += 1
            log.warning("trade_updates: the stream thread ended; restarting in %.1f s", delay)
            self._sleep(delay)

    def _run(self, stream: _SupervisedTradingStream) -> None:
        try:
            stream.run()
        except Exception:
            log.exception("trade_updates: the stream crashed")

    def _force_reconnect(self, stream: _SupervisedTradingStream) -> None:
        loop = stream._loop
        if loop is None or not loop.is_running():
            return
        ws = stream._ws
        if ws is not None:
            asyncio.run_coroutine_threadsafe(ws.close(), loop)

    @staticmethod
    async def _shutdown(stream: _SupervisedTradingStream) -> None:
        await stream.stop_ws()
        # TradingStream notices a stop request only between 5-second reads: closing the socket
        # ends the pending read at once.
        await stream.close()

    # ------------------------------------------------------------------ callbacks
    async def _connected_now(self) -> None:
        self.connections += 1
        log.info("trade_updates: subscribed (connection %d)", self.connections)
        if self._on_connect is not None:
            try:
                # Off the event loop, so a slow callback (a REST poll) does not stall pings.
                await asyncio.to_thread(self._on_connect)
            except Exception:
                log.exception("trade_updates: on_connect callback failed")

    async def _handle(self, message: Any) -> None:
        """The handler given to TradingStream: it never raises."""
        try:
            event = trade_event_from_message(message)
        except Exception:
            self.malformed_messages += 1
            log.exception("trade_updates: dropped a malformed message")
            return
        if event is None:
            return
        self.events_received += 1
        try:
            self._on_event(event)  # hands the event on (the OMS queues it): never blocks
        except Exception:
            log.exception("trade_updates: on_event callback failed for %s", event.event)
