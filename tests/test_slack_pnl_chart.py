"""The /pnl chart: a real PNG of about 1000 by 500 px that any image reader opens, the same bytes
for the same P&L, and a clear "No fills in this period" when there is nothing to draw."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from matplotlib import image as mpimg

from slack_bot.charts.pnl import (
    EMPTY_TEXT,
    PnlSeries,
    dollars_tick,
    render_pnl_chart,
    series_from_api,
    title_of,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SINCE = datetime(2025, 11, 17, 5, 0, tzinfo=UTC)  # midnight in New York


def week_of_points(count: int = 8) -> list[dict[str, Any]]:
    points, realized = [], Decimal(0)
    for day in range(count):
        realized += Decimal(day * 37 - 90) + Decimal("0.25")
        points.append(
            {
                "at": (SINCE + timedelta(days=day, hours=16)).isoformat(),
                "realized_pnl": str(realized),
                "total_pnl": str(realized + Decimal(50 * day - 120)),
            }
        )
    return points


def pnl_body(points: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    body = {
        "portfolio": "alpha",
        "period": "week",
        "since": SINCE.isoformat().replace("+00:00", "Z"),
        "points": points,
        "realized_pnl": points[-1]["realized_pnl"] if points else "0",
        "unrealized_pnl": "230.00",
        "total_pnl": points[-1]["total_pnl"] if points else "0",
    }
    body.update(changes)
    return body


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which a PNG must start with."""
    assert png[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", png[16:24])


def assert_readable_png(png: bytes) -> None:
    width, height = png_size(png)
    assert 900 <= width <= 1200 and 400 <= height <= 600
    pixels = mpimg.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (height, width)


def test_a_week_of_pnl_is_a_readable_png_of_a_sensible_size() -> None:
    png = render_pnl_chart(series_from_api(pnl_body(week_of_points())))
    assert_readable_png(png)
    assert 10_000 <= len(png) <= 500_000


def test_the_same_pnl_gives_the_same_bytes_without_a_timestamp_or_version() -> None:
    body = pnl_body(week_of_points())
    first = render_pnl_chart(series_from_api(body))
    assert render_pnl_chart(series_from_api(body)) == first
    assert b"tIME" not in first and b"Matplotlib" not in first


def test_no_fills_in_the_period_still_gives_a_png_that_says_so() -> None:
    series = series_from_api(pnl_body([]))
    assert series.points == ()
    png = render_pnl_chart(series)
    assert_readable_png(png)
    # A chart with data is different from the "No fills" one.
    assert png != render_pnl_chart(series_from_api(pnl_body(week_of_points())))
    assert EMPTY_TEXT == "No fills in this period"


def test_a_single_point_and_a_long_history_both_draw() -> None:
    assert_readable_png(render_pnl_chart(series_from_api(pnl_body(week_of_points(1)))))
    long = series_from_api(pnl_body(week_of_points(400), period="all"))
    assert len(long.points) == 400
    png = render_pnl_chart(long)
    assert_readable_png(png)
    assert len(png) <= 500_000


def test_points_the_bot_cannot_read_are_left_out_and_the_rest_kept_oldest_first() -> None:
    good = week_of_points(3)
    body = pnl_body(
        [
            good[2],
            {"at": "yesterday", "realized_pnl": "1", "total_pnl": "1"},
            {"at": good[0]["at"], "realized_pnl": 1.5, "total_pnl": "1"},  # a float: refused
            good[0],
            "junk",
            good[1],
        ]
    )
    series = series_from_api(body)
    assert [p.at.isoformat() for p in series.points] == [p["at"] for p in good]
    assert series.points[0].realized == Decimal(good[0]["realized_pnl"])
    assert series_from_api({"points": "nope"}).points == ()


@pytest.mark.parametrize(
    ("value", "span", "expected"),
    [
        (1234.0, 5000, "$1,234"),
        (-1234.4, 5000, "-$1,234"),
        (0.0, 5000, "$0"),
        (-0.2, 5000, "$0"),
        (2.5, 6, "$2.50"),
        (-0.75, 6, "-$0.75"),
        (1_250_000.0, 2_000_000, "$1,250,000"),
    ],
)
def test_the_dollar_axis_reads_like_money(value: float, span: float, expected: str) -> None:
    assert dollars_tick(value, span) == expected


def test_titles_name_the_portfolio_or_the_desk_and_the_period_in_new_york_time() -> None:
    week = series_from_api(pnl_body([]))
    assert title_of(week) == "alpha — P&L, week since Nov 17, 2025"
    desk_day = PnlSeries(None, "day", datetime(2025, 11, 24, 5, 0, tzinfo=UTC), ())
    assert title_of(desk_day) == "Desk — P&L, Mon Nov 24, 2025"
    everything = series_from_api(pnl_body([], portfolio=None, period="all"))
    assert title_of(everything) == "Desk — P&L, all time"
    # "$" in a name is drawn as typed: read as a formula, this one would not even draw.
    assert_readable_png(render_pnl_chart(series_from_api(pnl_body([], portfolio=r"a$\q$"))))
