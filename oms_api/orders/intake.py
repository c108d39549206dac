"""The trade stream's events, taken off the stream at once and applied in batches.

The stream's reader only parses and queues, so it keeps reading however long a commit takes;
one applier thread writes everything that queued up meanwhile in one transaction, in arrival
order. Under load that is one commit for many events instead of one each, and no event waits
behind another's commit on the socket.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from oms_api.broker.models import TradeEvent

log = logging.getLogger(__name__)

_STOP = object()


class TradeEventIntake:
    def __init__(self, apply: Callable[[list[TradeEvent]], None], *, max_batch: int = 200) -> None:
        self._apply = apply
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def put(self, event: TradeEvent) -> None:
        """Called by the stream's reader: never blocks."""
        self._queue.put(event)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="trade-events", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Apply what is queued, then stop."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(_STOP)
        thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[TradeEvent] = [first]  # type: ignore[list-item]
            stopping = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)  # type: ignore[arg-type]
            try:
                self._apply(batch)
            except Exception:  # one bad batch must never stop the stream's events
                log.exception("could not apply %d trade update(s)", len(batch))
            if stopping:
                return
