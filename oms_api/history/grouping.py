"""Trade grouping: which mirrored broker orders make up one trade (the orders of one strategy,
from opening to closing), and what that strategy is. Pure functions: no database, no broker.

A trade opens with one *opening group*:
- a multi-leg (mleg) order with its legs (never merged with other orders when opening);
- an equity order with its bracket/oco/oto legs (strategy "equity"; never merged);
- option orders outside an mleg on the same underlying and expiry, each submitted within
  OPTION_WINDOW of the group's first order.
A later option group that exactly closes an earlier, still open trade joins it (same trade id,
the opener's strategy): with position intents, every order is a *_to_close of the trade's open
contracts on the closing side; without them, its filled quantities offset the trade's open
filled quantities exactly, contract for contract.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from oms_api.history.strategy import (
    OccSymbol,
    OptionLeg,
    decimal_gcd,
    detect_strategy,
    parse_occ,
)

OPTION_WINDOW = timedelta(minutes=5)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CLOSING_INTENTS = {"buy_to_close": "buy", "sell_to_close": "sell"}


class MirrorOrder(NamedTuple):
    """The grouping-relevant columns of one broker_orders row (a named tuple: immutable, and
    cheap to build for a history of tens of thousands of rows)."""

    broker_order_id: str
    parent_broker_order_id: str | None
    leg_number: int | None
    order_class: str  # "simple" | "bracket" | "oco" | "oto" | "mleg"
    asset_class: str  # "us_equity" | "us_option" | "crypto" | ""
    symbol: str  # "" for an mleg parent
    underlying: str
    side: str | None
    position_intent: str | None
    qty: Decimal | None
    ratio_qty: Decimal | None
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    option_expiry: date | None
    option_strike: Decimal | None
    option_type: str | None
    status: str
    submitted_at: datetime | None
    # Optional (not needed for grouping): a trade summary's closed_at is its exits' filled_at.
    filled_at: datetime | None = None


@dataclass(frozen=True)
class TradeAssignment:
    """The trade an order belongs to, and that trade's strategy."""

    trade_id: str
    strategy: str  # one of oms_api.history.models.STRATEGIES


def trade_id_for(anchor_broker_order_id: str) -> str:
    """A trade's id, derived from its anchor order alone, so other orders never change it."""
    digest = hashlib.sha256(anchor_broker_order_id.encode("utf-8")).hexdigest()
    return "tr_" + digest[:24]


def assign_trades(orders: Iterable[MirrorOrder]) -> dict[str, TradeAssignment]:
    """Map every input row's broker_order_id (parents and legs alike) to its trade and strategy.
    Deterministic: the same rows give the same answer, whatever their order."""
    result: dict[str, TradeAssignment] = {}
    for trade in build_trades(orders):
        assignment = TradeAssignment(trade_id=trade.trade_id, strategy=trade.strategy)
        for order in trade.members:
            result[order.broker_order_id] = assignment
    return result


# --- order helpers (shared with trades.py) -----------------------------------------------------


def is_mleg_parent(order: MirrorOrder) -> bool:
    """A multi-leg order's parent row: it carries no contract and no cash of its own."""
    return order.order_class == "mleg" and order.parent_broker_order_id is None


def is_option(order: MirrorOrder) -> bool:
    """An option order (or leg); a non-OCC symbol is an equity (or crypto) order."""
    if is_mleg_parent(order) or order.asset_class == "us_equity":
        return False
    return order.asset_class == "us_option" or parse_occ(order.symbol) is not None


def contract_of(order: MirrorOrder) -> OccSymbol | None:
    """The option contract an order trades: its parsed columns, else its OCC symbol."""
    if order.option_expiry and order.option_strike is not None and order.option_type:
        parsed = None if order.underlying else parse_occ(order.symbol)
        return OccSymbol(
            root=order.underlying or (parsed.root if parsed else ""),
            expiry=order.option_expiry,
            option_type=order.option_type,
            strike=order.option_strike,
        )
    return parse_occ(order.symbol)


def underlying_of(order: MirrorOrder) -> str:
    """The stock an order is about: its underlying column, an OCC root, else its symbol."""
    if order.underlying:
        return order.underlying
    parsed = parse_occ(order.symbol)
    return parsed.root if parsed else order.symbol


def signed(order: MirrorOrder, quantity: Decimal) -> Decimal:
    """`quantity` signed by the order's side: bought positive, sold negative (0 if no side)."""
    if order.side == "buy":
        return quantity
    if order.side == "sell":
        return -quantity
    return Decimal(0)


def order_key(order: MirrorOrder) -> tuple[bool, datetime, str]:
    """Chronological order: by submission time (unknown last), then by id."""
    return (order.submitted_at is None, order.submitted_at or _EPOCH, order.broker_order_id)


def _is_closing_intent(order: MirrorOrder) -> bool:
    return (order.position_intent or "") in _CLOSING_INTENTS


# --- groups and trades --------------------------------------------------------------------------


@dataclass
class Group:
    """Orders that act together: one mleg with its legs, one equity order with its legs, or
    option orders placed within the window."""

    kind: str  # "mleg" | "option" | "equity"
    anchor: str  # the broker order id a trade opened by this group is named after
    key: tuple[bool, datetime, str]
    rows: list[MirrorOrder]  # every row, parents included

    @property
    def legs(self) -> list[MirrorOrder]:
        """The rows that trade something (an mleg parent does not)."""
        return [o for o in self.rows if not is_mleg_parent(o)]

    def position(self) -> dict[str, Decimal]:
        """Net filled quantity per symbol (bought positive)."""
        net: dict[str, Decimal] = defaultdict(Decimal)
        for order in self.legs:
            net[order.symbol] += signed(order, order.filled_qty)
        return dict(net)

    def opening_orders(self) -> list[MirrorOrder]:
        """The orders that opened the position, when this group opens a trade."""
        if self.kind == "equity":
            # The entry order; its bracket/oco/oto legs are the exits.
            top = [o for o in self.rows if o.parent_broker_order_id is None]
            return sorted(top or self.rows, key=order_key)
        legs = sorted(self.legs, key=order_key)
        if self.kind == "mleg":
            return legs
        # A window group may hold a quick round trip (bought then sold within the window): the
        # opening orders are the non-closing ones on each contract's first side.
        candidates = [o for o in legs if not _is_closing_intent(o)] or legs
        first_side: dict[str, str | None] = {}
        for order in candidates:
            first_side.setdefault(order.symbol, order.side)
        return [o for o in candidates if o.side == first_side[o.symbol]]


@dataclass
class Trade:
    """An opening group and the later groups that closed it."""

    opener: Group
    strategy: str
    closers: list[Group] = field(default_factory=list)
    # Net filled quantity per contract, kept up to date as closers join.
    net: dict[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.net = dict(self.opener.position())

    def add_closer(self, group: Group) -> None:
        self.closers.append(group)
        for symbol, qty in group.position().items():
            self.net[symbol] = self.net.get(symbol, Decimal(0)) + qty

    @property
    def trade_id(self) -> str:
        return trade_id_for(self.opener.anchor)

    @property
    def members(self) -> list[MirrorOrder]:
        rows = list(self.opener.rows)
        for group in self.closers:
            rows.extend(group.rows)
        return rows

    def open_position(self) -> dict[str, Decimal]:
        """Net filled quantity per contract still open (zeros dropped)."""
        return {s: q for s, q in self.net.items() if q != 0}


def build_trades(orders: Iterable[MirrorOrder]) -> list[Trade]:
    """Group the rows into trades, oldest opening first."""
    by_id: dict[str, MirrorOrder] = {}
    for order in orders:
        known = by_id.get(order.broker_order_id)
        # A duplicate row: keep one regardless of input order, so the answer stays deterministic.
        if known is None or repr(order) > repr(known):
            by_id[order.broker_order_id] = order
    groups = _window(_units(by_id))
    trades: list[Trade] = []
    # Option trades still holding each contract, in opening order: a close can only match a
    # trade that holds every contract it trades (expired options leave trades open forever;
    # scanning them all would be slow). A trade leaves a contract's holders once it is flat in it.
    by_symbol: dict[str, dict[int, Trade]] = defaultdict(dict)
    for group in sorted(groups, key=lambda g: g.key):
        if group.kind != "equity" and _may_close(group):
            target = _closed_trade(group, _holding_all(group, by_symbol))
            if target is not None:
                target.add_closer(group)
                still_open = target.open_position()
                for symbol in target.net:
                    if symbol not in still_open:
                        by_symbol[symbol].pop(id(target), None)
                continue
        trade = Trade(opener=group, strategy=strategy_of(group))
        trades.append(trade)
        if group.kind != "equity":
            for symbol in trade.open_position():
                by_symbol[symbol][id(trade)] = trade
    return trades


def _may_close(group: Group) -> bool:
    """False for a group whose intents say it opens something (most groups): no need to look
    for a trade it closes."""
    legs = group.legs
    if not legs:
        return False
    return not all(o.position_intent for o in legs) or all(_is_closing_intent(o) for o in legs)


def _holding_all(group: Group, by_symbol: dict[str, dict[int, Trade]]) -> list[Trade]:
    """The trades holding every contract `group` trades, oldest first: the only ones it can
    close (each contract's holders are kept in opening order)."""
    holders = [by_symbol.get(symbol) or {} for symbol in {o.symbol for o in group.legs}]
    if not holders or not all(holders):
        return []
    shortest = min(holders, key=len)
    others = [h for h in holders if h is not shortest]
    return [t for key, t in shortest.items() if all(key in h for h in others)]


def _root_id(order: MirrorOrder, by_id: dict[str, MirrorOrder]) -> str:
    """The top of an order's parent chain (a missing parent's id when the parent is absent)."""
    if order.parent_broker_order_id is None:  # most rows: a top-level order
        return order.broker_order_id
    current = order
    seen = {current.broker_order_id}
    while current.parent_broker_order_id is not None:
        parent = by_id.get(current.parent_broker_order_id)
        if parent is None or parent.broker_order_id in seen:
            return current.parent_broker_order_id
        seen.add(parent.broker_order_id)
        current = parent
    return current.broker_order_id


def _units(by_id: dict[str, MirrorOrder]) -> list[Group]:
    """One group per top-level order with its legs (a leg without its parent row is grouped
    with its siblings under the parent's id)."""
    families: dict[str, list[MirrorOrder]] = defaultdict(list)
    for order in by_id.values():
        families[_root_id(order, by_id)].append(order)
    units = []
    for root_id, rows in families.items():
        rows.sort(key=order_key)
        root = by_id.get(root_id)
        first = min(order_key(o) for o in rows)
        key = (first[0], first[1], root_id)
        if (root is not None and is_mleg_parent(root)) or (
            root is None and any(is_option(o) for o in rows)
        ):
            kind = "mleg"
        elif any(is_option(o) for o in rows):
            kind = "option"
        else:
            kind = "equity"
        units.append(Group(kind=kind, anchor=root_id, key=key, rows=rows))
    return units


def _window(units: list[Group]) -> list[Group]:
    """Merge option orders (outside an mleg) on one underlying and expiry placed within the
    window of the group's first order. Orders with closing intents window separately, so a
    close placed right after an open can still join the trade it closes."""
    groups = [u for u in units if u.kind != "option"]
    buckets: dict[tuple[str, date | None, bool], list[Group]] = defaultdict(list)
    for unit in units:
        if unit.kind != "option":
            continue
        head = min(unit.rows, key=order_key)
        contract = contract_of(head)
        closing = all(_is_closing_intent(o) for o in unit.legs)
        expiry = contract.expiry if contract else None
        buckets[(underlying_of(head), expiry, closing)].append(unit)
    for (_underlying, expiry, _closing), members in buckets.items():
        members.sort(key=lambda u: u.key)
        current: Group | None = None
        for unit in members:
            # current.key is the group's first order: the window does not slide.
            if (
                current is not None
                and expiry is not None
                and not current.key[0]
                and not unit.key[0]
                and unit.key[1] - current.key[1] <= OPTION_WINDOW
            ):
                current.rows.extend(unit.rows)
                continue
            current = Group(kind="option", anchor=unit.anchor, key=unit.key, rows=list(unit.rows))
            groups.append(current)
    for group in groups:
        group.rows.sort(key=order_key)
    return groups


def _closed_trade(group: Group, trades: Sequence[Trade]) -> Trade | None:
    """The earlier, still open trade `group` exactly closes, if any (the oldest when several)."""
    legs = group.legs
    if not legs:
        return None
    symbols = {o.symbol for o in legs}
    with_intents = all(o.position_intent for o in legs)
    if with_intents and not all(_is_closing_intent(o) for o in legs):
        return None  # it opens something: a new trade (a roll is one too)
    candidates = [t for t in trades if t.opener.kind != "equity"]  # oldest first
    # Explicit closing intents may close part of a trade's contracts (one side of a condor);
    # the trade holding exactly these contracts is preferred.
    for exact in (True, False):
        for trade in candidates:
            open_now = trade.open_position()
            if not open_now:
                continue
            if exact and set(open_now) != symbols:
                continue
            if not exact and (not with_intents or not symbols <= set(open_now)):
                continue
            if with_intents and _closes_by_intent(legs, open_now):
                return trade
            if not with_intents and _offsets(group, open_now):
                return trade
    return None


def _closes_by_intent(legs: list[MirrorOrder], open_now: dict[str, Decimal]) -> bool:
    for order in legs:
        side = _CLOSING_INTENTS[order.position_intent or ""]
        if order.side not in (None, side):
            return False
        held = open_now.get(order.symbol, Decimal(0))
        # buy_to_close covers a short (negative) position; sell_to_close a long one.
        if (side == "buy" and held >= 0) or (side == "sell" and held <= 0):
            return False
    return True


def _offsets(group: Group, open_now: dict[str, Decimal]) -> bool:
    net = group.position()
    if set(s for s, q in net.items() if q != 0) != set(open_now):
        return False
    for order in group.legs:
        held = open_now[order.symbol]
        # Every order must be on the closing side of its contract.
        if signed(order, Decimal(1)) * held >= 0:
            return False
    return all(net[s] == -q for s, q in open_now.items())


def strategy_of(group: Group) -> str:
    """The strategy a group opens: "equity", or detect_strategy over its opening legs."""
    if group.kind == "equity":
        return "equity"
    legs, contracts = opening_legs(group)
    if contracts == 1:
        return "single_leg"
    if len(legs) != contracts:
        return "options"  # a contract we cannot read: the shape is unknown
    return detect_strategy(legs)


def opening_legs(group: Group) -> tuple[list[OptionLeg], int]:
    """The group's opening orders as distinct contracts, ratios reduced by their gcd (2 calls
    and 2 puts read 1:1; an mleg's legs use ratio_qty), and how many distinct contracts there
    are (more than the legs when a contract cannot be read)."""
    orders = group.opening_orders()
    use_ratio = group.kind == "mleg" and all(o.ratio_qty for o in orders)
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    sides: dict[str, str | None] = {}
    contracts: dict[str, OccSymbol | None] = {}
    for order in orders:
        if use_ratio:
            amount = order.ratio_qty or Decimal(0)
        else:
            amount = order.qty or order.filled_qty or Decimal(1)
        amounts[order.symbol] += amount
        sides.setdefault(order.symbol, order.side)
        contracts.setdefault(order.symbol, contract_of(order))
    divisor = decimal_gcd(amounts.values()) or Decimal(1)
    legs = []
    for symbol in sorted(amounts):
        contract = contracts[symbol]
        side = sides[symbol]
        if contract is None or side is None:
            continue
        legs.append(
            OptionLeg(
                symbol=symbol,
                option_type=contract.option_type,
                strike=contract.strike,
                expiry=contract.expiry,
                side=side,
                ratio=amounts[symbol] / divisor,
            )
        )
    return legs, len(amounts)
