"""The gateway's portfolio history and stock bars (and positions' previous close), with real
alpaca-py against the simulator; a canned local broker only for replies the simulator never
sends (malformed ones)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

from oms_api.broker.gateway import BARS_MAX_PAGES, AlpacaGateway
from oms_api.broker.models import (
    Bar,
    BrokerBusy,
    BrokerRejected,
    BrokerUnavailable,
    PortfolioHistory,
)
from tests.conftest import T0, Sim

NY = ZoneInfo("America/New_York")
HISTORY_ROUTE = "GET /v2/account/portfolio/history"
BARS_ROUTE = "GET /v2/stocks/bars"


class FakeTime:
    """A monotonic clock and a sleep that moves it instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def make_gateway(sim: Sim, *, url: str | None = None, **options: Any) -> AlpacaGateway:
    fake_time = FakeTime()
    return AlpacaGateway(
        key_id=sim.key_id,
        secret_key=sim.secret_key,
        base_url=url or sim.url,
        data_url=url or sim.url,
        stream_url=sim.stream_url,
        timeout=options.pop("timeout", 2.0),
        monotonic=fake_time.monotonic,
        sleep=fake_time.sleep,
        **options,
    )


@pytest.fixture
def gateway(sim: Sim) -> AlpacaGateway:
    return make_gateway(sim)


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    """A New York wall-clock time in November 2026 (T0 is Wednesday the 18th, 10:00)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=NY)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hits(sim: Sim, route: str) -> int:
    return sim.control.counters().get(route, 0)


# ------------------------------------------------------------------------ portfolio history
def test_portfolio_history_comes_back_in_decimals_and_utc(sim, gateway):
    sim.control.configure(max_step_bps=0)
    sim.control.set_price("AAPL", "200")
    sim.trading.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    sim.control.advance(10 * 60)
    sim.control.set_price("AAPL", "210.55")

    found = gateway.get_portfolio_history("1D", "5Min")

    assert isinstance(found, PortfolioHistory)
    assert found.timeframe == "5Min"
    assert found.base_value == Decimal("100000")
    assert found.base_value_asof == date(2026, 11, 17)
    assert [p.at for p in found.points] == [
        T0,
        T0 + timedelta(minutes=5),
        T0 + timedelta(minutes=10),
    ]
    assert all(p.at.tzinfo is UTC for p in found.points)
    last = found.points[-1]
    assert last.equity == Decimal("100105.5") == gateway.get_account().equity
    assert last.profit_loss == Decimal("105.5")
    assert last.profit_loss_pct == Decimal("0.001055")
    assert all(isinstance(p.equity, Decimal) for p in found.points)
    assert gateway.request_count == 2  # one for the history, one for the account


def test_portfolio_history_sends_end_and_pnl_reset(sim, gateway):
    sim.control.configure(max_step_bps=0)
    sim.control.set_market("calendar")
    sim.control.seed_positions([{"symbol": "MSFT", "qty": "10", "avg_entry_price": "400"}])
    sim.control.advance(24 * 3600)  # Thursday 10:00
    sim.control.set_price("MSFT", "430")

    until_wednesday_noon = gateway.get_portfolio_history("1D", "1H", end=ny(18, 12))
    no_reset = gateway.get_portfolio_history("2D", "1H", pnl_reset="no_reset")
    extended = gateway.get_portfolio_history("1D", "1H", intraday_reporting="extended_hours")

    assert [p.at.astimezone(NY) for p in until_wednesday_noon.points] == [
        ny(18, 10),
        ny(18, 11),
        ny(18, 12),
    ]
    assert no_reset.points[-1].profit_loss == no_reset.points[-1].equity - no_reset.base_value
    assert extended.points[0].at.astimezone(NY) == ny(19, 4)


def test_the_whole_history_and_daily_points(sim, gateway):
    sim.control.advance(2 * 24 * 3600)

    found = gateway.get_portfolio_history("all", "1D")

    assert [p.at.astimezone(NY) for p in found.points] == [ny(18, 0), ny(19, 0), ny(20, 0)]
    assert found.base_value == found.points[0].equity and found.base_value_asof is None


def test_a_bad_history_parameter_is_rejected(sim, gateway):
    with pytest.raises(BrokerRejected) as refused:
        gateway.get_portfolio_history("1D", "2H")
    assert refused.value.error.http_status == 422
    assert "timeframe" in refused.value.error.message


# ------------------------------------------------------------------------ bars
def test_bars_follow_every_page_in_decimals(sim, gateway):
    sim.control.advance(7 * 24 * 3600)  # 2,017 five-minute bars a symbol: 10,085 for five
    symbols = ["AAPL", "MSFT", "NVDA", "SPY", "QQQ"]

    found = gateway.get_stock_bars(symbols, "5Min", T0)

    assert sorted(found) == sorted(symbols)
    assert [len(found[s]) for s in symbols] == [2017] * 5
    assert hits(sim, BARS_ROUTE) == 2  # a page of 10,000, then the rest
    assert gateway.request_count == 2
    first, last = found["AAPL"][0], found["AAPL"][-1]
    assert isinstance(first, Bar) and first.at == T0 and first.at.tzinfo is UTC
    assert last.at == T0 + timedelta(days=7)
    assert all(isinstance(v, Decimal) for v in (last.open, last.high, last.low, last.close))
    assert last.close == gateway.get_quote("AAPL").price
    assert last.volume > 0


def test_bars_between_start_and_end_for_each_symbol_asked_once(sim, gateway):
    sim.control.advance(30 * 60)

    found = gateway.get_stock_bars(["msft", " aapl", "AAPL"], "15Min", T0, ny(18, 10, 15))

    assert sorted(found) == ["AAPL", "MSFT"]
    assert [b.at for b in found["MSFT"]] == [T0, T0 + timedelta(minutes=15)]
    assert gateway.get_stock_bars([], "1Day", T0) == {}
    assert hits(sim, BARS_ROUTE) == 1


@pytest.mark.parametrize("timeframe", ["1Sec", "90Min", "2Day", "hourly", ""])
def test_an_unknown_timeframe_is_refused_before_anything_is_sent(sim, gateway, timeframe):
    with pytest.raises(ValueError, match=r"timeframe|[Aa]mount|units"):
        gateway.get_stock_bars(["AAPL"], timeframe, T0)
    assert gateway.request_count == 0


def test_an_unknown_symbol_is_rejected(sim, gateway):
    with pytest.raises(BrokerRejected) as refused:
        gateway.get_stock_bars(["AAPL", "ZZZZ"], "1Day", T0)
    assert refused.value.error.http_status == 422
    assert "ZZZZ" in refused.value.error.message


# ------------------------------------------------------------------------ failures
def test_an_unreachable_broker_is_unavailable(sim):
    gateway = make_gateway(sim, url=f"http://127.0.0.1:{closed_port()}")

    with pytest.raises(BrokerUnavailable) as history:
        gateway.get_portfolio_history("1D", "5Min")
    with pytest.raises(BrokerUnavailable) as bars:
        gateway.get_stock_bars(["AAPL"], "1Min", T0)

    assert history.value.error.http_status is None
    assert "could not connect" in history.value.error.message
    assert "could not connect" in bars.value.error.message


@pytest.mark.parametrize(("route", "status"), [(HISTORY_ROUTE, 503), (BARS_ROUTE, 429)])
def test_broker_errors_are_unavailable_as_on_other_reads(sim, gateway, route, status):
    sim.control.add_fault(route, "status", status=status)

    with pytest.raises(BrokerUnavailable) as outage:
        if route == HISTORY_ROUTE:
            gateway.get_portfolio_history("1D", "5Min")
        else:
            gateway.get_stock_bars(["AAPL"], "1Min", T0)

    assert outage.value.error.http_status == status
    assert hits(sim, route) == 1  # no retries here: the caller decides


def test_calls_wait_their_turn_in_the_request_budget(sim):
    gateway = make_gateway(sim, requests_per_minute=1, burst=2, max_rate_wait=0)

    gateway.get_portfolio_history("1D", "5Min")
    with pytest.raises(BrokerBusy):
        gateway.get_stock_bars(["AAPL"], "1Min", T0)

    assert hits(sim, HISTORY_ROUTE) == 1 and hits(sim, BARS_ROUTE) == 0


# A local stand-in for replies the simulator never gives.
class CannedBroker:
    """Answers every GET with `answer(path, query)` -> (status, body)."""

    def __init__(self, answer: Callable[[str, dict[str, list[str]]], tuple[int, bytes]]) -> None:
        self.paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(handler) -> None:
                url = urlparse(handler.path)
                self.paths.append(url.path)
                status, body = answer(url.path, parse_qs(url.query))
                handler.send_response(status)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def canned() -> Iterator[Callable[..., CannedBroker]]:
    started: list[CannedBroker] = []

    def start(answer: Callable[[str, dict[str, list[str]]], tuple[int, bytes]]) -> CannedBroker:
        broker = CannedBroker(answer)
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.close()


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


GOOD_HISTORY = {
    "timestamp": [1795014000, 1795014300],
    "equity": [100000.0, 100012.35],
    "profit_loss": [0.0, 12.35],
    "profit_loss_pct": [0.0, 0.0001235],
    "base_value": 100000.0,
    "base_value_asof": "2026-11-17",
    "timeframe": "5Min",
}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        _json([1, 2]),
        _json({**GOOD_HISTORY, "equity": [100000.0]}),  # series of different lengths
        _json({**GOOD_HISTORY, "timestamp": ["yesterday", 1]}),
        _json({**GOOD_HISTORY, "timestamp": [10**20, 1]}),
        _json({**GOOD_HISTORY, "equity": ["lots", 1.0]}),
        _json({**GOOD_HISTORY, "profit_loss": [True, 1.0]}),
        _json({**GOOD_HISTORY, "timeframe": None}),
        _json({**GOOD_HISTORY, "equity": {"a": 1}}),
    ],
)
def test_a_malformed_history_reply_is_unavailable_not_a_crash(sim, canned, body):
    broker = canned(lambda path, query: (200, body))
    gateway = make_gateway(sim, url=broker.url)

    with pytest.raises(BrokerUnavailable) as unreadable:
        gateway.get_portfolio_history("1D", "5Min")

    # Not JSON at all is alpaca-py's failure ("broker request failed"), the rest the gateway's.
    assert unreadable.value.error.http_status is None
    assert "unreadable" in unreadable.value.error.message or body == b"not json"
    assert broker.paths == ["/v2/account/portfolio/history"]


def test_alpacas_nulls_and_odd_base_date_are_read(sim, canned):
    body = {
        **GOOD_HISTORY,
        "timestamp": [1795014000, 1795014300, 1795014600],
        "equity": [100000.0, None, 100012.35],
        "profit_loss": [0.0, None, 12.35],
        "profit_loss_pct": [0.0, None, None],
        "base_value_asof": "0000-00-00",  # as Alpaca once sent it
    }
    broker = canned(lambda path, query: (200, _json(body)))

    found = make_gateway(sim, url=broker.url).get_portfolio_history("1D", "5Min")

    assert [p.equity for p in found.points] == [Decimal("100000.0"), Decimal("100012.35")]
    assert found.points[-1].profit_loss_pct is None
    assert found.base_value_asof is None and found.base_value == Decimal("100000.0")


def _bar(t: Any = "2026-11-18T15:00:00Z", **fields: Any) -> dict[str, Any]:
    return {"t": t, "o": 1.5, "h": 2, "l": 1, "c": 1.75, "v": 100, "n": 1, "vw": 1.6, **fields}


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        _json({"bars": [_bar()]}),  # a list where symbols should be
        _json({"bars": {"AAPL": _bar()}}),
        _json({"bars": {"AAPL": [_bar(t="yesterday")]}}),
        _json({"bars": {"AAPL": [_bar(t="2026-11-18T15:00:00")]}}),  # no zone
        _json({"bars": {"AAPL": [_bar(c="NaN")]}}),
        _json({"bars": {"AAPL": [_bar(o=None)]}}),
        _json({"bars": {"AAPL": ["bar"]}}),
        _json({"bars": {"AAPL": [_bar()]}, "next_page_token": 7}),
    ],
)
def test_a_malformed_bars_reply_is_unavailable_not_a_crash(sim, canned, body):
    broker = canned(lambda path, query: (200, body))

    with pytest.raises(BrokerUnavailable) as unreadable:
        make_gateway(sim, url=broker.url).get_stock_bars(["AAPL"], "1Min", T0)

    assert "unreadable" in unreadable.value.error.message


def test_a_broker_that_repeats_or_never_ends_its_pages_is_unavailable(sim, canned):
    repeating = canned(lambda path, query: (200, _json({"bars": {}, "next_page_token": "same"})))
    with pytest.raises(BrokerUnavailable, match="twice"):
        make_gateway(sim, url=repeating.url).get_stock_bars(["AAPL"], "1Min", T0)
    assert len(repeating.paths) == 2

    pages = iter(range(1000))
    endless = canned(
        lambda path, query: (200, _json({"bars": {}, "next_page_token": f"p{next(pages)}"}))
    )
    with pytest.raises(BrokerUnavailable, match="pages"):
        make_gateway(sim, url=endless.url).get_stock_bars(["AAPL"], "1Min", T0)
    assert len(endless.paths) == BARS_MAX_PAGES


def test_each_page_asks_for_the_next_token(sim, canned):
    tokens_sent: list[str | None] = []

    def answer(path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        token = query.get("page_token", [None])[0]
        tokens_sent.append(token)
        following = {None: "p2", "p2": None}[token]
        bar = _bar(t="2026-11-18T15:00:00Z" if token is None else "2026-11-18T15:01:00Z")
        return 200, _json({"bars": {"AAPL": [bar], "TSLA": [bar]}, "next_page_token": following})

    broker = canned(answer)
    found = make_gateway(sim, url=broker.url).get_stock_bars(["AAPL"], "1Min", T0)

    assert tokens_sent == [None, "p2"]
    assert [b.at for b in found["AAPL"]] == [T0, T0 + timedelta(minutes=1)]
    assert list(found) == ["AAPL"]  # a symbol not asked for is left out
    assert found["AAPL"][0].open == Decimal("1.5")


# ------------------------------------------------------------------------ positions
def test_positions_carry_the_previous_close(sim, gateway):
    sim.control.seed_positions([{"symbol": "MSFT", "qty": "3", "avg_entry_price": "400"}])

    [position] = gateway.get_positions()

    expected = Decimal(sim.trading.get_open_position("MSFT").lastday_price)
    assert position.lastday_price == expected and isinstance(position.lastday_price, Decimal)
