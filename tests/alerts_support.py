"""Helpers for the alert tests: settings pointed at the fake Slack API, an injected clock,
sample bodies of every kind, and a way to read which alert a recorded post carried."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from oms_api.alerts.deliverer import AlertDeliverer
from oms_api.alerts.outbox import ALERTS, AlertKind, enqueue
from oms_api.config import Settings, load_settings
from tests.slack_fakes import FakeSlackAPI, SlackCall

# Distinctive, so that any 8 characters of it found in a log came from it.
TOKEN = f"xoxb-{secrets.randbelow(10**12):012d}-{secrets.randbelow(10**12):012d}-" + (
    secrets.token_hex(12)
)
CHANNEL = "C0ALERTS"
OTHER_CHANNEL = "C0OTHER"
T0 = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
_tick = threading.Event()  # never set: a real pause of a few ms so other threads run


def alert_settings(database_url: str, fake: FakeSlackAPI | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "slack_bot_token": TOKEN,
        "slack_alerts_channel_id": CHANNEL,
        "slack_api_url": fake.base_url if fake else "https://slack.com/api/",
    }
    values.update(overrides)
    return load_settings(_env_file=None, **values)


@dataclass
class FakeTime:
    """The deliverer's clocks: a wall clock from T0 and a monotonic one, moved by the test
    (or by the deliverer's own `sleep`, which also lets other threads run for a moment)."""

    offset: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.offset)

    def monotonic(self) -> float:
        return 1000.0 + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        _tick.wait(0.002)


def deliverer(
    engine: Engine, settings: Settings, clock: FakeTime | None = None, **kwargs: Any
) -> AlertDeliverer:
    if clock is not None:
        kwargs.setdefault("clock", clock.now)
        kwargs.setdefault("monotonic", clock.monotonic)
    return AlertDeliverer(engine, settings, **kwargs)


SAMPLE_BODIES: dict[AlertKind, dict[str, Any]] = {
    AlertKind.STOP_STARTED: {
        "stop_id": 4,
        "reason": "flash crash",
        "requested_by": "U0ADMIN",
        "requested_by_name": "Ada",
    },
    AlertKind.STOP_FINISHED: {
        "stop_id": 4,
        "status": "flat",
        "reason": "flash crash",
        "requested_by": "U0ADMIN",
        "requested_by_name": "Ada",
        "started_at": "2026-11-18T15:00:00+00:00",
        "finished_at": "2026-11-18T15:00:42+00:00",
        "orders_canceled": 2,
        "symbols": [
            {
                "symbol": "AAPL",
                "side": "long",
                "qty_before": "10",
                "filled_qty": "10",
                "fill_price": "1234.5",
                "outcome": "closed",
                "note": None,
            }
        ],
    },
    AlertKind.STOP_INCOMPLETE: {
        "stop_id": 5,
        "status": "incomplete",
        "reason": "risk",
        "requested_by": "U0ADMIN",
        "requested_by_name": "Ada",
        "started_at": "2026-11-18T15:00:00+00:00",
        "finished_at": "2026-11-18T15:03:05+00:00",
        "orders_canceled": 0,
        "symbols": [
            {
                "symbol": "TSLA",
                "side": "short",
                "qty_before": "3",
                "filled_qty": "0",
                "fill_price": None,
                "outcome": "failed",
                "note": "asset not tradable",
            }
        ],
    },
    AlertKind.HALTED: {
        "reason": "news pending",
        "by": "U0ADMIN",
        "by_name": "Ada",
        "stop_id": None,
    },
    AlertKind.RESUMED: {"reason": "all clear", "by": "U0ADMIN", "by_name": "Ada"},
    AlertKind.LOSS_LIMIT_WARNING: {"daily_pl": "-800", "limit": "1000", "fraction": "0.8"},
    AlertKind.LOSS_LIMIT_BREACH: {"daily_pl": "-1234.5", "limit": "1000", "fraction": "1.2345"},
    AlertKind.PORTFOLIO_PAUSED: {
        "portfolio": "alpha",
        "reason": "rebalancing",
        "by": "U0ADMIN",
        "by_name": "Ada",
    },
    AlertKind.PORTFOLIO_LOSS_LIMIT: {
        "portfolio": "alpha",
        "daily_pl": "-512.3",
        "limit": "-500",
        "fraction": "1.0246",
        "reason": "daily loss -$512.30 reached the -$500 limit",
    },
    AlertKind.ORDER_REJECTED: {
        "trade_id": 12,
        "portfolio": "main",
        "symbol": "AAPL",
        "side": "buy",
        "qty": "10",
        "notional": None,
        "code": "insufficient_buying_power",
        "message": "insufficient buying power",
        "requested_by": "U0TRADER",
    },
    AlertKind.ORDER_FILLED: {
        "trade_id": 13,
        "portfolio": "main",
        "symbol": "AAPL",
        "side": "buy",
        "filled_qty": "10",
        "filled_avg_price": "123.45",
        "requested_by": "U0TRADER",
    },
    AlertKind.RECONCILE_OFF: {
        "report_id": 7,
        "trigger": "schedule",
        "checked": 12,
        "in_sync": 10,
        "discrepancy_count": 2,
        "by_kind": {"missing_in_oms": 1, "position_mismatch": 1},
        "lines": [
            "AAPL buy 5 filled at the broker (order 6f1c2d3e…), not in the OMS "
            "(placed outside the OMS)",
            "AAPL: the broker holds 15, the OMS's portfolios 10: 5 unmanaged",
        ],
        "more": 0,
        "repairable": {"adopt": 1, "refresh": 0},
    },
    AlertKind.RECONCILE_CLEARED: {
        "report_id": 8,
        "trigger": "schedule",
        "checked": 12,
        "in_sync": 12,
        "discrepancy_count": 0,
    },
}


def sample_body(kind: AlertKind, mode: str = "PAPER", **changes: Any) -> dict[str, Any]:
    return {**SAMPLE_BODIES[kind], "mode": mode, **changes}


def record_alert(
    engine: Engine,
    title: str = "Trading halted",
    kind: AlertKind = AlertKind.HALTED,
    body: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """One alert, committed on its own."""
    with engine.begin() as connection:
        enqueue(connection, kind, title, body or sample_body(kind), **kwargs)


def alert_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [
            dict(r) for r in connection.execute(select(ALERTS).order_by(ALERTS.c.id)).mappings()
        ]


def title_of(call: SlackCall) -> str:
    """The alert title a post carried (its header, without the emoji)."""
    header = call.args["blocks"][0]["text"]["text"]
    return header.split(" ", 1)[1]


class Timeline:
    """Drive `deliver_due` on the fake clock and stamp each post with the fake time it was
    made at: `posts` holds (seconds since T0, call, delivered?)."""

    def __init__(self, fake: FakeSlackAPI, clock: FakeTime) -> None:
        self.fake = fake
        self.clock = clock
        self.posts: list[tuple[float, SlackCall]] = []

    def step(self, alerts: AlertDeliverer) -> int:
        seen = len(self.fake.calls("chat.postMessage"))
        delivered = alerts.deliver_due()
        for call in self.fake.calls("chat.postMessage")[seen:]:
            self.posts.append((self.clock.offset, call))
        return delivered

    def run(self, alerts: AlertDeliverer, seconds: float, every: float = 0.25) -> int:
        """Passes every `every` fake seconds for `seconds`; how many were delivered."""
        delivered = 0
        end = self.clock.offset + seconds
        while self.clock.offset < end:
            delivered += self.step(alerts)
            self.clock.advance(every)
        return delivered

    def titles(self, channel: str | None = None) -> list[str]:
        return [title_of(c) for _, c in self.posts if channel in (None, c.args["channel"])]

    def times(self, channel: str | None = None) -> list[float]:
        return [t for t, c in self.posts if channel in (None, c.args["channel"])]


@contextmanager
def running(alerts: AlertDeliverer) -> Iterator[AlertDeliverer]:
    alerts.start()
    try:
        yield alerts
    finally:
        alerts.stop()
