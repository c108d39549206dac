"""A deterministic, realistic order history for `SimulatorControl.seed_orders`.

`history_orders(n, seed=..., start=...)` returns `n` order bodies (top-level orders), oldest
first, each with a distinct `submitted_at`: equities (market and limit, some canceled); single
options; verticals and iron condors as multi-leg (`mleg`) orders, some later closed by an
opposite `mleg` order; verticals and straddles placed as separate single-leg orders a minute
apart; some options expired worthless. Options are OCC symbols on SPY, QQQ and AAPL.

The simulator stores these verbatim (no cash or position effect) and does not need the option
contracts as assets.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

OPTION_ROOTS: dict[str, Decimal] = {"SPY": Decimal(580), "QQQ": Decimal(500), "AAPL": Decimal(230)}
EQUITIES: dict[str, Decimal] = {
    "AAPL": Decimal("230.10"),
    "MSFT": Decimal("415.20"),
    "SPY": Decimal("580.40"),
    "QQQ": Decimal("500.30"),
    "NVDA": Decimal("135.60"),
}
CENT = Decimal("0.01")
SEED_CHUNK = 2000  # bodies per seed_orders request (one request is fine up to this)


def occ_symbol(root: str, expiry: date, kind: str, strike: Decimal) -> str:
    """An OCC option symbol as Alpaca writes it (no root padding): SPY250117C00500000."""
    return f"{root}{expiry:%y%m%d}{kind}{int(strike * 1000):08d}"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _friday_after(moment: datetime, weeks: int) -> date:
    day = moment.date() + timedelta(weeks=weeks)
    return day + timedelta(days=(4 - day.weekday()) % 7)


class _Builder:
    def __init__(self, seed: int, start: datetime) -> None:
        self.rng = random.Random(seed)
        self.clock = start
        self.counter = 0
        self.used: set[datetime] = set()

    def client_id(self, kind: str) -> str:
        self.counter += 1
        return f"hist-{kind}-{self.counter:06d}"

    def at(self, moment: datetime) -> str:
        # Distinct submission times (pages of the sync are cut by time).
        while moment in self.used:
            moment += timedelta(microseconds=1)
        self.used.add(moment)
        return _rfc3339(moment)

    def tick(self) -> datetime:
        self.clock += timedelta(
            seconds=self.rng.randint(20, 400), microseconds=self.rng.randint(0, 999_999)
        )
        return self.clock

    def price(self, low: str, high: str) -> Decimal:
        lo, hi = int(Decimal(low) * 100), int(Decimal(high) * 100)
        return Decimal(self.rng.randint(lo, hi)) / 100

    def strike(self, root: str, offset: int) -> Decimal:
        step = Decimal(5)
        base = (OPTION_ROOTS[root] / step).to_integral_value() * step
        return base + step * offset


def _equity(b: _Builder) -> list[tuple[datetime, dict[str, Any]]]:
    when = b.tick()
    symbol = b.rng.choice(sorted(EQUITIES))
    price = (EQUITIES[symbol] * Decimal(b.rng.uniform(0.95, 1.05))).quantize(CENT)
    qty = Decimal(b.rng.choice([1, 2, 5, 10, 20, 50]))
    body: dict[str, Any] = {
        "client_order_id": b.client_id("eq"),
        "symbol": symbol,
        "side": b.rng.choice(["buy", "buy", "sell"]),
        "qty": str(qty),
        "time_in_force": "day",
        "submitted_at": b.at(when),
    }
    roll = b.rng.random()
    if roll < 0.5:
        body.update(type="market", status="filled", filled_avg_price=str(price))
    elif roll < 0.85:
        body.update(type="limit", limit_price=str(price), status="filled")
        body["filled_avg_price"] = str(price)
    else:
        body.update(type="limit", limit_price=str(price - 5), status="canceled")
    return [(when, body)]


def _single(b: _Builder) -> list[tuple[datetime, dict[str, Any]]]:
    when = b.tick()
    root = b.rng.choice(sorted(OPTION_ROOTS))
    kind = b.rng.choice("CP")
    expiry = _friday_after(when, b.rng.randint(1, 5))
    strike = b.strike(root, b.rng.randint(-4, 4))
    premium = b.price("0.50", "9.00")
    status = b.rng.choice(["filled", "filled", "filled", "canceled", "expired"])
    body: dict[str, Any] = {
        "client_order_id": b.client_id("opt"),
        "symbol": occ_symbol(root, expiry, kind, strike),
        "side": "buy",
        "position_intent": "buy_to_open",
        "type": "limit",
        "limit_price": str(premium),
        "qty": str(b.rng.choice([1, 2, 3, 5])),
        "time_in_force": "day",
        "status": status,
        "submitted_at": b.at(when),
    }
    if status == "filled":
        body["filled_avg_price"] = str(premium)
    return [(when, body)]


def _mleg(
    b: _Builder, when: datetime, legs: list[dict[str, Any]], qty: int, kind: str, status: str
) -> dict[str, Any]:
    # Net per unit: what the buys cost minus what the sells bring (negative: a credit).
    net = sum(
        (Decimal(leg["filled_avg_price"]) * (1 if leg["side"] == "buy" else -1) for leg in legs),
        Decimal(0),
    )
    body: dict[str, Any] = {
        "client_order_id": b.client_id(kind),
        "order_class": "mleg",
        "type": "limit",
        "limit_price": str(net),
        "qty": str(qty),
        "time_in_force": "day",
        "status": status,
        "submitted_at": b.at(when),
        "legs": legs if status == "filled" else [_unfilled(leg) for leg in legs],
    }
    if status == "filled":
        body["filled_avg_price"] = str(net)
    return body


def _unfilled(leg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in leg.items() if k != "filled_avg_price"}


def _leg(symbol: str, side: str, intent: str, price: Decimal) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "side": side,
        "ratio_qty": "1",
        "position_intent": intent,
        "filled_avg_price": str(price),
    }


def _closing(legs: list[dict[str, Any]], prices: list[Decimal]) -> list[dict[str, Any]]:
    flipped = []
    for leg, price in zip(legs, prices, strict=True):
        side = "sell" if leg["side"] == "buy" else "buy"
        flipped.append(_leg(leg["symbol"], side, f"{side}_to_close", price))
    return flipped


def _vertical(b: _Builder) -> list[tuple[datetime, dict[str, Any]]]:
    when = b.tick()
    root = b.rng.choice(sorted(OPTION_ROOTS))
    kind = b.rng.choice("CP")
    expiry = _friday_after(when, b.rng.randint(2, 6))
    near = b.rng.randint(-3, 2)
    long_strike, short_strike = b.strike(root, near), b.strike(root, near + 1)
    if kind == "P":
        long_strike, short_strike = short_strike, long_strike
    long_price = b.price("2.00", "6.00")
    short_price = (long_price - b.price("0.50", "1.50")).max(CENT)
    legs = [
        _leg(occ_symbol(root, expiry, kind, long_strike), "buy", "buy_to_open", long_price),
        _leg(occ_symbol(root, expiry, kind, short_strike), "sell", "sell_to_open", short_price),
    ]
    qty = b.rng.choice([1, 2, 5])
    status = "filled" if b.rng.random() < 0.85 else "canceled"
    orders = [(when, _mleg(b, when, legs, qty, "vert", status))]
    if status == "filled" and b.rng.random() < 0.5:
        later = when + timedelta(hours=b.rng.randint(2, 72))
        prices = [b.price("0.50", "7.00"), b.price("0.10", "3.00")]
        orders.append((later, _mleg(b, later, _closing(legs, prices), qty, "vert-close", "filled")))
    return orders


def _iron_condor(b: _Builder) -> list[tuple[datetime, dict[str, Any]]]:
    when = b.tick()
    root = b.rng.choice(["SPY", "QQQ"])
    expiry = _friday_after(when, b.rng.randint(2, 6))
    width = b.rng.randint(1, 2)
    inner = b.rng.randint(1, 3)
    strikes = {
        "lp": b.strike(root, -inner - width),
        "sp": b.strike(root, -inner),
        "sc": b.strike(root, inner),
        "lc": b.strike(root, inner + width),
    }
    prices = {
        "lp": b.price("0.30", "1.00"),
        "sp": b.price("1.10", "2.50"),
        "sc": b.price("1.10", "2.50"),
        "lc": b.price("0.30", "1.00"),
    }
    legs = [
        _leg(occ_symbol(root, expiry, "P", strikes["lp"]), "buy", "buy_to_open", prices["lp"]),
        _leg(occ_symbol(root, expiry, "P", strikes["sp"]), "sell", "sell_to_open", prices["sp"]),
        _leg(occ_symbol(root, expiry, "C", strikes["sc"]), "sell", "sell_to_open", prices["sc"]),
        _leg(occ_symbol(root, expiry, "C", strikes["lc"]), "buy", "buy_to_open", prices["lc"]),
    ]
    qty = b.rng.choice([1, 2, 3])
    status = "filled" if b.rng.random() < 0.9 else "expired"
    orders = [(when, _mleg(b, when, legs, qty, "ic", status))]
    if status == "filled" and b.rng.random() < 0.6:
        later = when + timedelta(hours=b.rng.randint(4, 96))
        close_prices = [b.price("0.05", "0.60") for _ in legs]
        close = _mleg(b, later, _closing(legs, close_prices), qty, "ic-close", "filled")
        orders.append((later, close))
    return orders


def _separate_legs(b: _Builder) -> list[tuple[datetime, dict[str, Any]]]:
    """A vertical or a straddle placed as two single-leg orders, a minute apart."""
    when = b.tick()
    root = b.rng.choice(sorted(OPTION_ROOTS))
    expiry = _friday_after(when, b.rng.randint(1, 4))
    qty = str(b.rng.choice([1, 2]))
    if b.rng.random() < 0.5:  # straddle: a call and a put, same strike, both bought
        strike = b.strike(root, 0)
        specs = [("C", strike, "buy"), ("P", strike, "buy")]
        kind = "strad"
    else:  # call vertical: buy the lower strike, sell the higher
        near = b.rng.randint(-2, 2)
        specs = [("C", b.strike(root, near), "buy"), ("C", b.strike(root, near + 1), "sell")]
        kind = "vleg"
    orders = []
    for number, (option_kind, strike, side) in enumerate(specs):
        moment = when + timedelta(minutes=number)
        premium = b.price("1.00", "8.00")
        orders.append(
            (
                moment,
                {
                    "client_order_id": b.client_id(kind),
                    "symbol": occ_symbol(root, expiry, option_kind, strike),
                    "side": side,
                    "position_intent": f"{side}_to_open",
                    "type": "limit",
                    "limit_price": str(premium),
                    "filled_avg_price": str(premium),
                    "qty": qty,
                    "time_in_force": "day",
                    "status": "filled",
                    "submitted_at": b.at(moment),
                },
            )
        )
    b.clock = max(b.clock, when + timedelta(minutes=1))
    return orders


_KINDS = (
    (0.40, _equity),
    (0.55, _single),
    (0.72, _vertical),
    (0.85, _iron_condor),
    (1.00, _separate_legs),
)


def _units(b: _Builder) -> Iterator[list[tuple[datetime, dict[str, Any]]]]:
    while True:
        roll = b.rng.random()
        for bound, make in _KINDS:
            if roll < bound:
                yield make(b)
                break


def history_orders(n: int, *, seed: int = 1, start: datetime) -> list[dict[str, Any]]:
    """`n` order bodies for `SimulatorControl.seed_orders`, oldest first; the same arguments
    give the same orders (ids are left to the simulator)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    b = _Builder(seed, start)
    timed: list[tuple[datetime, dict[str, Any]]] = []
    units = _units(b)
    while len(timed) < n:
        timed.extend(next(units))
    # Closing orders come hours after their opening one: order everything by time, then cut.
    timed.sort(key=lambda item: item[1]["submitted_at"])
    return [body for _, body in timed[:n]]


def seed_history(control: Any, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Seed bodies through `control.seed_orders`, SEED_CHUNK at a time; the simulator's JSON."""
    seeded: list[dict[str, Any]] = []
    for first in range(0, len(bodies), SEED_CHUNK):
        seeded.extend(control.seed_orders(bodies[first : first + SEED_CHUNK]))
    return seeded
