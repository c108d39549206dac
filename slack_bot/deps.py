"""What every listener needs, built once per app and handed over through bolt's context."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from slack_bot.auth import Authorizer
from slack_bot.config import BotSettings
from slack_bot.oms_client import OmsClient
from slack_bot.refusals import RefusalReporter


class SeenTokens:
    """Order tokens this process already acted on: a Slack retry or a double click of the
    same confirmation posts one result (the OMS's Idempotency-Key already makes it one order)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._tokens: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._capacity = capacity

    def first_time(self, token: str) -> bool:
        with self._lock:
            if token in self._tokens:
                return False
            self._tokens[token] = None
            if len(self._tokens) > self._capacity:
                self._tokens.popitem(last=False)
            return True


@dataclass
class BotDeps:
    settings: BotSettings
    oms: OmsClient
    authorizer: Authorizer
    # Slow work (OMS calls after the ack) runs here, never on the ack path.
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=16, thread_name_prefix="slack-work")
    )
    # OMS look-ups run side by side while Slack waits for an ack (Review): their own threads,
    # so they never queue behind the slow work above.
    lookups: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=8, thread_name_prefix="slack-ask")
    )
    # Refusals on their way to the OMS audit trail: their own threads, off every ack path.
    reports: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="slack-audit")
    )
    seen_tokens: SeenTokens = field(default_factory=SeenTokens)
    # Follow-up of trades still working after the answer: check every `fill_watch_interval`
    # seconds, `fill_watch_checks` times. `sleep` is injectable so tests need no real waiting.
    fill_watch_interval: float = 2.0
    fill_watch_checks: int = 30
    sleep: Callable[[float], None] = time.sleep
    # Wall-clock seconds: when a confirmation was shown, and whether it has expired since.
    clock: Callable[[], float] = time.time
    # An emergency stop's message follows the stop: GET /emergency-stops/{id} every
    # `stop_poll_interval` seconds (`sleep`) until it is no longer running, or until
    # `stop_watch_seconds` have passed on `clock`.
    stop_poll_interval: float = 2.0
    stop_watch_seconds: float = 3600.0

    def __post_init__(self) -> None:
        # Every refusal the authorizer makes is recorded by the OMS too (unless the caller
        # wired its own reporter).
        if self.authorizer.on_refusal is None:
            self.authorizer.on_refusal = RefusalReporter(self.oms, self.reports)
