"""Trade summaries: what one trade's mirrored orders add up to (its state, the net price it
opened for, its realized P&L once closed). Pure functions: no database, no broker."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from oms_api.history.grouping import (
    MirrorOrder,
    Trade,
    build_trades,
    contract_of,
    is_mleg_parent,
    is_option,
    signed,
    underlying_of,
)
from oms_api.history.models import BROKER_OPEN_STATUSES
from oms_api.history.strategy import OPTION_MULTIPLIER, decimal_gcd

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class TradeSummary:
    """One trade, as the history's trades view shows it."""

    trade_id: str
    underlying: str
    strategy: str
    expiry: date | None  # the options' common expiry, else None
    legs: int  # distinct contracts (symbols) in the trade
    orders: int  # member orders, legs counted, mleg parents not
    state: str  # "working" | "open" | "closed" | "filled" | "unfilled"
    opened_at: datetime | None
    closed_at: datetime | None
    net_kind: str | None  # "credit" | "debit" | "even" | None (nothing filled)
    net_price: Decimal | None  # per unit of the strategy, of the OPENING orders (e.g. 1.23)
    net_amount: Decimal | None  # dollars of the opening orders (options x100 multiplier)
    realized_pnl: Decimal | None  # dollars, once closed


def cash_flow(order: MirrorOrder) -> Decimal:
    """Dollars an order's fills moved: sells positive, buys negative; options x100. An mleg
    parent moves none (its legs carry the cash)."""
    if is_mleg_parent(order) or order.filled_qty == 0 or order.filled_avg_price is None:
        return Decimal(0)
    multiplier = OPTION_MULTIPLIER if is_option(order) else Decimal(1)
    return -signed(order, order.filled_qty * order.filled_avg_price * multiplier)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_EVEN)


def summarize(trade_id: str, orders: Sequence[MirrorOrder]) -> TradeSummary:
    """Summarize the trade `trade_id` from its member rows (mleg parents may be included).
    Raises ValueError when `orders` is empty."""
    if not orders:
        raise ValueError("a trade summary needs at least one order")
    members = {o.broker_order_id: o for o in orders}
    trades = build_trades(members.values())
    # The rows of one trade regroup into that trade; should they not (rows the caller chose
    # otherwise), the oldest opening group stands for the trade.
    trade: Trade = next((t for t in trades if t.trade_id == trade_id), trades[0])
    opener = trade.opener
    opening = opener.opening_orders()
    opening_ids = {o.broker_order_id for o in opening}
    rows = sorted(members.values(), key=lambda o: o.broker_order_id)
    legs = [o for o in rows if not is_mleg_parent(o)]
    options = any(is_option(o) for o in legs) or opener.kind == "mleg"

    contracts = {o.symbol for o in legs}
    expiries = {c.expiry for c in (contract_of(o) for o in legs if is_option(o)) if c}
    expiry = next(iter(expiries)) if options and len(expiries) == 1 else None

    net: dict[str, Decimal] = defaultdict(Decimal)
    for order in legs:
        net[order.symbol] += signed(order, order.filled_qty)
    anything_filled = any(o.filled_qty > 0 for o in legs)
    flat = all(q == 0 for q in net.values())
    if any(o.status in BROKER_OPEN_STATUSES for o in rows):
        state = "working"
    elif not anything_filled:
        state = "unfilled"
    elif options:
        state = "closed" if flat else "open"
    else:
        state = "closed" if flat else "filled"

    opening_filled = [o for o in opening if o.filled_qty > 0]
    net_amount = net_price = net_kind = None
    if opening_filled:
        amount = sum((cash_flow(o) for o in opening_filled), Decimal(0))
        net_amount = _cents(amount)
        net_kind = "credit" if amount > 0 else "debit" if amount < 0 else "even"
        net_price = _net_price(opener.kind, opening, amount)

    realized = None
    closed_at = None
    if state == "closed":
        realized = _cents(sum((cash_flow(o) for o in legs), Decimal(0)))
        # The exits: every member outside the opening orders (an mleg opener's parent is part of
        # the opening); a round trip inside one group has none, so its last fill closes it.
        exits = [
            o
            for o in rows
            if o.broker_order_id not in opening_ids
            and not (is_mleg_parent(o) and o.broker_order_id == opener.anchor)
            and o.filled_at is not None
            and (o.filled_qty > 0 or is_mleg_parent(o))
        ]
        stamps = [o.filled_at for o in exits if o.filled_at] or [
            o.filled_at for o in rows if o.filled_at
        ]
        closed_at = max(stamps) if stamps else None

    submitted = [o.submitted_at for o in rows if o.submitted_at is not None]
    # The anchor's underlying; an mleg parent may carry none, so its legs' next.
    anchor_rows = [o for o in opener.rows if o.broker_order_id == opener.anchor]
    underlying = next((u for u in map(underlying_of, [*anchor_rows, *opening, *legs]) if u), "")
    return TradeSummary(
        trade_id=trade_id,
        underlying=underlying,
        strategy=trade.strategy,
        expiry=expiry,
        legs=len(contracts),
        orders=len(legs),
        state=state,
        opened_at=min(submitted) if submitted else None,
        closed_at=closed_at,
        net_kind=net_kind,
        net_price=net_price,
        net_amount=net_amount,
        realized_pnl=realized,
    )


def _net_price(kind: str, opening: list[MirrorOrder], amount: Decimal) -> Decimal | None:
    """The opening price per unit of the strategy, signed like the cash (credit positive)."""
    if kind == "mleg" and all(
        o.ratio_qty and o.filled_qty > 0 and o.filled_avg_price is not None for o in opening
    ):
        # Each leg's price times its ratio: exactly the limit price an mleg is placed at.
        total = sum(
            (-signed(o, (o.filled_avg_price or Decimal(0)) * (o.ratio_qty or 0)) for o in opening),
            Decimal(0),
        )
        return _cents(total)
    filled: dict[str, Decimal] = defaultdict(Decimal)
    for order in opening:
        filled[order.symbol] += order.filled_qty
    units = decimal_gcd(filled.values())
    if units == 0:
        return None
    multiplier = OPTION_MULTIPLIER if any(is_option(o) for o in opening) else Decimal(1)
    return _cents(amount / (multiplier * units))
