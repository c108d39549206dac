"""A client-side request budget, so the OMS stays under Alpaca's 200 requests a minute per key.

A sliding one-minute window with reservations: a caller that would exceed the budget reserves
the next free slot and sleeps until it (if that is within its bound), so concurrent callers queue
in order and never overshoot; a caller whose slot is too far away is refused without sending.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class RateBudgetExceeded(Exception):
    """The budget has no slot within the caller's bound: the request was not sent."""

    def __init__(self, wait_needed: float, max_wait: float) -> None:
        super().__init__(
            f"client-side request budget exhausted: next slot in {wait_needed:.1f} s, "
            f"more than the {max_wait:.1f} s this call may wait"
        )
        self.wait_needed = wait_needed
        self.max_wait = max_wait


class RateLimiter:
    """At most `requests_per_minute` acquisitions in any 60 s window. Thread-safe."""

    def __init__(
        self,
        requests_per_minute: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if requests_per_minute < 1:
            raise ValueError("requests_per_minute must be at least 1")
        self.requests_per_minute = requests_per_minute
        self._monotonic = monotonic
        self._sleep = sleep
        # Send times (possibly in the near future: reservations) of the last N requests;
        # ascending by construction, so only the oldest of them decides the next slot.
        self._slots: deque[float] = deque(maxlen=requests_per_minute)
        self._lock = threading.Lock()

    def acquire(self, max_wait: float) -> float:
        """Take one request slot, sleeping (via the injected sleep) up to `max_wait` seconds.

        Returns the seconds waited; raises RateBudgetExceeded, without taking a slot, when the
        next free slot is further away than `max_wait`.
        """
        with self._lock:
            now = self._monotonic()
            slot = now
            if len(self._slots) == self.requests_per_minute:
                slot = max(now, self._slots[0] + WINDOW_SECONDS)
            wait = slot - now
            if wait > max_wait:
                raise RateBudgetExceeded(wait, max_wait)
            self._slots.append(slot)
        # Sleep outside the lock: the slot is already reserved, later callers queue behind it.
        if wait > 0:
            self._sleep(wait)
        return wait

    def available_now(self) -> int:
        """How many requests could be sent right now without waiting (for status pages)."""
        with self._lock:
            cutoff = self._monotonic() - WINDOW_SECONDS
            recent = sum(1 for slot in self._slots if slot > cutoff)
            return self.requests_per_minute - recent
