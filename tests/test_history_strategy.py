"""Option symbols and strategy shapes: OCC parsing and detect_strategy over every named pattern
and the near misses that must not be named (pure functions, no database)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from oms_api.history.strategy import (
    OPTION_MULTIPLIER,
    OccSymbol,
    OptionLeg,
    decimal_gcd,
    detect_strategy,
    parse_occ,
)

JAN = date(2025, 1, 17)
FEB = date(2025, 2, 21)


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("SPY250117C00500000", OccSymbol("SPY", JAN, "call", Decimal(500))),
        ("AAPL250221P00187500", OccSymbol("AAPL", FEB, "put", Decimal("187.5"))),
        ("F250117C00012500", OccSymbol("F", JAN, "call", Decimal("12.5"))),
        ("GOOGL250117P00000500", OccSymbol("GOOGL", JAN, "put", Decimal("0.5"))),
        # OCC's own form pads the root to six characters.
        ("SPY   250117C00500000", OccSymbol("SPY", JAN, "call", Decimal(500))),
    ],
)
def test_parse_occ_reads_root_expiry_type_and_strike(symbol: str, expected: OccSymbol) -> None:
    assert parse_occ(symbol) == expected


@pytest.mark.parametrize(
    "symbol",
    [
        "",
        "AAPL",
        "BTC/USD",
        "SPY250117X00500000",  # neither C nor P
        "SPY251317C00500000",  # month 13
        "SPY250230C00500000",  # 30 February
        "SPY250117C0050000",  # strike of 7 digits
        "spy250117c00500000",  # lower case
        "TOOLONG250117C00500000",  # root of 7
    ],
)
def test_parse_occ_rejects_what_is_not_an_occ_symbol(symbol: str) -> None:
    assert parse_occ(symbol) is None


def test_option_multiplier_is_one_hundred_shares() -> None:
    assert Decimal("1.23") * OPTION_MULTIPLIER == Decimal("123.00")


def test_decimal_gcd() -> None:
    assert decimal_gcd([Decimal(2), Decimal(4)]) == 2
    assert decimal_gcd([Decimal(3), Decimal(2)]) == 1
    assert decimal_gcd([Decimal("0.5"), Decimal("1.5")]) == Decimal("0.5")
    assert decimal_gcd([Decimal("2.000000000"), Decimal(0)]) == 2
    assert decimal_gcd([]) == 0


def leg(
    kind: str, strike: int | str, side: str, ratio: int = 1, expiry: date = JAN, root: str = "SPY"
) -> OptionLeg:
    strike_d = Decimal(strike)
    symbol = f"{root}{expiry:%y%m%d}{kind[0].upper()}{int(strike_d * 1000):08d}"
    return OptionLeg(symbol, kind, strike_d, expiry, side, Decimal(ratio))


PATTERNS = {
    "one call": ([leg("call", 500, "buy")], "single_leg"),
    "one short put": ([leg("put", 480, "sell", ratio=3)], "single_leg"),
    "bull call spread": ([leg("call", 500, "buy"), leg("call", 510, "sell")], "vertical_spread"),
    "bear put spread": ([leg("put", 490, "buy"), leg("put", 480, "sell")], "vertical_spread"),
    "vertical 2x2": (
        [leg("call", 500, "sell", 2), leg("call", 505, "buy", 2)],
        "vertical_spread",
    ),
    "long straddle": ([leg("call", 500, "buy"), leg("put", 500, "buy")], "straddle"),
    "short straddle": ([leg("put", 500, "sell"), leg("call", 500, "sell")], "straddle"),
    "long strangle": ([leg("call", 510, "buy"), leg("put", 490, "buy")], "strangle"),
    "short strangle": ([leg("call", 510, "sell"), leg("put", 490, "sell")], "strangle"),
    "short iron condor": (
        [
            leg("put", 480, "buy"),
            leg("put", 490, "sell"),
            leg("call", 510, "sell"),
            leg("call", 520, "buy"),
        ],
        "iron_condor",
    ),
    "long iron condor": (
        [
            leg("call", 520, "sell"),
            leg("put", 480, "sell"),
            leg("call", 510, "buy"),
            leg("put", 490, "buy"),
        ],
        "iron_condor",
    ),
    # Near misses: each breaks exactly one rule of a named shape.
    "no legs": ([], "options"),
    "two calls, same strike": ([leg("call", 500, "buy"), leg("call", 500, "sell")], "options"),
    "vertical, same side": ([leg("call", 500, "buy"), leg("call", 510, "buy")], "options"),
    "vertical, mixed expiries (calendar)": (
        [leg("call", 500, "buy"), leg("call", 510, "sell", expiry=FEB)],
        "options",
    ),
    "vertical, unequal ratios": (
        [leg("call", 500, "buy"), leg("call", 510, "sell", ratio=2)],
        "options",
    ),
    "call and put, opposite sides": ([leg("call", 500, "buy"), leg("put", 500, "sell")], "options"),
    "strangle, opposite sides": ([leg("call", 510, "buy"), leg("put", 490, "sell")], "options"),
    "straddle, mixed expiries": (
        [leg("call", 500, "buy"), leg("put", 500, "buy", expiry=FEB)],
        "options",
    ),
    "straddle, unequal ratios": (
        [leg("call", 500, "buy", 2), leg("put", 500, "buy", 1)],
        "options",
    ),
    "three legs (butterfly)": (
        [leg("call", 500, "buy"), leg("call", 510, "sell", 2), leg("call", 520, "buy")],
        "options",
    ),
    "condor with overlapping strikes": (
        [
            leg("put", 480, "buy"),
            leg("put", 515, "sell"),
            leg("call", 510, "sell"),
            leg("call", 520, "buy"),
        ],
        "options",
    ),
    "iron butterfly (shorts share a strike)": (
        [
            leg("put", 480, "buy"),
            leg("put", 500, "sell"),
            leg("call", 500, "sell"),
            leg("call", 520, "buy"),
        ],
        "options",
    ),
    "condor, shorts outside on one side only": (
        [
            leg("put", 480, "sell"),
            leg("put", 490, "buy"),
            leg("call", 510, "sell"),
            leg("call", 520, "buy"),
        ],
        "options",
    ),
    "condor, one pair not a vertical": (
        [
            leg("put", 480, "buy"),
            leg("put", 490, "buy"),
            leg("call", 510, "sell"),
            leg("call", 520, "buy"),
        ],
        "options",
    ),
    "condor, unequal ratios": (
        [
            leg("put", 480, "buy"),
            leg("put", 490, "sell"),
            leg("call", 510, "sell", 2),
            leg("call", 520, "buy"),
        ],
        "options",
    ),
    "condor, mixed expiries": (
        [
            leg("put", 480, "buy"),
            leg("put", 490, "sell"),
            leg("call", 510, "sell", expiry=FEB),
            leg("call", 520, "buy", expiry=FEB),
        ],
        "options",
    ),
    "four calls": (
        [
            leg("call", 480, "buy"),
            leg("call", 490, "sell"),
            leg("call", 510, "sell"),
            leg("call", 520, "buy"),
        ],
        "options",
    ),
    "same contract twice": ([leg("call", 500, "buy"), leg("call", 500, "buy")], "options"),
    "five legs": (
        [
            leg("put", 470, "buy"),
            leg("put", 480, "buy"),
            leg("put", 490, "sell"),
            leg("call", 510, "sell"),
            leg("call", 520, "buy"),
        ],
        "options",
    ),
}


@pytest.mark.parametrize(("legs", "expected"), PATTERNS.values(), ids=PATTERNS.keys())
def test_detect_strategy(legs: list[OptionLeg], expected: str) -> None:
    assert detect_strategy(legs) == expected
    # The order the legs come in never matters.
    assert detect_strategy(list(reversed(legs))) == expected
