"""The simulator's market clock and trading calendar: NYSE holidays and early closes in any year,
`GET /v2/clock` self-consistent in every market mode, and `GET /v2/calendar`, through the real
alpaca-py TradingClient (raw httpx only for exact bodies and bad input)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import httpx
import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.models import Clock
from alpaca.trading.requests import GetCalendarRequest, LimitOrderRequest, MarketOrderRequest

from tests.conftest import T0, Sim

NY = ZoneInfo("America/New_York")


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY)


@pytest.fixture(autouse=True)
def frozen_prices(sim: Sim) -> None:
    sim.control.configure(max_step_bps=0)


@pytest.fixture
def http(sim: Sim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers=sim.headers, timeout=30) as client:
        yield client


def clock_at(sim: Sim, when: datetime, mode: str = "calendar") -> Clock:
    """The clock alpaca-py reads at `when` (New York), with the market in `mode`."""
    sim.control.advance((when - T0).total_seconds())
    sim.control.set_market(mode)
    clock = sim.trading.get_clock()
    assert clock.timestamp == when
    return clock


# ------------------------------------------------------------------------- the clock
@pytest.mark.parametrize(
    ("when", "is_open", "next_open", "next_close"),
    [
        # Day after Thanksgiving 2026: the session closes at 13:00.
        (ny(2026, 11, 27, 10), True, ny(2026, 11, 30, 9, 30), ny(2026, 11, 27, 13)),
        (ny(2026, 11, 27, 13), False, ny(2026, 11, 30, 9, 30), ny(2026, 11, 30, 16)),
        # Christmas Eve 2026 closes at 13:00; Christmas Day is a Friday.
        (ny(2026, 12, 24, 12), True, ny(2026, 12, 28, 9, 30), ny(2026, 12, 24, 13)),
        # The evening before Good Friday 2027: next session is Monday.
        (ny(2027, 3, 25, 16, 30), False, ny(2027, 3, 29, 9, 30), ny(2027, 3, 29, 16)),
        # Juneteenth 2027 is a Saturday, observed on Friday the 18th.
        (ny(2027, 6, 17, 17), False, ny(2027, 6, 21, 9, 30), ny(2027, 6, 21, 16)),
        # Independence Day 2027 is a Sunday, observed on Monday the 5th.
        (ny(2027, 7, 2, 16, 30), False, ny(2027, 7, 6, 9, 30), ny(2027, 7, 6, 16)),
        # The day after Thanksgiving 2027, before the open.
        (ny(2027, 11, 26, 9), False, ny(2027, 11, 26, 9, 30), ny(2027, 11, 26, 13)),
        # New Year's Day 2028 is a Saturday and NYSE does not close the Friday before.
        (ny(2027, 12, 31, 10), True, ny(2028, 1, 3, 9, 30), ny(2027, 12, 31, 16)),
        # 3 July 2030 closes early; the 4th is a Thursday holiday.
        (ny(2030, 7, 3, 10), True, ny(2030, 7, 5, 9, 30), ny(2030, 7, 3, 13)),
        (ny(2030, 11, 29, 12), True, ny(2030, 12, 2, 9, 30), ny(2030, 11, 29, 13)),
        # Good Friday 2035 is 23 March.
        (ny(2035, 3, 22, 17), False, ny(2035, 3, 26, 9, 30), ny(2035, 3, 26, 16)),
        (ny(2035, 11, 23, 10), True, ny(2035, 11, 26, 9, 30), ny(2035, 11, 23, 13)),
        (ny(2035, 12, 24, 10), True, ny(2035, 12, 26, 9, 30), ny(2035, 12, 24, 13)),
    ],
    ids=[
        "2026-black-friday",
        "2026-black-friday-after-early-close",
        "2026-christmas-eve",
        "2027-good-friday-eve",
        "2027-juneteenth-observed",
        "2027-independence-observed",
        "2027-black-friday-pre-open",
        "2027-new-years-eve-open",
        "2030-july-3",
        "2030-black-friday",
        "2035-good-friday-eve",
        "2035-black-friday",
        "2035-christmas-eve",
    ],
)
def test_calendar_clock_knows_holidays_and_early_closes_in_any_year(
    sim, when, is_open, next_open, next_close
):
    clock = clock_at(sim, when)

    assert clock.is_open is is_open
    assert clock.next_open == next_open
    assert clock.next_close == next_close


WEEK = {
    "saturday": ny(2026, 11, 21, 12),
    "thanksgiving": ny(2026, 11, 26, 11),
    "pre-market": ny(2026, 11, 19, 8),
    "mid-session": ny(2026, 11, 19, 11),
    "at-the-close": ny(2026, 11, 19, 16),
    "friday-night": ny(2026, 11, 20, 22),
    "after-an-early-close": ny(2026, 11, 27, 14),
}


@pytest.mark.parametrize("mode", ["open", "closed", "calendar"])
@pytest.mark.parametrize("when", WEEK.values(), ids=WEEK.keys())
def test_clock_is_self_consistent_in_every_market_mode_at_any_time(sim, mode, when):
    clock = clock_at(sim, when, mode)

    if mode != "calendar":
        assert clock.is_open is (mode == "open")
    if clock.is_open:
        assert clock.timestamp < clock.next_close < clock.next_open
    else:
        assert clock.timestamp < clock.next_open < clock.next_close


@pytest.mark.parametrize(
    ("mode", "when", "next_open", "next_close"),
    [
        # Forced open on a weekend: in the session that closes next, and the open after it.
        ("open", ny(2026, 11, 21, 12), ny(2026, 11, 24, 9, 30), ny(2026, 11, 23, 16)),
        # On a holiday, the next close is an early one.
        ("open", ny(2026, 11, 26, 11), ny(2026, 11, 30, 9, 30), ny(2026, 11, 27, 13)),
        # Mid-session, forced open answers as the calendar does.
        ("open", ny(2026, 11, 19, 11), ny(2026, 11, 20, 9, 30), ny(2026, 11, 19, 16)),
        # Forced closed mid-session: the next session is tomorrow's.
        ("closed", ny(2026, 11, 19, 11), ny(2026, 11, 20, 9, 30), ny(2026, 11, 20, 16)),
        ("closed", ny(2026, 11, 21, 12), ny(2026, 11, 23, 9, 30), ny(2026, 11, 23, 16)),
    ],
    ids=["open-saturday", "open-holiday", "open-mid-session", "closed-mid-session", "closed-sat"],
)
def test_forced_market_modes_report_the_sessions_around_them(
    sim, mode, when, next_open, next_close
):
    clock = clock_at(sim, when, mode)

    assert (clock.next_open, clock.next_close) == (next_open, next_close)


# ------------------------------------------------------------ early closes in the market
def _limit_buy(sim: Sim, tif: TimeInForce) -> str:
    order = sim.trading.submit_order(
        LimitOrderRequest(
            symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=tif, limit_price=50
        )
    )
    return str(order.id)


def test_day_orders_expire_at_an_early_close_while_gtc_orders_rest(sim):
    clock_at(sim, ny(2026, 11, 27, 10))
    day, gtc = _limit_buy(sim, TimeInForce.DAY), _limit_buy(sim, TimeInForce.GTC)

    sim.control.advance(3 * 3600 - 1)  # 12:59:59
    assert sim.trading.get_order_by_id(day).status == OrderStatus.NEW
    assert sim.trading.get_clock().is_open

    sim.control.advance(2)  # 13:00:01, after the early close
    assert sim.trading.get_order_by_id(day).status == OrderStatus.EXPIRED
    assert sim.trading.get_order_by_id(gtc).status == OrderStatus.NEW
    assert not sim.trading.get_clock().is_open


def test_closing_auction_orders_stop_ten_minutes_before_an_early_close_and_fill_at_it(sim):
    clock_at(sim, ny(2026, 11, 27, 12, 49))
    sim.control.set_price("AAPL", "190")
    on_close = sim.trading.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.CLS)
    )

    sim.control.advance(120)  # 12:51
    with pytest.raises(APIError) as late:
        sim.trading.submit_order(
            MarketOrderRequest(
                symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.CLS
            )
        )
    assert late.value.status_code == 422
    assert sim.trading.get_order_by_id(on_close.id).status == OrderStatus.NEW

    sim.control.advance(9 * 60)  # 13:00, the close
    filled = sim.trading.get_order_by_id(on_close.id)
    assert filled.status == OrderStatus.FILLED
    assert filled.filled_at == ny(2026, 11, 27, 13)


# ---------------------------------------------------------------------- the calendar
def test_calendar_lists_trading_days_with_alpacas_fields(sim, http):
    days = sim.trading.get_calendar(
        GetCalendarRequest(start=date(2026, 11, 25), end=date(2026, 12, 1))
    )

    assert [day.date for day in days] == [
        date(2026, 11, 25),
        date(2026, 11, 27),
        date(2026, 11, 30),
        date(2026, 12, 1),
    ]
    assert [(day.open.time(), day.close.time()) for day in days] == [
        (time(9, 30), time(16)),
        (time(9, 30), time(13)),
        (time(9, 30), time(16)),
        (time(9, 30), time(16)),
    ]
    raw = http.get("/v2/calendar", params={"start": "2026-11-25", "end": "2026-11-27"})
    assert raw.status_code == 200
    assert raw.json() == [
        {
            "date": "2026-11-25",
            "open": "09:30",
            "close": "16:00",
            "session_open": "0400",
            "session_close": "2000",
            "settlement_date": "2026-11-27",  # T+1, over Thanksgiving
        },
        {
            "date": "2026-11-27",
            "open": "09:30",
            "close": "13:00",
            "session_open": "0400",
            "session_close": "1700",  # after-hours end early too
            "settlement_date": "2026-11-30",
        },
    ]


YEARS = {
    2027: {
        "closed": [(3, 26), (6, 18), (7, 5), (11, 25), (12, 24)],
        "early": [(11, 26)],
        "full": [(6, 17), (7, 2), (12, 23), (12, 31)],
    },
    2030: {
        "closed": [(1, 1), (4, 19), (6, 19), (7, 4), (11, 28), (12, 25)],
        "early": [(7, 3), (11, 29), (12, 24)],
        "full": [(4, 18), (7, 5), (12, 26)],
    },
    2035: {
        "closed": [(3, 23), (6, 19), (7, 4), (11, 22), (12, 25)],
        "early": [(7, 3), (11, 23), (12, 24)],
        "full": [(3, 22), (6, 18), (12, 26)],
    },
}


@pytest.mark.parametrize("year", YEARS)
def test_calendar_knows_each_years_holidays_and_early_closes(sim, year):
    days = sim.trading.get_calendar(
        GetCalendarRequest(start=date(year, 1, 1), end=date(year, 12, 31))
    )
    closes = {day.date: day.close.time() for day in days}
    expected = YEARS[year]

    assert all(day.open.time() == time(9, 30) for day in days)
    assert [d for d in closes if d.weekday() >= 5] == []
    for month, day in expected["closed"]:
        assert date(year, month, day) not in closes
    for month, day in expected["early"]:
        assert closes[date(year, month, day)] == time(13)
    for month, day in expected["full"]:
        assert closes[date(year, month, day)] == time(16)
    assert sorted(d for d, close in closes.items() if close != time(16)) == [
        date(year, month, day) for month, day in expected["early"]
    ]


def test_a_trade_settles_on_the_next_day_banks_and_the_exchange_are_both_open(http):
    days = http.get("/v2/calendar", params={"start": "2026-10-09", "end": "2026-11-10"}).json()
    settles = {day["date"]: day["settlement_date"] for day in days}

    assert settles["2026-10-09"] == "2026-10-13"  # Columbus Day: the exchange trades, banks don't
    assert settles["2026-10-12"] == "2026-10-13"
    assert settles["2026-11-10"] == "2026-11-12"  # Veterans Day


def test_calendar_by_settlement_date(http):
    days = http.get(
        "/v2/calendar",
        params={"start": "2026-11-30", "end": "2026-11-30", "date_type": "SETTLEMENT"},
    ).json()

    assert [(day["date"], day["settlement_date"]) for day in days] == [("2026-11-27", "2026-11-30")]


def test_calendar_without_dates_spans_what_alpaca_serves(http):
    days = http.get("/v2/calendar").json()

    assert days[0]["date"] == "1970-01-02"
    assert days[-1]["date"] == "2029-12-31"


def test_calendar_accepts_rfc3339_times_and_an_empty_range(http):
    timed = http.get(
        "/v2/calendar",
        params={"start": "2026-11-27T00:00:00-05:00", "end": "2026-11-27T23:59:59Z"},
    ).json()
    assert [day["date"] for day in timed] == ["2026-11-27"]
    assert (
        http.get("/v2/calendar", params={"start": "2026-12-01", "end": "2026-11-01"}).json() == []
    )


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"start": "tomorrow"}, "invalid start"),
        ({"end": "2026-13-01"}, "invalid end"),
        ({"date_type": "CALENDAR"}, "invalid date_type"),
    ],
)
def test_bad_calendar_queries_are_refused_with_alpacas_error(http, params, fragment):
    reply = http.get("/v2/calendar", params=params)

    assert reply.status_code == 422
    body = reply.json()
    assert body["code"] == 42210000
    assert fragment in body["message"]
