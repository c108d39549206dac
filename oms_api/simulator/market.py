"""Deterministic, seeded price paths, one per symbol.

Every `step_seconds` of simulator time each symbol moves by a seeded random number of basis
points. The same seed and the same clock give the same prices, so tests and benchmarks repeat.
Arithmetic stays in Decimal. Every price a path takes is kept in its `history` (bars and the
portfolio history are built from it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from oms_api.simulator.price_history import PriceHistory, minute_of

CENT = Decimal("0.01")
SUB_PENNY = Decimal("0.0001")


def round_price(price: Decimal) -> Decimal:
    """Alpaca's tick sizes: cents at or above $1, hundredths of a cent below."""
    tick = CENT if price >= 1 else SUB_PENNY
    return max(price.quantize(tick, rounding=ROUND_HALF_UP), tick)


def bid_ask(price: Decimal) -> tuple[Decimal, Decimal]:
    """The quote around a price: a tick below and a tick above it."""
    half_spread = CENT if price >= 1 else SUB_PENNY
    return round_price(price - half_spread), round_price(price + half_spread)


@dataclass
class PricePath:
    price: Decimal
    rng: random.Random
    day_open: Decimal
    prev_close: Decimal
    high: Decimal
    low: Decimal


class MarketModel:
    def __init__(
        self, seed: int, start: datetime, step_seconds: float = 1.0, max_step_bps: int = 8
    ) -> None:
        self.seed = seed
        self.step_seconds = step_seconds
        self.max_step_bps = max_step_bps  # 0 freezes prices (only set_price moves them)
        self._paths: dict[str, PricePath] = {}
        self._last_step_at = start
        self.history = PriceHistory(start)

    def add(self, symbol: str, start_price: Decimal, at: datetime | None = None) -> None:
        if symbol in self._paths:
            return
        price = round_price(start_price)
        # A string seed hashes the same way on every run and platform.
        rng = random.Random(f"{self.seed}:{symbol}")
        prev_close = round_price(price * (1 + Decimal(rng.randint(-150, 150)) / 10000))
        self._paths[symbol] = PricePath(price, rng, price, prev_close, price, price)
        self.history.record(symbol, at or self._last_step_at, price)

    def has(self, symbol: str) -> bool:
        return symbol in self._paths

    def price(self, symbol: str) -> Decimal:
        return self._paths[symbol].price

    def path(self, symbol: str) -> PricePath:
        return self._paths[symbol]

    def set_price(self, symbol: str, price: Decimal, at: datetime | None = None) -> None:
        path = self._paths[symbol]
        path.price = round_price(price)
        path.high = max(path.high, path.price)
        path.low = min(path.low, path.price)
        self.history.record(symbol, at or self._last_step_at, path.price)

    def advance_to(self, now: datetime) -> bool:
        """Step every path up to `now`; True when any price moved."""
        elapsed = (now - self._last_step_at).total_seconds()
        steps = int(elapsed // self.step_seconds)
        if steps <= 0:
            return False
        self._last_step_at = now
        if self.max_step_bps <= 0:
            return False
        # A long jump of the clock replays at most ten minutes of steps: still deterministic, and
        # cheap enough that advancing a test clock by days costs milliseconds.
        steps = min(steps, 600)
        bound = self.max_step_bps
        # The steps replayed are the last ones before `now`, one step apart: the minute of each.
        step = timedelta(seconds=self.step_seconds)
        minutes = [minute_of(now - step * (steps - 1 - k)) for k in range(steps)]
        record = self.history.record_minute
        for symbol, path in self._paths.items():
            price = path.price
            for minute in minutes:
                price = round_price(price * (1 + Decimal(path.rng.randint(-bound, bound)) / 10000))
                record(symbol, minute, price)
            path.price = price
            path.high = max(path.high, price)
            path.low = min(path.low, price)
        return True
