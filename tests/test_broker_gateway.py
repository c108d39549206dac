"""The Alpaca gateway and the trade_updates stream, with real alpaca-py against the simulator."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from conftest import T0

from oms_api.broker.gateway import AlpacaGateway
from oms_api.broker.models import (
    BrokerRejected,
    BrokerUnavailable,
    CancelOutcome,
    OrderSubmission,
    Outcome,
    TradeEvent,
)
from oms_api.broker.stream import TradeUpdatesStream, trade_event_from_message
from tests.waiting import wait_until

POST_ORDERS = "POST /v2/orders"


class FakeTime:
    """A monotonic clock and a sleep that records the wait and moves the clock instead."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_gateway(
    sim,
    fake_time: FakeTime,
    *,
    timeout: float = 2.0,
    requests_per_minute: int = 180,
    base_url: str | None = None,
    secret_key: str | None = None,
) -> AlpacaGateway:
    return AlpacaGateway(
        key_id=sim.key_id,
        secret_key=secret_key or sim.secret_key,
        base_url=base_url or sim.url,
        data_url=base_url or sim.url,
        stream_url=sim.stream_url,
        timeout=timeout,
        requests_per_minute=requests_per_minute,
        monotonic=fake_time.monotonic,
        sleep=fake_time.sleep,
    )


@pytest.fixture
def gateway(sim, fake_time: FakeTime) -> AlpacaGateway:
    return make_gateway(sim, fake_time)


def coid() -> str:
    return f"gw-{uuid.uuid4().hex[:20]}"


def market(symbol: str = "AAPL", qty: str = "10", side: str = "buy", **extra) -> OrderSubmission:
    return OrderSubmission(
        client_order_id=extra.pop("client_order_id", coid()),
        symbol=symbol,
        side=side,
        order_type="market",
        time_in_force="day",
        qty=Decimal(qty),
        **extra,
    )


def resting_limit(symbol: str = "AAPL", qty: str = "5") -> OrderSubmission:
    """A buy limit far below the market: it rests as `new`."""
    return OrderSubmission(
        client_order_id=coid(),
        symbol=symbol,
        side="buy",
        order_type="limit",
        time_in_force="day",
        qty=Decimal(qty),
        limit_price=Decimal("50.25"),
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def order_posts(sim) -> int:
    return sim.control.counters().get(POST_ORDERS, 0)


# ------------------------------------------------------------------------------ submit
def test_market_order_is_accepted_with_decimal_fields(sim, gateway):
    sim.control.configure(max_step_bps=0)
    sim.control.set_price("AAPL", "190.25")
    submission = market(qty="3")

    result = gateway.submit_order(submission)

    assert result.outcome is Outcome.ACCEPTED
    order = result.order
    assert order.client_order_id == submission.client_order_id
    assert (order.symbol, order.side, order.order_type, order.time_in_force) == (
        "AAPL",
        "buy",
        "market",
        "day",
    )
    assert order.qty == Decimal("3") and isinstance(order.qty, Decimal)
    assert isinstance(order.filled_qty, Decimal)
    assert order.order_class == "simple"
    assert order.submitted_at is not None and order.submitted_at.tzinfo is not None
    assert order.raw["id"] == order.id
    # The broker really holds it, filled at the set price.
    fetched = gateway.get_order(order.id)
    assert fetched.status == "filled"
    assert fetched.filled_qty == Decimal("3")
    assert fetched.filled_avg_price == Decimal("190.25")


def test_limit_bracket_order_goes_out_with_its_legs(sim, gateway):
    sim.control.configure(max_step_bps=0)
    sim.control.set_price("AAPL", "190")
    submission = OrderSubmission(
        client_order_id=coid(),
        symbol="AAPL",
        side="buy",
        order_type="limit",
        time_in_force="gtc",
        qty=Decimal("2"),
        limit_price=Decimal("150.10"),
        take_profit_limit_price=Decimal("210.50"),
        stop_loss_stop_price=Decimal("140.25"),
    )

    result = gateway.submit_order(submission)

    assert result.outcome is Outcome.ACCEPTED, result.error
    order = result.order
    assert order.order_class == "bracket"
    assert order.limit_price == Decimal("150.10")
    legs = {leg.order_type: leg for leg in order.legs}
    assert legs["limit"].limit_price == Decimal("210.50")
    assert legs["stop"].stop_price == Decimal("140.25")
    assert all(leg.status == "held" for leg in order.legs)


def test_unknown_symbol_is_rejected_422(sim, gateway):
    result = gateway.submit_order(market("ZZZZQ"))
    assert result.outcome is Outcome.REJECTED
    assert (result.error.http_status, result.error.code) == (422, 42210000)
    assert "ZZZZQ" in result.error.message


def test_insufficient_buying_power_is_rejected_403(sim, gateway):
    sim.control.set_cash("100")
    result = gateway.submit_order(market(qty="10"))
    assert result.outcome is Outcome.REJECTED
    assert (result.error.http_status, result.error.code) == (403, 40310000)
    assert "buying power" in result.error.message
    assert gateway.list_orders() == []


def test_duplicate_client_order_id_adopts_the_order_the_broker_already_has(sim, gateway):
    submission = resting_limit()
    first = gateway.submit_order(submission)
    second = gateway.submit_order(submission)

    assert first.outcome is Outcome.ACCEPTED
    assert second.outcome is Outcome.ACCEPTED
    assert second.order.id == first.order.id
    assert len(sim.trading.get_orders()) == 1
    assert order_posts(sim) == 2


@pytest.mark.parametrize("status", [429, 500, 503, 504])
def test_error_status_on_submit_is_unknown_after_exactly_one_post(sim, gateway, status):
    # Without the gateway's fix alpaca-py would retry 429/504 three times, 3 s apart.
    sim.control.add_fault(POST_ORDERS, "status", status=status)
    started = time.monotonic()

    result = gateway.submit_order(market())

    assert result.outcome is Outcome.UNKNOWN
    assert result.error.http_status == status
    assert result.error.message  # 503/504 bodies have no code: still a readable message
    assert order_posts(sim) == 1
    assert gateway.list_orders() == []
    assert time.monotonic() - started < 1.5


def test_dropped_reply_is_unknown_but_the_order_exists(sim, gateway):
    sim.control.add_fault(POST_ORDERS, "drop_reply")
    submission = market(qty="2")

    result = gateway.submit_order(submission)

    assert result.outcome is Outcome.UNKNOWN
    assert order_posts(sim) == 1
    found = gateway.get_order_by_client_id(submission.client_order_id)
    assert found is not None and found.qty == Decimal("2")


def test_hung_reply_times_out_as_unknown(sim, fake_time):
    gateway = make_gateway(sim, fake_time, timeout=0.3)
    sim.control.add_fault(POST_ORDERS, "hang_reply", hold_seconds=2)
    submission = market()
    started = time.monotonic()

    result = gateway.submit_order(submission)

    assert result.outcome is Outcome.UNKNOWN
    assert "0.3" in result.error.message
    assert time.monotonic() - started < 1.5
    assert gateway.get_order_by_client_id(submission.client_order_id) is not None


def test_connection_refused_is_not_sent(sim, fake_time):
    gateway = make_gateway(sim, fake_time, base_url=f"http://127.0.0.1:{closed_port()}")
    result = gateway.submit_order(market())
    assert result.outcome is Outcome.NOT_SENT
    assert result.error.http_status is None
    with pytest.raises(BrokerUnavailable):
        gateway.get_account()
    assert gateway.ping() is False


def test_an_order_that_cannot_be_built_is_not_sent(sim, gateway):
    bad = OrderSubmission(
        client_order_id=coid(), symbol="AAPL", side="buy", order_type="limit",
        time_in_force="day", qty=Decimal("1"),
    )  # fmt: skip
    result = gateway.submit_order(bad)
    assert result.outcome is Outcome.NOT_SENT
    assert gateway.request_count == 0


def test_wrong_keys_are_refused_without_revealing_them(sim, fake_time, caplog):
    secret = "wrong-secret-0123456789"
    gateway = make_gateway(sim, fake_time, secret_key=secret)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(BrokerRejected) as refused:
        gateway.get_account()
    result = gateway.submit_order(market())

    assert "API keys" in str(refused.value)
    assert refused.value.error.http_status == 403
    assert result.outcome is Outcome.REJECTED and "API keys" in result.error.message
    assert gateway.ping() is False
    for text in (str(refused.value), result.error.message, repr(gateway), caplog.text):
        assert secret not in text and sim.key_id not in text


# ------------------------------------------------------------------------------ cancel
def test_cancel_outcomes(sim, gateway):
    resting = gateway.submit_order(resting_limit()).order
    filled = gateway.submit_order(market(qty="1")).order

    assert gateway.cancel_order(resting.id) is CancelOutcome.REQUESTED
    assert gateway.get_order(resting.id).status == "canceled"
    assert gateway.cancel_order(filled.id) is CancelOutcome.NOT_CANCELABLE
    assert gateway.cancel_order(str(uuid.uuid4())) is CancelOutcome.NOT_FOUND


def test_cancel_during_an_outage_is_unknown(sim, gateway):
    resting = gateway.submit_order(resting_limit()).order
    sim.control.add_fault("DELETE /v2/orders/{order_id}", "status", status=503)
    assert gateway.cancel_order(resting.id) is CancelOutcome.UNKNOWN
    assert gateway.get_order(resting.id).status == "new"


# ------------------------------------------------------------------------------ reads
def test_account_positions_and_missing_position(sim, gateway):
    sim.control.configure(max_step_bps=0)
    sim.control.set_cash("50000.25")
    sim.control.seed_positions([{"symbol": "MSFT", "qty": "4", "avg_entry_price": "400.10"}])
    sim.control.set_price("MSFT", "410.35")

    account = gateway.get_account()
    assert account.cash == Decimal("50000.25")
    assert account.equity == Decimal("50000.25") + 4 * Decimal("410.35")
    assert isinstance(account.buying_power, Decimal) and account.currency == "USD"

    [position] = gateway.get_positions()
    assert (position.symbol, position.qty, position.side) == ("MSFT", Decimal("4"), "long")
    assert position.avg_entry_price == Decimal("400.10")
    assert position.current_price == Decimal("410.35")
    assert position.market_value == Decimal("1641.40")
    assert gateway.get_position("msft") == position
    assert gateway.get_position("AAPL") is None


def test_order_lookups_return_none_when_missing(sim, gateway):
    assert gateway.get_order_by_client_id("never-sent") is None
    assert gateway.get_order(str(uuid.uuid4())) is None
    assert gateway.get_order("not-a-uuid") is None


def test_clock_and_quote(sim, gateway, fake_time):
    sim.control.configure(max_step_bps=0)
    sim.control.set_price("AAPL", "187.42")

    clock = gateway.get_clock()
    assert clock.is_open and clock.timestamp == T0
    quote = gateway.get_quote("aapl")
    assert quote.symbol == "AAPL"
    assert quote.price == Decimal("187.42")
    assert quote.bid < quote.price < quote.ask
    assert isinstance(quote.bid, Decimal) and quote.timestamp.tzinfo is not None

    # The clock is kept (on the injected clock) and moves on by itself: no new request.
    sim.control.advance(600)
    calls = sim.control.counters()["GET /v2/clock"]
    fake_time.now += 2.5
    assert gateway.get_clock().timestamp == T0 + timedelta(seconds=2.5)
    assert sim.control.counters()["GET /v2/clock"] == calls
    # At most five minutes: then the broker is asked again.
    fake_time.now += 300
    assert gateway.get_clock().timestamp == T0 + timedelta(minutes=10)
    assert sim.control.counters()["GET /v2/clock"] == calls + 1
    with pytest.raises(BrokerRejected):
        gateway.get_quote("ZZZZQ")


def test_the_clock_is_kept_until_the_market_opens_or_closes(sim, gateway, fake_time):
    sim.control.set_market("calendar")
    # 20:58 UTC: two minutes before the close the clock names.
    sim.control.advance((timedelta(hours=5, minutes=58)).total_seconds())
    assert gateway.get_clock().is_open
    calls = sim.control.counters()["GET /v2/clock"]
    sim.control.advance(180)  # the broker closes
    fake_time.now += 119
    assert gateway.get_clock().is_open  # still before the close it named: no request
    assert sim.control.counters()["GET /v2/clock"] == calls
    fake_time.now += 2  # past the close: asked again, and closed
    assert gateway.get_clock().is_open is False
    assert sim.control.counters()["GET /v2/clock"] == calls + 1


def test_asset_lookups_are_cached_on_the_injected_clock(sim, gateway, fake_time):
    asset = gateway.get_asset("aapl")
    assert asset.symbol == "AAPL" and asset.tradable and asset.status == "active"
    assert gateway.get_asset("ZZZZQ") is None
    calls = sim.control.counters()["GET /v2/assets/{symbol}"]
    assert calls == 2

    fake_time.now += 9
    assert gateway.get_asset("AAPL") == asset
    assert gateway.get_asset("ZZZZQ") is None
    assert sim.control.counters()["GET /v2/assets/{symbol}"] == calls

    fake_time.now += 2  # past the 10 s for misses, not the 60 s for hits
    gateway.get_asset("AAPL")
    gateway.get_asset("ZZZZQ")
    assert sim.control.counters()["GET /v2/assets/{symbol}"] == calls + 1

    fake_time.now += 60
    gateway.get_asset("AAPL")
    assert sim.control.counters()["GET /v2/assets/{symbol}"] == calls + 2


def test_list_orders_filters_by_submission_time(sim, gateway):
    first = gateway.submit_order(resting_limit()).order
    sim.control.advance(60)
    second = gateway.submit_order(resting_limit("MSFT")).order

    assert [o.id for o in gateway.list_orders()] == [second.id, first.id]
    after = first.submitted_at + timedelta(seconds=30)
    assert [o.id for o in gateway.list_orders(after=after)] == [second.id]
    assert [o.id for o in gateway.list_orders(until=after)] == [first.id]
    gateway.cancel_order(first.id)
    assert [o.id for o in gateway.list_orders(status="open")] == [second.id]
    assert [o.id for o in gateway.list_orders(status="closed")] == [first.id]


def test_outage_on_reads_raises_broker_unavailable(sim, gateway):
    sim.control.add_fault("GET /v2/account", "status", status=502)
    with pytest.raises(BrokerUnavailable) as outage:
        gateway.get_account()
    assert outage.value.error.http_status == 502
    assert gateway.ping() is True


# ------------------------------------------------------------------------------ stream
class Received:
    def __init__(self) -> None:
        self.events: list[TradeEvent] = []
        self.connects = 0
        self.cond = threading.Condition()

    def on_event(self, event: TradeEvent) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def on_connect(self) -> None:
        with self.cond:
            self.connects += 1
            self.cond.notify_all()

    def of(self, order_id: str) -> list[str]:
        with self.cond:
            return [e.event for e in self.events if e.order.id == order_id]

    def wait(self, predicate, timeout: float = 5.0, what: str = "stream events") -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out waiting for {what}: {self.events}")
                self.cond.wait(remaining)


@pytest.fixture
def received() -> Received:
    return Received()


@pytest.fixture
def stream_factory(sim) -> Iterator:
    streams: list[TradeUpdatesStream] = []

    def make(on_event, on_connect=None) -> TradeUpdatesStream:
        stream = TradeUpdatesStream(
            key_id=sim.key_id,
            secret_key=sim.secret_key,
            stream_url=sim.stream_url,
            on_event=on_event,
            on_connect=on_connect,
            reconnect_backoff=(0.2, 1.0),
            restart_backoff=(0.01, 0.1),
            check_interval=0.05,
        )
        streams.append(stream)
        stream.start()
        return stream

    yield make
    for stream in streams:
        stream.stop()
    wait_until(lambda: sim.control.state()["stream_listeners"] == 0, what="streams to close")


def test_stream_delivers_new_and_fill_with_decimals(sim, gateway, received, stream_factory):
    sim.control.configure(max_step_bps=0)
    sim.control.set_price("AAPL", "190.37")
    stream = stream_factory(received.on_event, received.on_connect)
    received.wait(lambda: received.connects == 1 and stream.connected, what="connect")

    order = gateway.submit_order(market(qty="7")).order
    received.wait(lambda: "fill" in received.of(order.id))

    assert received.of(order.id) == ["new", "fill"]
    new, fill = [e for e in received.events if e.order.id == order.id]
    assert new.price is None and new.qty is None
    assert fill.execution_id != new.execution_id
    assert fill.price == Decimal("190.37") and fill.qty == Decimal("7")
    assert fill.position_qty == Decimal("7")
    assert fill.execution_id and fill.timestamp.tzinfo is not None
    assert fill.order.status == "filled" and fill.order.filled_qty == Decimal("7")
    assert fill.order.client_order_id == order.client_order_id


def test_stream_survives_a_raising_callback_and_duplicates(sim, gateway, received, stream_factory):
    calls: list[str] = []

    def flaky(event: TradeEvent) -> None:
        calls.append(event.event)
        if len(calls) == 1:
            raise RuntimeError("callback bug")
        received.on_event(event)

    stream = stream_factory(flaky)
    wait_until(lambda: stream.connected, what="the stream to connect")
    sim.control.stream_faults(duplicate=1)

    order = gateway.submit_order(market(qty="1")).order
    received.wait(lambda: "fill" in received.of(order.id))
    assert calls == ["new", "new", "fill"]  # the first copy of `new` hit the bug
    assert received.of(order.id) == ["new", "fill"]


def test_stream_reconnects_after_a_drop_and_reports_it(sim, gateway, received, stream_factory):
    stream = stream_factory(received.on_event, received.on_connect)
    received.wait(lambda: received.connects == 1, what="first connect")

    assert sim.control.stream_disconnect() == 1
    wait_until(lambda: not stream.connected, what="the drop to be noticed")
    received.wait(lambda: received.connects == 2 and stream.connected, what="reconnect")

    order = gateway.submit_order(market(qty="1")).order
    received.wait(lambda: "fill" in received.of(order.id))
    assert stream.connections == 2


def test_supervisor_restarts_a_stream_whose_thread_ended(sim, received, stream_factory):
    stream = stream_factory(received.on_event, received.on_connect)
    received.wait(lambda: received.connects == 1, what="first connect")

    # End the inner TradingStream as if it had died on its own.
    inner = stream._stream
    asyncio.run_coroutine_threadsafe(stream._shutdown(inner), inner._loop).result(timeout=2)
    received.wait(lambda: received.connects == 2, what="the supervisor's restart")
    assert stream.restarts == 1 and stream._stream is not inner


def test_stop_is_prompt(sim, received, stream_factory):
    stream = stream_factory(received.on_event)
    wait_until(lambda: stream.connected, what="connect")
    started = time.monotonic()
    stream.stop()
    assert time.monotonic() - started < 2
    assert not stream.connected
    wait_until(lambda: sim.control.state()["stream_listeners"] == 0, what="the socket to close")


def test_malformed_messages_are_dropped_not_fatal(sim, gateway, received, stream_factory):
    stream = stream_factory(received.on_event)
    for bad in (
        {"stream": "trade_updates", "data": {"event": "fill"}},
        {"stream": "trade_updates", "data": {"event": "fill", "order": {"id": "x"}}},
        {"stream": "trade_updates", "data": None},
        "not even a dict",
    ):
        asyncio.run(stream._handle(bad))  # the handler TradingStream calls: never raises
    assert stream.malformed_messages == 3
    assert received.events == []
    assert trade_event_from_message({"stream": "listening", "data": {}}) is None
    with pytest.raises(ValueError):
        trade_event_from_message({"stream": "trade_updates", "data": {"order": {}}})

    wait_until(lambda: stream.connected, what="connect")
    order = gateway.submit_order(market(qty="1")).order
    received.wait(lambda: "fill" in received.of(order.id))


def test_event_times_are_utc(sim):
    order = {
        "id": str(uuid.uuid4()),
        "client_order_id": "c1",
        "created_at": "2026-11-18T15:00:00Z",
        "updated_at": "2026-11-18T15:00:01Z",
        "submitted_at": "2026-11-18T15:00:00Z",
        "time_in_force": "day",
        "extended_hours": False,
        "status": "filled",
        "symbol": "AAPL",
        "side": "sell",
        "type": "market",
        "order_class": "",
        "qty": "0.5",
        "filled_qty": "0.5",
        "filled_avg_price": "100.123456789",
    }
    message = {
        "stream": "trade_updates",
        "data": {
            "event": "fill",
            "execution_id": str(uuid.uuid4()),
            "order": order,
            "timestamp": "2026-11-18T15:00:01.123456789Z",
            "price": "100.123456789",
            "qty": "0.5",
            "position_qty": "-0.5",
        },
    }
    event = trade_event_from_message(message)
    assert event.price == Decimal("100.123456789")  # exact, not through a float
    assert event.position_qty == Decimal("-0.5")
    assert event.order.order_class == "simple"
    assert event.order.filled_avg_price == Decimal("100.123456789")
    assert event.timestamp.utcoffset() == timedelta(0)
    assert event.timestamp.astimezone(UTC).second == 1


def test_a_stream_stuck_before_authorization_is_reconnected(received):
    """alpaca-py waits forever for the auth reply; the supervisor drops such a socket."""
    from websockets.sync.server import serve

    accepted: list[int] = []

    def silent(ws) -> None:  # accepts the websocket, never answers
        accepted.append(1)
        for _ in ws:
            pass

    with serve(silent, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        stream = TradeUpdatesStream(
            key_id="k",
            secret_key="s",
            stream_url=f"ws://127.0.0.1:{server.socket.getsockname()[1]}",
            on_event=received.on_event,
            connect_timeout=0.2,
            reconnect_backoff=(0.1, 0.2),
            check_interval=0.05,
        )
        stream.start()
        try:
            wait_until(lambda: len(accepted) >= 2, timeout=5, what="a forced reconnect")
            assert not stream.connected and stream.connections == 0
        finally:
            stream.stop()
            server.shutdown()
