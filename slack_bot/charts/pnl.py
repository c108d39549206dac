"""The /pnl chart: realized and total P&L over time as a PNG, from `GET /api/v1/pnl`.

Pure: the OMS's answer in, PNG bytes out. Drawn with matplotlib's object API on the Agg
canvas (no display, no pyplot global state); the bytes depend only on the data (no timestamps
in the PNG's metadata), so the same P&L always gives the same file.
"""

from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from slack_bot import formatting

log = logging.getLogger(__name__)

WIDTH_PX, HEIGHT_PX, DPI = 1000, 500, 100
EMPTY_TEXT = "No fills in this period"
PERIOD_WORDS = {"week": "week", "month": "month", "all": "all time"}
REALIZED_COLOR = "#1f5fa8"
TOTAL_COLOR = "#e07b00"
# matplotlib is not thread-safe and bolt answers commands on several threads: one chart at a time.
_RENDER_LOCK = threading.Lock()


@dataclass(frozen=True)
class PnlPoint:
    at: datetime
    realized: Decimal
    total: Decimal


@dataclass(frozen=True)
class PnlSeries:
    """What the chart shows: whose P&L (None: the whole desk), over which period, the points
    oldest first, and the OMS's figures for the period as a whole (the legend shows them)."""

    portfolio: str | None
    period: str
    since: datetime | None
    points: tuple[PnlPoint, ...]
    realized_pnl: Decimal | None = None
    total_pnl: Decimal | None = None

    @property
    def subject(self) -> str:
        return self.portfolio or "Desk"


def series_from_api(body: dict[str, Any]) -> PnlSeries:
    """The chart's data from `GET /pnl`'s answer; a point the bot cannot read (no time, a
    value that is not a decimal) is left out and logged rather than drawn wrong."""
    points = []
    raw_points = body.get("points")
    for raw in raw_points if isinstance(raw_points, list) else []:
        at = formatting.parse_time(raw.get("at")) if isinstance(raw, dict) else None
        realized = formatting.to_decimal(raw.get("realized_pnl")) if at else None
        total = formatting.to_decimal(raw.get("total_pnl")) if at else None
        if at is None or realized is None or total is None:
            log.warning("pnl: left out a point the OMS sent that is not readable: %r", raw)
            continue
        points.append(PnlPoint(at, realized, total))
    portfolio = body.get("portfolio")
    return PnlSeries(
        portfolio=str(portfolio) if portfolio else None,
        period=str(body.get("period") or ""),
        since=formatting.parse_time(body.get("since")),
        points=tuple(sorted(points, key=lambda point: point.at)),
        realized_pnl=formatting.to_decimal(body.get("realized_pnl")),
        total_pnl=formatting.to_decimal(body.get("total_pnl")),
    )


def dollars_tick(value: float, span: float) -> str:
    """An axis label like `$1,234` or `-$1,234`; cents when the axis spans under $10."""
    places = 2 if span < 10 else 0
    text = f"{abs(value):,.{places}f}"
    sign = "-" if value < 0 and text.strip("0.,") else ""
    return f"{sign}${text}"


def title_of(series: PnlSeries) -> str:
    """`alpha — P&L, week since Nov 17, 2025`, `Desk — P&L, Mon Nov 24, 2025` (the day):
    the start on New York's clock."""
    words = PERIOD_WORDS.get(series.period, series.period)
    if series.since is None or series.period == "all":
        return f"{series.subject} — P&L, {words or 'over time'}"
    local = series.since.astimezone(formatting.MARKET_ZONE)
    day = f"{local:%b} {local.day}, {local:%Y}"
    if series.period == "day":
        return f"{series.subject} — P&L, {local:%a} {day}"
    return f"{series.subject} — P&L, {words} since {day}"


def render_pnl_chart(series: PnlSeries) -> bytes:
    """A WIDTH_PX by HEIGHT_PX PNG: realized and total P&L, a zero line, dollars on the y axis,
    New York dates and times on the x axis; EMPTY_TEXT when there are no points."""
    with _RENDER_LOCK:
        figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        # Portfolio names are typed by people: a "$" in one must not start a formula.
        axes.set_title(title_of(series), loc="left", fontsize=13, parse_math=False)
        if series.points:
            _draw_lines(axes, series)
        else:
            _draw_empty(axes)
        figure.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.14)
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
        return out.getvalue()


def _label(name: str, figure: Decimal | None) -> str:
    return f"{name} {formatting.signed_money(figure)}" if figure is not None else name


def _draw_lines(axes: Any, series: PnlSeries) -> None:
    points = series.points
    times = [point.at for point in points]
    # Floats only to place pixels: every figure shown as text comes from the Decimals.
    realized = [float(point.realized) for point in points]
    total = [float(point.total) for point in points]
    marker = "o" if len(points) <= 40 else None
    axes.axhline(0, color="#888888", linewidth=0.9, zorder=1)
    # Realized P&L moves only at fills: a step, not a slope between them.
    axes.plot(
        times,
        realized,
        drawstyle="steps-post",
        color=REALIZED_COLOR,
        linewidth=2,
        marker=marker,
        markersize=3,
        label=_label("Realized", series.realized_pnl),
        zorder=3,
    )
    axes.plot(
        times,
        total,
        color=TOTAL_COLOR,
        linewidth=2,
        marker=marker,
        markersize=3,
        label=_label("Total (realized + unrealized)", series.total_pnl),
        zorder=2,
    )
    if len(points) == 1:
        # One point gives no time range: an hour either side keeps the axis readable.
        axes.set_xlim(times[0] - timedelta(hours=1), times[0] + timedelta(hours=1))
    locator = mdates.AutoDateLocator(tz=formatting.MARKET_ZONE)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=formatting.MARKET_ZONE))
    axes.set_xlabel("US/Eastern time")
    low, high = axes.get_ylim()
    span = high - low
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: dollars_tick(value, span)))
    axes.grid(True, color="#e5e5e5", linewidth=0.8)
    legend = axes.legend(loc="upper left", frameon=False)
    for text in legend.get_texts():
        text.set_parse_math(False)


def _draw_empty(axes: Any) -> None:
    axes.set_xticks([])
    axes.set_yticks([])
    axes.text(
        0.5,
        0.5,
        EMPTY_TEXT,
        transform=axes.transAxes,
        ha="center",
        va="center",
        fontsize=16,
        color="#555555",
    )
