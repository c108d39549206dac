"""Trade grouping and trade summaries over mirrored broker orders: which orders make one trade,
what strategy it is, and what it opened for, where it stands and what it made (pure functions,
no database)."""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from oms_api.history.grouping import (
    OPTION_WINDOW,
    MirrorOrder,
    TradeAssignment,
    assign_trades,
    trade_id_for,
)
from oms_api.history.models import STRATEGIES
from oms_api.history.strategy import parse_occ
from oms_api.history.trades import TradeSummary, summarize

T0 = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
JAN = date(2025, 1, 17)
FEB = date(2025, 2, 21)


def occ(kind: str, strike: int | str, expiry: date = JAN, root: str = "SPY") -> str:
    return f"{root}{expiry:%y%m%d}{kind[0].upper()}{int(Decimal(strike) * 1000):08d}"


def order(
    oid: str,
    symbol: str,
    side: str | None,
    qty: int | str | None,
    *,
    at: datetime,
    price: str | None = None,
    filled: int | str | None = None,
    status: str | None = None,
    intent: str | None = None,
    parent: str | None = None,
    leg: int | None = None,
    ratio: int | None = None,
    order_class: str = "simple",
    filled_at: datetime | None = None,
) -> MirrorOrder:
    """One broker_orders row. Filled in full at `price` unless told otherwise."""
    parsed = parse_occ(symbol)
    qty_d = None if qty is None else Decimal(qty)
    if filled is None:
        filled_d = qty_d if price is not None and qty_d is not None else Decimal(0)
    else:
        filled_d = Decimal(filled)
    if status is None:
        status = "filled" if filled_d and filled_d == qty_d else "new"
    if filled_at is None and filled_d:
        filled_at = at + timedelta(seconds=1)
    return MirrorOrder(
        broker_order_id=oid,
        parent_broker_order_id=parent,
        leg_number=leg,
        order_class=order_class,
        asset_class="us_option" if parsed else ("us_equity" if symbol else ""),
        symbol=symbol,
        underlying=parsed.root if parsed else symbol,
        side=side,
        position_intent=intent,
        qty=qty_d,
        ratio_qty=None if ratio is None else Decimal(ratio),
        filled_qty=filled_d,
        filled_avg_price=None if price is None or not filled_d else Decimal(price),
        option_expiry=parsed.expiry if parsed else None,
        option_strike=parsed.strike if parsed else None,
        option_type=parsed.option_type if parsed else None,
        status=status,
        submitted_at=at,
        filled_at=filled_at,
    )


def mleg(
    oid: str,
    legs: list[tuple[str, str, str | None, str | None]],
    *,
    at: datetime,
    qty: int = 1,
    filled: int | None = None,
    status: str | None = None,
    underlying: str = "SPY",
) -> list[MirrorOrder]:
    """An mleg parent and its legs: each leg (symbol, side, price, intent), ratio 1."""
    done = qty if filled is None else filled
    if status is None:
        status = "filled" if done == qty and legs[0][2] is not None else "new"
    fill_time = at + timedelta(seconds=1) if done and legs[0][2] is not None else None
    parent = MirrorOrder(
        broker_order_id=oid,
        parent_broker_order_id=None,
        leg_number=None,
        order_class="mleg",
        asset_class="",
        symbol="",
        underlying=underlying,
        side=None,
        position_intent=None,
        qty=Decimal(qty),
        ratio_qty=None,
        filled_qty=Decimal(done if legs[0][2] is not None else 0),
        filled_avg_price=None,
        option_expiry=None,
        option_strike=None,
        option_type=None,
        status=status,
        submitted_at=at,
        filled_at=fill_time,
    )
    rows = [parent]
    for number, (symbol, side, price, intent) in enumerate(legs, start=1):
        rows.append(
            order(
                f"{oid}-leg{number}",
                symbol,
                side,
                qty,
                at=at,
                price=price,
                filled=done if price is not None else 0,
                status=status,
                intent=intent,
                parent=oid,
                leg=number,
                ratio=1,
                order_class="mleg",
                filled_at=fill_time,
            )
        )
    return rows


def trade_ids(assignments: dict[str, TradeAssignment], *oids: str) -> set[str]:
    return {assignments[oid].trade_id for oid in oids}


def members(orders: list[MirrorOrder], trade_id: str) -> list[MirrorOrder]:
    assignments = assign_trades(orders)
    return [o for o in orders if assignments[o.broker_order_id].trade_id == trade_id]


def summary_of(orders: list[MirrorOrder], oid: str) -> TradeSummary:
    """The summary of the trade `oid` belongs to, from exactly that trade's rows."""
    trade_id = assign_trades(orders)[oid].trade_id
    return summarize(trade_id, members(orders, trade_id))


# --- the iron condor, opened and closed as mleg orders -------------------------------------------

IC_OPEN = mleg(
    "ic-open",
    [
        (occ("put", 480), "buy", "0.52", "buy_to_open"),
        (occ("put", 490), "sell", "1.10", "sell_to_open"),
        (occ("call", 510), "sell", "1.05", "sell_to_open"),
        (occ("call", 520), "buy", "0.40", "buy_to_open"),
    ],
    at=T0,
)
IC_CLOSE = mleg(
    "ic-close",
    [
        (occ("put", 480), "sell", "0.05", "sell_to_close"),
        (occ("put", 490), "buy", "0.20", "buy_to_close"),
        (occ("call", 510), "buy", "0.30", "buy_to_close"),
        (occ("call", 520), "sell", "0.06", "sell_to_close"),
    ],
    at=T0 + timedelta(days=2),
)


def test_an_iron_condor_opened_and_closed_by_mleg_orders_is_one_closed_trade() -> None:
    orders = IC_OPEN + IC_CLOSE
    assignments = assign_trades(orders)

    assert set(assignments) == {o.broker_order_id for o in orders}  # parents too
    assert trade_ids(assignments, *assignments) == {trade_id_for("ic-open")}
    assert {a.strategy for a in assignments.values()} == {"iron_condor"}

    summary = summarize(trade_id_for("ic-open"), orders)
    assert summary == TradeSummary(
        trade_id=trade_id_for("ic-open"),
        underlying="SPY",
        strategy="iron_condor",
        expiry=JAN,
        legs=4,
        orders=8,
        state="closed",
        opened_at=T0,
        closed_at=T0 + timedelta(days=2, seconds=1),
        net_kind="credit",
        net_price=Decimal("1.23"),
        net_amount=Decimal("123.00"),
        realized_pnl=Decimal("84.00"),
    )


def test_an_iron_condor_not_yet_closed_is_open_and_its_close_order_makes_it_working() -> None:
    opened = summarize(trade_id_for("ic-open"), IC_OPEN)
    assert (opened.state, opened.realized_pnl, opened.closed_at) == ("open", None, None)
    assert (opened.net_kind, opened.net_price) == ("credit", Decimal("1.23"))

    closing = mleg(
        "ic-close",
        [(leg.symbol, leg.side or "", None, leg.position_intent) for leg in IC_CLOSE[1:]],
        at=T0 + timedelta(days=2),
    )
    orders = IC_OPEN + closing
    assert trade_ids(assign_trades(orders), *(o.broker_order_id for o in orders)) == {
        trade_id_for("ic-open")
    }
    assert summarize(trade_id_for("ic-open"), orders).state == "working"


# --- option orders grouped by time ---------------------------------------------------------------


def vertical_as_two_orders(gap: timedelta) -> list[MirrorOrder]:
    return [
        order("v-buy", occ("call", 500), "buy", 1, at=T0, price="4.00"),
        order("v-sell", occ("call", 510), "sell", 1, at=T0 + gap, price="1.50"),
    ]


def test_a_vertical_placed_as_two_orders_two_minutes_apart_is_one_trade() -> None:
    orders = vertical_as_two_orders(timedelta(minutes=2))
    assignments = assign_trades(orders)
    assert assignments["v-buy"] == assignments["v-sell"]
    assert assignments["v-buy"] == TradeAssignment(trade_id_for("v-buy"), "vertical_spread")

    summary = summary_of(orders, "v-sell")
    assert (summary.state, summary.legs, summary.orders) == ("open", 2, 2)
    assert (summary.net_kind, summary.net_amount, summary.net_price) == (
        "debit",
        Decimal("-250.00"),
        Decimal("-2.50"),
    )


def test_the_same_two_orders_six_minutes_apart_are_two_single_leg_trades() -> None:
    orders = vertical_as_two_orders(timedelta(minutes=6))
    assignments = assign_trades(orders)
    assert assignments["v-buy"] == TradeAssignment(trade_id_for("v-buy"), "single_leg")
    assert assignments["v-sell"] == TradeAssignment(trade_id_for("v-sell"), "single_leg")
    assert summary_of(orders, "v-sell").net_price == Decimal("1.50")


def test_the_window_counts_from_the_groups_first_order_and_is_inclusive() -> None:
    orders = [
        order("a", occ("call", 500), "buy", 1, at=T0, price="4"),
        order("b", occ("call", 510), "sell", 1, at=T0 + timedelta(minutes=4), price="2"),
        order("c", occ("put", 490), "sell", 1, at=T0 + OPTION_WINDOW, price="2"),
        # Within 5 minutes of b, but not of a: it starts the next group.
        order("d", occ("put", 480), "buy", 1, at=T0 + timedelta(minutes=8), price="1"),
    ]
    assignments = assign_trades(orders)
    assert trade_ids(assignments, "a", "b", "c") == {trade_id_for("a")}
    assert assignments["d"] == TradeAssignment(trade_id_for("d"), "single_leg")


def test_orders_on_another_expiry_or_underlying_or_in_an_mleg_do_not_join_a_group() -> None:
    orders = [
        order("a", occ("call", 500), "buy", 1, at=T0, price="4"),
        order("feb", occ("call", 510, FEB), "sell", 1, at=T0 + timedelta(minutes=1), price="2"),
        order("qqq", occ("call", 400, root="QQQ"), "sell", 1, at=T0, price="2"),
        *mleg(
            "m",
            [(occ("call", 505), "sell", "2", None), (occ("call", 515), "buy", "1", None)],
            at=T0 + timedelta(minutes=1),
        ),
    ]
    assignments = assign_trades(orders)
    assert len(trade_ids(assignments, "a", "feb", "qqq", "m")) == 4
    assert assignments["a"].strategy == "single_leg"
    assert assignments["m-leg1"] == TradeAssignment(trade_id_for("m"), "vertical_spread")


def test_a_straddle_placed_as_two_orders() -> None:
    orders = [
        order("call", occ("call", 500), "buy", 1, at=T0, price="5.00"),
        order("put", occ("put", 500), "buy", 1, at=T0 + timedelta(seconds=30), price="4.50"),
    ]
    assert assign_trades(orders)["put"] == TradeAssignment(trade_id_for("call"), "straddle")
    summary = summary_of(orders, "call")
    assert (summary.strategy, summary.expiry, summary.state) == ("straddle", JAN, "open")
    assert (summary.net_kind, summary.net_amount, summary.net_price) == (
        "debit",
        Decimal("-950.00"),
        Decimal("-9.50"),
    )


def test_two_calls_and_two_puts_read_as_one_strangle_twice() -> None:
    orders = [
        order("call", occ("call", 510), "sell", 2, at=T0, price="1.20"),
        order("put", occ("put", 490), "sell", 2, at=T0 + timedelta(minutes=1), price="1.05"),
    ]
    assert assign_trades(orders)["call"].strategy == "strangle"
    summary = summary_of(orders, "put")
    # 2 units of (call + put): 450 dollars credit is 2.25 a unit.
    assert (summary.net_kind, summary.net_amount, summary.net_price) == (
        "credit",
        Decimal("450.00"),
        Decimal("2.25"),
    )


def test_a_strangle_as_an_mleg_order() -> None:
    orders = mleg(
        "s",
        [(occ("call", 510), "buy", "1.25", "buy_to_open"), (occ("put", 490), "buy", "1.00", None)],
        at=T0,
        qty=3,
    )
    assert {a.strategy for a in assign_trades(orders).values()} == {"strangle"}
    summary = summarize(trade_id_for("s"), orders)
    assert (summary.net_price, summary.net_amount, summary.orders) == (
        Decimal("-2.25"),
        Decimal("-675.00"),
        2,
    )


# --- partial fills, unfilled and working trades --------------------------------------------------


def test_a_partially_filled_then_canceled_mleg_counts_what_filled() -> None:
    orders = mleg(
        "p",
        [(occ("call", 500), "buy", "4.00", None), (occ("call", 510), "sell", "1.50", None)],
        at=T0,
        qty=3,
        filled=1,
        status="canceled",
    )
    summary = summarize(trade_id_for("p"), orders)
    assert (summary.strategy, summary.state) == ("vertical_spread", "open")
    assert (summary.net_kind, summary.net_price, summary.net_amount) == (
        "debit",
        Decimal("-2.50"),
        Decimal("-250.00"),
    )


def test_a_partially_filled_grouped_trade_prices_the_filled_units() -> None:
    orders = [
        order("c", occ("call", 500), "buy", 4, at=T0, price="5", filled=2, status="canceled"),
        order("p", occ("put", 500), "buy", 4, at=T0, price="4", filled=2, status="canceled"),
    ]
    assert assign_trades(orders)["p"].strategy == "straddle"
    summary = summary_of(orders, "c")
    assert (summary.state, summary.net_amount, summary.net_price) == (
        "open",
        Decimal("-1800.00"),
        Decimal("-9.00"),
    )


def test_a_partially_filled_order_still_at_the_broker_is_working() -> None:
    orders = [
        order(
            "c", occ("call", 500), "buy", 4, at=T0, price="5", filled=1, status="partially_filled"
        )
    ]
    summary = summary_of(orders, "c")
    assert (summary.state, summary.net_amount) == ("working", Decimal("-500.00"))


def test_a_canceled_trade_that_never_filled_is_unfilled() -> None:
    orders = mleg(
        "u",
        [(occ("call", 500), "buy", None, None), (occ("call", 510), "sell", None, None)],
        at=T0,
        status="canceled",
    )
    summary = summarize(trade_id_for("u"), orders)
    assert (summary.strategy, summary.state, summary.legs, summary.orders) == (
        "vertical_spread",
        "unfilled",
        2,
        2,
    )
    assert (summary.net_kind, summary.net_price, summary.net_amount) == (None, None, None)
    assert (summary.realized_pnl, summary.closed_at, summary.opened_at) == (None, None, T0)


# --- closing orders join the trade they close ----------------------------------------------------


def test_a_later_order_that_exactly_offsets_an_open_trade_closes_it() -> None:
    later = T0 + timedelta(hours=3)
    orders = [
        order("buy", occ("call", 500), "buy", 2, at=T0, price="4.00"),
        order("sell", occ("call", 500), "sell", 2, at=later, price="4.75"),
    ]
    assignments = assign_trades(orders)
    assert assignments["sell"] == TradeAssignment(trade_id_for("buy"), "single_leg")
    summary = summary_of(orders, "buy")
    assert (summary.state, summary.realized_pnl, summary.closed_at) == (
        "closed",
        Decimal("150.00"),
        later + timedelta(seconds=1),
    )
    assert (summary.net_amount, summary.net_price, summary.orders, summary.legs) == (
        Decimal("-800.00"),
        Decimal("-4.00"),
        2,
        1,
    )


def test_a_partial_close_without_intents_is_not_an_exact_offset() -> None:
    orders = [
        order("buy", occ("call", 500), "buy", 2, at=T0, price="4.00"),
        order("sell", occ("call", 500), "sell", 1, at=T0 + timedelta(hours=3), price="4.75"),
    ]
    assignments = assign_trades(orders)
    assert assignments["sell"].trade_id == trade_id_for("sell")
    assert summary_of(orders, "buy").state == "open"


def test_closing_intents_join_the_trade_even_partially_and_keep_its_strategy() -> None:
    opened = vertical_as_two_orders(timedelta(minutes=1))
    day2 = T0 + timedelta(days=1)
    first = order(
        "close-1a", occ("call", 500), "sell", 1, at=day2, price="3", intent="sell_to_close"
    )
    second = order(
        "close-1b",
        occ("call", 510),
        "buy",
        1,
        at=day2 + timedelta(minutes=20),
        price="0.75",
        intent="buy_to_close",
    )
    orders = [*opened, first, second]
    assignments = assign_trades(orders)
    assert {assignments[o.broker_order_id] for o in orders} == {
        TradeAssignment(trade_id_for("v-buy"), "vertical_spread")
    }
    summary = summary_of(orders, "close-1b")
    # Opened for 2.50 debit, closed for 2.25 credit: 25 dollars lost.
    assert (summary.state, summary.realized_pnl) == ("closed", Decimal("-25.00"))
    assert summary.closed_at == day2 + timedelta(minutes=20, seconds=1)


def test_a_quick_round_trip_with_intents_is_one_closed_trade() -> None:
    orders = [
        order("o", occ("put", 490), "buy", 1, at=T0, price="2.00", intent="buy_to_open"),
        order(
            "c",
            occ("put", 490),
            "sell",
            1,
            at=T0 + timedelta(minutes=1),
            price="2.30",
            intent="sell_to_close",
        ),
    ]
    assert assign_trades(orders)["c"] == TradeAssignment(trade_id_for("o"), "single_leg")
    summary = summary_of(orders, "o")
    assert (summary.state, summary.realized_pnl, summary.net_price) == (
        "closed",
        Decimal("30.00"),
        Decimal("-2.00"),
    )


def test_a_roll_opens_a_new_trade() -> None:
    opened = order("o", occ("call", 500), "buy", 1, at=T0, price="4")
    roll = mleg(
        "roll",
        [
            (occ("call", 500), "sell", "5", "sell_to_close"),
            (occ("call", 520), "buy", "2", "buy_to_open"),
        ],
        at=T0 + timedelta(days=1),
    )
    assignments = assign_trades([opened, *roll])
    assert assignments["o"].trade_id == trade_id_for("o")
    assert assignments["roll-leg1"].trade_id == trade_id_for("roll")


def test_a_closed_trade_does_not_take_another_close() -> None:
    orders = [
        order("buy", occ("call", 500), "buy", 1, at=T0, price="4"),
        order("sell", occ("call", 500), "sell", 1, at=T0 + timedelta(hours=1), price="5"),
        # Sold short later: a new trade, not a second close of the first.
        order("short", occ("call", 500), "sell", 1, at=T0 + timedelta(hours=2), price="5"),
    ]
    assignments = assign_trades(orders)
    assert assignments["sell"].trade_id == trade_id_for("buy")
    assert assignments["short"].trade_id == trade_id_for("short")


# --- equities ------------------------------------------------------------------------------------


def bracket(take_profit_filled: bool) -> list[MirrorOrder]:
    entry = order("entry", "AAPL", "buy", 10, at=T0, price="150.00", order_class="bracket")
    exit_time = T0 + timedelta(hours=2)
    tp = order(
        "tp",
        "AAPL",
        "sell",
        10,
        at=T0,
        price="155.50" if take_profit_filled else None,
        status="filled" if take_profit_filled else "new",
        parent="entry",
        leg=1,
        order_class="bracket",
        filled_at=exit_time if take_profit_filled else None,
    )
    sl = order(
        "sl",
        "AAPL",
        "sell",
        10,
        at=T0,
        status="canceled" if take_profit_filled else "held",
        parent="entry",
        leg=2,
        order_class="bracket",
    )
    return [entry, tp, sl]


def test_an_equity_bracket_whose_take_profit_filled_is_closed_with_its_pnl() -> None:
    orders = bracket(take_profit_filled=True)
    assignments = assign_trades(orders)
    assert {assignments[o.broker_order_id] for o in orders} == {
        TradeAssignment(trade_id_for("entry"), "equity")
    }
    summary = summarize(trade_id_for("entry"), orders)
    assert summary == TradeSummary(
        trade_id=trade_id_for("entry"),
        underlying="AAPL",
        strategy="equity",
        expiry=None,
        legs=1,
        orders=3,
        state="closed",
        opened_at=T0,
        closed_at=T0 + timedelta(hours=2),
        net_kind="debit",
        net_price=Decimal("-150.00"),
        net_amount=Decimal("-1500.00"),
        realized_pnl=Decimal("55.00"),
    )


def test_an_equity_bracket_with_live_exits_is_working() -> None:
    summary = summarize(trade_id_for("entry"), bracket(take_profit_filled=False))
    assert (summary.state, summary.realized_pnl) == ("working", None)


def test_a_plain_equity_buy_is_filled_with_no_realized_pnl() -> None:
    orders = [order("b", "MSFT", "buy", "2.5", at=T0, price="400.10")]
    assert assign_trades(orders)["b"] == TradeAssignment(trade_id_for("b"), "equity")
    summary = summarize(trade_id_for("b"), orders)
    assert (summary.state, summary.realized_pnl, summary.closed_at) == ("filled", None, None)
    assert (summary.net_kind, summary.net_amount, summary.net_price) == (
        "debit",
        Decimal("-1000.25"),
        Decimal("-400.10"),
    )
    assert (summary.legs, summary.orders, summary.expiry) == (1, 1, None)


def test_equity_orders_never_group_or_close_each_other() -> None:
    orders = [
        order("b1", "MSFT", "buy", 1, at=T0, price="400"),
        order("b2", "MSFT", "buy", 1, at=T0 + timedelta(seconds=10), price="401"),
        order("s", "MSFT", "sell", 2, at=T0 + timedelta(hours=1), price="402"),
    ]
    assignments = assign_trades(orders)
    assert len(trade_ids(assignments, "b1", "b2", "s")) == 3
    assert {a.strategy for a in assignments.values()} == {"equity"}


# --- ids and determinism -------------------------------------------------------------------------


IWM_PUT = occ("put", 470, root="IWM")


def everything() -> list[MirrorOrder]:
    return [
        *IC_OPEN,
        *IC_CLOSE,
        *vertical_as_two_orders(timedelta(minutes=2)),
        order("rt-o", IWM_PUT, "buy", 1, at=T0, price="1", intent="buy_to_open"),
        order(
            "rt-c",
            IWM_PUT,
            "sell",
            1,
            at=T0 + timedelta(hours=1),
            price="1.1",
            intent="sell_to_close",
        ),
        *bracket(take_profit_filled=True),
        order("lone", occ("put", 450, FEB), "sell", 1, at=T0, price="3"),
    ]


def test_trade_ids_are_short_hex_named_after_the_anchor() -> None:
    trade_id = trade_id_for("ic-open")
    assert re.fullmatch(r"tr_[0-9a-f]{24}", trade_id)
    assert trade_id == trade_id_for("ic-open") != trade_id_for("ic-close")
    assignments = assign_trades(everything())
    assert {a.strategy for a in assignments.values()} <= set(STRATEGIES)
    assert {a.trade_id for a in assignments.values()} == {
        trade_id_for(anchor) for anchor in ("ic-open", "v-buy", "rt-o", "entry", "lone")
    }


@pytest.mark.parametrize("seed", range(5))
def test_shuffled_input_gives_the_same_assignments(seed: int) -> None:
    expected = assign_trades(everything())
    shuffled = everything()
    random.Random(seed).shuffle(shuffled)
    assert assign_trades(shuffled) == expected
    for trade_id in {a.trade_id for a in expected.values()}:
        rows = [o for o in shuffled if expected[o.broker_order_id].trade_id == trade_id]
        assert summarize(trade_id, rows) == summarize(trade_id, list(reversed(rows)))


def test_unrelated_orders_do_not_change_existing_ids() -> None:
    before = assign_trades(everything())
    unrelated = [
        order("x1", occ("call", 300, root="QQQ"), "buy", 1, at=T0, price="2"),
        order("x2", "TSLA", "sell", 3, at=T0 + timedelta(minutes=1), price="200"),
        order("x3", occ("call", 500, FEB, "DIA"), "buy", 1, at=T0 + MINUTE, price="9"),
        *mleg(
            "x4",
            [(occ("call", 600), "buy", "1", None), (occ("call", 610), "sell", "0.5", None)],
            at=T0 + timedelta(minutes=1),
        ),
    ]
    after = assign_trades(everything() + unrelated)
    assert {oid: after[oid] for oid in before} == before
    assert len({after[o.broker_order_id].trade_id for o in unrelated}) == 4


def test_legs_whose_parent_row_is_missing_stay_together() -> None:
    legs = IC_OPEN[1:]
    assignments = assign_trades(legs)
    assert {assignments[o.broker_order_id] for o in legs} == {
        TradeAssignment(trade_id_for("ic-open"), "iron_condor")
    }
    assert summarize(trade_id_for("ic-open"), legs).net_price == Decimal("1.23")


def test_an_mleg_without_intents_that_offsets_an_open_mleg_closes_it() -> None:
    def strip(rows: list[MirrorOrder]) -> list[MirrorOrder]:
        return [o._replace(position_intent=None) for o in rows]

    orders = strip(IC_OPEN) + strip(IC_CLOSE)
    assert {a.trade_id for a in assign_trades(orders).values()} == {trade_id_for("ic-open")}
    summary = summarize(trade_id_for("ic-open"), orders)
    assert (summary.state, summary.realized_pnl) == ("closed", Decimal("84.00"))


def test_a_quick_round_trip_without_intents_is_one_closed_single_leg_trade() -> None:
    orders = [
        order("o", occ("call", 500), "buy", 2, at=T0, price="4.00"),
        order("c", occ("call", 500), "sell", 2, at=T0 + 2 * MINUTE, price="3.90"),
    ]
    assert assign_trades(orders)["c"] == TradeAssignment(trade_id_for("o"), "single_leg")
    summary = summary_of(orders, "o")
    assert (summary.state, summary.net_price, summary.realized_pnl) == (
        "closed",
        Decimal("-4.00"),
        Decimal("-20.00"),
    )
    assert summary.closed_at == T0 + 2 * MINUTE + timedelta(seconds=1)


def as_postgres_returns_it(row: MirrorOrder) -> MirrorOrder:
    """PostgreSQL NUMERIC columns come back at their fixed scale (1 -> 1.000000000)."""

    def scaled(value: Decimal | None, places: int) -> Decimal | None:
        return None if value is None else value.quantize(Decimal(1).scaleb(-places))

    return row._replace(
        qty=scaled(row.qty, 9),
        ratio_qty=scaled(row.ratio_qty, 9),
        filled_qty=scaled(row.filled_qty, 9) or Decimal("0E-9"),
        filled_avg_price=scaled(row.filled_avg_price, 6),
        option_strike=scaled(row.option_strike, 6),
    )


def test_fixed_scale_decimals_change_nothing() -> None:
    rows = [
        *everything(),
        order("c", occ("call", 40, root="XLF"), "buy", 4, at=T0, price="5", filled=2),
        order("p", occ("put", 40, root="XLF"), "buy", 4, at=T0, price="4", filled=2),
    ]
    scaled_rows = [as_postgres_returns_it(o) for o in rows]
    expected = assign_trades(rows)
    assert assign_trades(scaled_rows) == expected
    for trade_id in {a.trade_id for a in expected.values()}:
        plain = [o for o in rows if expected[o.broker_order_id].trade_id == trade_id]
        scaled = [o for o in scaled_rows if expected[o.broker_order_id].trade_id == trade_id]
        assert summarize(trade_id, scaled) == summarize(trade_id, plain)


def test_an_mleg_parent_without_an_underlying_takes_its_legs() -> None:
    orders = [IC_OPEN[0]._replace(underlying=""), *IC_OPEN[1:]]
    assert summarize(trade_id_for("ic-open"), orders).underlying == "SPY"
