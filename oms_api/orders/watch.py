"""Waking request threads that wait for an order to change."""

from __future__ import annotations

import threading

from oms_api.orders.models import Fill, Order

Latest = tuple[Order, list[Fill] | None]


class OrderWatch:
    """Wakes request threads waiting for an order to change, and hands them the order as it
    was committed (so a waiter need not read it back).

    Fed by every write of this process (with the order as committed) and by other workers'
    writes (PostgreSQL NOTIFY: without the order, so the waiter reads it). A version is bumped
    on every change; a waiter takes the version before it looks, then waits for a newer one,
    so a change in between is never missed."""

    MAX_TRACKED = 10_000  # recent orders remembered; older ones fall back to a database read

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._versions: dict[int, int] = {}
        self._latest: dict[int, Latest] = {}

    def touch(
        self, order_id: int, order: Order | None = None, fills: list[Fill] | None = None
    ) -> None:
        """The order changed: `order` is how this process committed it, None when another
        process did (any copy held here is then stale)."""
        with self._cond:
            self._versions[order_id] = self._versions.pop(order_id, 0) + 1
            if order is not None:
                self._latest[order_id] = (order, fills)
            else:
                self._latest.pop(order_id, None)
            while len(self._versions) > self.MAX_TRACKED:
                oldest = next(iter(self._versions))
                del self._versions[oldest]
                self._latest.pop(oldest, None)
            self._cond.notify_all()

    def touch_all(self) -> None:
        """Every order may have changed (changes went unheard): waiters look again."""
        with self._cond:
            for order_id in self._versions:
                self._versions[order_id] += 1
            self._latest.clear()
            self._cond.notify_all()

    def refresh(self, order_id: int, order: Order, fills: list[Fill] | None = None) -> None:
        """The order as just read under its lock, unchanged: keep it as the latest copy
        without waking anyone (a copy from an earlier write may be older than this)."""
        with self._cond:
            if order_id in self._versions:
                self._latest[order_id] = (order, fills)

    def version(self, order_id: int) -> int:
        with self._cond:
            return self._versions.get(order_id, 0)

    def latest(self, order_id: int) -> tuple[int, Latest | None]:
        """The version and, when this process holds it, the order as of that version."""
        with self._cond:
            return self._versions.get(order_id, 0), self._latest.get(order_id)

    def wait(self, order_id: int, since: int, timeout: float) -> bool:
        """True if the order changed after `since` within `timeout` seconds."""
        if timeout <= 0:
            return self.version(order_id) != since
        with self._cond:
            return self._cond.wait_for(
                lambda: self._versions.get(order_id, 0) != since, timeout=timeout
            )

    def forget(self, order_id: int) -> None:
        with self._cond:
            self._versions.pop(order_id, None)
            self._latest.pop(order_id, None)
