"""Waiting in tests for something another thread or process does (a stream connecting, a
socket closing): check the condition, and give up with a clear message after `timeout`.

These are states of real servers and sockets with no event to subscribe to, so the helper
re-checks every 10 ms; it never stands in for time passing (tests inject clocks for that)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

_tick = threading.Event()  # never set: wait(POLL_SECONDS) is the pause between checks
POLL_SECONDS = 0.01


def wait_until(
    condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        _tick.wait(POLL_SECONDS)
