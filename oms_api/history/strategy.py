"""Option contracts and strategy shapes: OCC symbols, and what a set of legs is (a vertical, a
straddle, an iron condor, ...). Pure functions: no database, no broker."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple

# Shares per US equity option contract: a premium of 1.23 costs 123 dollars a contract.
OPTION_MULTIPLIER = Decimal(100)

# Root (OCC pads it to 6 with spaces; Alpaca does not), yymmdd, C/P, strike x 1000 in 8 digits.
# Adjusted contracts carry a digit in the root (e.g. AAPL1), so digits after the first letter are
# accepted; the tail has a fixed length, so the split is never ambiguous.
_OCC = re.compile(r"^([A-Z][A-Z0-9]{0,5}) *(\d{2})(\d{2})(\d{2})([CP])(\d{8})$")


@dataclass(frozen=True)
class OccSymbol:
    """The parts of an OCC option symbol."""

    root: str
    expiry: date
    option_type: str  # "call" | "put"
    strike: Decimal


@functools.lru_cache(maxsize=8192)
def parse_occ(symbol: str) -> OccSymbol | None:
    """Parse an OCC option symbol (SPY250117C00500000); None if `symbol` is not one. Cached:
    a history names the same contracts over and over (the result is immutable)."""
    match = _OCC.match(symbol or "")
    if match is None:
        return None
    root, yy, mm, dd, kind, strike = match.groups()
    try:
        expiry = date(2000 + int(yy), int(mm), int(dd))
    except ValueError:
        return None
    return OccSymbol(
        root=root,
        expiry=expiry,
        option_type="call" if kind == "C" else "put",
        strike=Decimal(int(strike)) / 1000,
    )


class OptionLeg(NamedTuple):
    """One distinct contract of a strategy, with its side and its ratio (a named tuple: a
    history builds one per contract of every trade)."""

    symbol: str  # OCC symbol
    option_type: str  # "call" | "put"
    strike: Decimal
    expiry: date
    side: str  # "buy" | "sell"
    ratio: Decimal  # contracts per unit of the strategy (ratio_qty, else qty)


def decimal_gcd(values: Iterable[Decimal]) -> Decimal:
    """The greatest common divisor of non-zero decimals (0 when there are none): 2 and 4 -> 2,
    0.5 and 1.5 -> 0.5. Used to read 2 calls x 2 puts as one strategy of ratio 1:1, twice."""
    nonzero = [abs(v) for v in values if v != 0]
    if not nonzero:
        return Decimal(0)
    exponent = min(0, *(int(v.as_tuple().exponent) for v in nonzero))
    scale = Decimal(10) ** -exponent
    whole = [int(v * scale) for v in nonzero]
    return Decimal(math.gcd(*whole)) / scale


def detect_strategy(legs: Sequence[OptionLeg]) -> str:
    """Name the shape of `legs` (distinct contracts): "single_leg", "vertical_spread",
    "straddle", "strangle", "iron_condor", or "options" for anything else."""
    if not legs:
        return "options"
    if len({leg.symbol for leg in legs}) != len(legs):
        return "options"  # not distinct contracts: the caller did not net them
    if any(leg.side not in ("buy", "sell") or leg.ratio <= 0 for leg in legs):
        return "options"
    if any(leg.option_type not in ("call", "put") for leg in legs):
        return "options"
    if len(legs) == 1:
        return "single_leg"
    # Every named multi-leg shape has equal ratios and a single expiry.
    if len({leg.ratio for leg in legs}) != 1 or len({leg.expiry for leg in legs}) != 1:
        return "options"
    if len(legs) == 2:
        return _two_legs(legs[0], legs[1])
    if len(legs) == 4 and _is_iron_condor(legs):
        return "iron_condor"
    return "options"


def _two_legs(a: OptionLeg, b: OptionLeg) -> str:
    if a.option_type == b.option_type:
        if a.strike != b.strike and a.side != b.side:
            return "vertical_spread"
        return "options"
    if a.side != b.side:
        return "options"  # a call against a put, one bought and one sold: a synthetic, not named
    return "straddle" if a.strike == b.strike else "strangle"


def _is_iron_condor(legs: Sequence[OptionLeg]) -> bool:
    puts = sorted((leg for leg in legs if leg.option_type == "put"), key=lambda leg: leg.strike)
    calls = sorted((leg for leg in legs if leg.option_type == "call"), key=lambda leg: leg.strike)
    if len(puts) != 2 or len(calls) != 2:
        return False
    for pair in (puts, calls):
        if {leg.side for leg in pair} != {"buy", "sell"} or pair[0].strike == pair[1].strike:
            return False
    if puts[1].strike >= calls[0].strike:
        return False  # the put spread must sit wholly below the call spread
    low_put, high_put = puts
    low_call, high_call = calls
    # Short condor: long put < short put < short call < long call (the shorts inside).
    short = low_put.side == "buy" and high_put.side == "sell"
    short = short and low_call.side == "sell" and high_call.side == "buy"
    # Long condor: the reverse (the longs inside).
    long = low_put.side == "sell" and high_put.side == "buy"
    long = long and low_call.side == "buy" and high_call.side == "sell"
    return short or long
