"""What one worker tells the others, over PostgreSQL LISTEN/NOTIFY (no extra server).

- `oms_orders`: every order write names the orders it changed (the order writer queues the
  NOTIFY inside its own transaction, so it is delivered exactly when the change commits). A
  worker whose request waits for an order's fill wakes at once when the worker that runs the
  trade stream commits it, instead of polling.
- `oms_stream`: the worker that runs the trade stream says whether it is connected, on every
  change and every few seconds, so the others know whether fills will come by stream.

Payloads start with the sender's tag (`<tag>:...`) so a worker skips its own notifications.
SQLite deployments are a single process and need none of this.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

ORDERS_CHANNEL = "oms_orders"
STREAM_CHANNEL = "oms_stream"


def publish_stream_state(engine: Engine, tag: str, connected: bool) -> None:
    """Tell the other workers whether this worker's trade stream is connected."""
    payload = f"{tag}:{'up' if connected else 'down'}"
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {
                "channel": STREAM_CHANNEL,
                "payload": payload,
            },
        )


class ChangeListener:
    """A thread holding one LISTEN connection; reconnects with back-off if it drops."""

    def __init__(
        self,
        engine: Engine,
        tag: str,
        *,
        on_orders: Callable[[list[int]], None],
        on_stream: Callable[[str, bool], None],
        on_gap: Callable[[], None],
    ) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._tag = tag
        self._on_orders = on_orders
        self._on_stream = on_stream
        self._on_gap = on_gap
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()  # set while LISTEN is in place

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="oms-change-listener", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        delay = 0.5
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {ORDERS_CHANNEL}")
                    conn.execute(f"LISTEN {STREAM_CHANNEL}")
                    self.listening.set()
                    if not first:
                        # Changes committed while nobody listened went unheard: look again.
                        self._on_gap()
                    first, delay = False, 0.5
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self._dispatch(note.channel, note.payload)
            except Exception as error:  # a dropped connection, a restarting server
                self.listening.clear()
                if self._stop.is_set():
                    return
                log.warning(
                    "change listener: %s; reconnecting in %.1f s", type(error).__name__, delay
                )
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
        self.listening.clear()

    def _dispatch(self, channel: str, payload: str) -> None:
        tag, _, body = payload.partition(":")
        if tag == self._tag:
            return  # this worker's own change: it knows already
        try:
            if channel == ORDERS_CHANNEL:
                self._on_orders([int(part) for part in body.split(",") if part])
            elif channel == STREAM_CHANNEL:
                self._on_stream(tag, body == "up")
        except Exception:
            log.exception("change listener: could not handle %s %r", channel, payload[:100])
