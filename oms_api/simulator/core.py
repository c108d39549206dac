"""The broker's configuration and state, and the plumbing every part of it shares: one
re-entrant lock, seeded ids, trade events, whether the market is open, the account's margin and
buying power, and what its open orders reserve.
"""

from __future__ import annotations

import dataclasses
import random
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from oms_api.simulator.clock import (
    Clock,
    ManualClock,
    MarketMode,
    calendar_in_extended_hours,
    calendar_is_open,
)
from oms_api.simulator.errors import invalid
from oms_api.simulator.market import MarketModel, bid_ask
from oms_api.simulator.orders import BalanceChange, Fill, Position, SimOrder, dec, rfc3339
from oms_api.simulator.universe import Asset, built_in_assets

QTY_PLACES = 9  # Alpaca accepts fractional quantities to 9 decimal places
MIN_EQUITY_TO_SHORT = Decimal("2000")  # Alpaca: below it, "account is not allowed to short"
SHORT_SALE_ASK_MARKUP = Decimal("1.03")  # a short sale is valued at 3% above the ask
LOW_PRICED_LONG = Decimal("2.5")  # below it, a long's maintenance margin is 100%
LOW_PRICED_SHORT = Decimal("5")  # below it, a short's is $2.50 a share or 100%
TradeEventSink = Callable[[dict[str, Any]], None]


@dataclass
class BrokerConfig:
    seed: int = 42
    starting_cash: Decimal = Decimal("100000")
    market_mode: MarketMode = MarketMode.OPEN
    fill_parts: int = 1  # market orders fill in this many partial fills
    fill_interval_seconds: float = 0.0  # simulator time between partial fills
    cancel_delay_seconds: float = 0.0  # pending_cancel lasts this long
    price_step_seconds: float = 1.0
    max_step_bps: int = 8  # 0 freezes prices between explicit set_price calls
    account_number: str = "PA3SIMULATOR"
    account_id: str = "a5a7c8e2-6b0f-4f57-9c55-5e0b0c1d9f01"


@dataclass
class BrokerState:
    cash: Decimal
    last_equity: Decimal
    assets: dict[str, Asset]
    orders: dict[str, SimOrder] = field(default_factory=dict)
    by_client_id: dict[str, SimOrder] = field(default_factory=dict)
    # Every client_order_id this account ever used: reuse is refused even after cancel.
    used_client_ids: set[str] = field(default_factory=set)
    positions: dict[str, Position] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    balance_changes: list[BalanceChange] = field(default_factory=list)


class BrokerCore:
    """All broker state sits behind one re-entrant lock; public methods take it."""

    def __init__(self, clock: Clock, config: BrokerConfig | None = None) -> None:
        self.clock = clock
        self._initial_config = config or BrokerConfig()
        self._clock_start = clock.now()
        self._lock = threading.RLock()
        self._sinks: list[TradeEventSink] = []
        self.reset()

    # ------------------------------------------------------------------ plumbing
    def subscribe(self, sink: TradeEventSink) -> None:
        self._sinks.append(sink)

    def reset(self, seed: int | None = None, cash: Decimal | None = None) -> None:
        """Back to a new account on the initial configuration (a manual clock rewinds too)."""
        with self._lock:
            self.config = dataclasses.replace(self._initial_config)
            if seed is not None:
                self.config.seed = seed
            if cash is not None:
                self.config.starting_cash = cash
            if isinstance(self.clock, ManualClock):
                self.clock.rewind(self._clock_start)
            now = self.clock.now()
            # Alpaca never gives two orders the same id, not even across accounts or years: the
            # seed decides prices, never ids, so an OMS database that outlives a simulator run
            # (`oms up` again) meets no id it already holds.
            self._rng = random.Random(f"ids:{secrets.token_hex(16)}")
            self.market = MarketModel(
                self.config.seed, now, self.config.price_step_seconds, self.config.max_step_bps
            )
            self.state = BrokerState(
                cash=self.config.starting_cash,
                last_equity=self.config.starting_cash,
                assets=built_in_assets(),
            )
            for asset in self.state.assets.values():
                self.market.add(asset.symbol, asset.price)
            self._last_work = now
            self._was_open = self._market_open(now)
            self._pending_events: list[dict[str, Any]] = []

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _emit(
        self,
        name: str,
        order: SimOrder,
        fill: Fill | None = None,
        position_qty: Decimal | None = None,
    ) -> None:
        """Queue a trade_updates message; the order is captured as it is at this moment."""
        if position_qty is None:
            position = self.state.positions.get(order.symbol)
            position_qty = position.qty if position else Decimal(0)
        data: dict[str, Any] = {
            "event": name,
            "execution_id": fill.execution_id if fill else self._new_id(),
            "order": order.to_json(),
            "timestamp": rfc3339(self.clock.now()),
            "position_qty": dec(position_qty),
        }
        if fill is not None:
            data["price"] = dec(fill.price)
            data["qty"] = dec(fill.qty)
        self._pending_events.append({"stream": "trade_updates", "data": data})

    def _flush_events(self) -> None:
        events, self._pending_events = self._pending_events, []
        for payload in events:
            for sink in list(self._sinks):
                sink(payload)

    # ------------------------------------------------------------------ market state
    def _market_open(self, now: datetime) -> bool:
        mode = self.config.market_mode
        if mode is MarketMode.OPEN:
            return True
        if mode is MarketMode.CLOSED:
            return False
        return calendar_is_open(now)

    def _extended_session(self, now: datetime) -> bool:
        mode = self.config.market_mode
        if mode is MarketMode.OPEN:
            return True
        if mode is MarketMode.CLOSED:
            return False
        return calendar_in_extended_hours(now)

    def _asset(self, symbol: str) -> Asset:
        asset = self.state.assets.get(symbol)
        if asset is None:
            raise invalid(f'asset "{symbol}" not found')
        return asset

    def _symbol_for(self, symbol_or_asset_id: str) -> str:
        """Alpaca names an asset or a position by its symbol or by its asset id."""
        symbol = symbol_or_asset_id.upper()
        if symbol not in self.state.assets:
            for asset in self.state.assets.values():
                if asset.id == symbol_or_asset_id.lower():
                    return asset.symbol
        return symbol

    # ------------------------------------------------------------------ positions and margin
    def _position_qty(self, symbol: str) -> Decimal:
        """Shares held: negative for a short."""
        position = self.state.positions.get(symbol)
        return position.qty if position else Decimal(0)

    def _market_values(self) -> tuple[Decimal, Decimal]:
        """(long, short) market value of the positions; the short one is negative, as Alpaca
        reports short_market_value."""
        long_value = short_value = Decimal(0)
        for position in self.state.positions.values():
            value = position.qty * self.market.price(position.symbol)
            if value >= 0:
                long_value += value
            else:
                short_value += value
        return long_value, short_value

    def _equity(self) -> Decimal:
        long_value, short_value = self._market_values()
        return self.state.cash + long_value + short_value

    def _initial_margin(self) -> Decimal:
        """A 1x account pays for every position in full, long or short."""
        long_value, short_value = self._market_values()
        return long_value - short_value

    def _maintenance_margin(self) -> Decimal:
        """Alpaca's overnight requirement: a long 30% of its value (100% under $2.50 a share);
        a short the greater of $5 a share or 30% (of $2.50 a share or 100% under $5)."""
        required = Decimal(0)
        for position in self.state.positions.values():
            price = self.market.price(position.symbol)
            shares = abs(position.qty)
            value = shares * price
            if position.qty > 0:
                required += value * (Decimal("0.3") if price >= LOW_PRICED_LONG else 1)
            elif price >= LOW_PRICED_SHORT:
                required += max(shares * Decimal(5), value * Decimal("0.3"))
            else:
                required += max(shares * Decimal("2.5"), value)
        return required

    def buying_power(self) -> Decimal:
        """Equity less the initial margin of the positions and the value of the open orders
        that would open or add to one. The longs' value cancels out (equity counts it, the
        margin takes it back), so with nothing short this is cash less open buys, as Alpaca's
        1x rule (`buying_power = cash`) has it. Summed without the longs to stay exact."""
        _, short_value = self._market_values()
        return self.state.cash + 2 * short_value - self._reserved_for_opening_orders()

    def _may_short(self) -> bool:
        return self._equity() >= MIN_EQUITY_TO_SHORT

    # ------------------------------------------------------------------ reservations
    def _short_sale_value(self, symbol: str, qty: Decimal, limit_price: Decimal | None) -> Decimal:
        """Alpaca's value of an opening short sale: MAX(limit price, 3% above the ask) x qty."""
        _, ask = bid_ask(self.market.price(symbol))
        return qty * max(limit_price or Decimal(0), ask * SHORT_SALE_ASK_MARKUP)

    def _reserved_for_opening_orders(self) -> Decimal:
        """Open orders that open or add to a position hold buying power until they execute
        (Alpaca); closing ones (a sell of a long, a buy to cover) hold none."""
        reserved = Decimal(0)
        for order in self.state.orders.values():
            if not order.is_open or order.status == "held":
                continue
            if order.position_intent == "buy_to_open":
                if order.qty is None and order.notional is not None and order.fill_plan is None:
                    reserved += order.notional
                    continue
                remaining = (order.total_qty or Decimal(0)) - order.filled_qty
                price = order.limit_price or order.stop_price or self.market.price(order.symbol)
                reserved += remaining * price
            elif order.position_intent == "sell_to_open":
                remaining = (order.total_qty or Decimal(0)) - order.filled_qty
                reserved += self._short_sale_value(order.symbol, remaining, order.limit_price)
        return reserved

    def _held_by_orders(self, symbol: str, side: str) -> tuple[Decimal, list[SimOrder]]:
        """Shares that open orders on `side` of `symbol` already claim, and those orders."""
        held = Decimal(0)
        holding: list[SimOrder] = []
        counted_brackets: set[str] = set()
        for order in self.state.orders.values():
            if order.symbol != symbol or order.side != side:
                continue
            if not order.is_open:
                continue
            holding.append(order)
            # A bracket's two exit legs share one position: count the pair once.
            if order.parent_id is not None:
                if order.parent_id in counted_brackets:
                    continue
                counted_brackets.add(order.parent_id)
            held += (order.total_qty or Decimal(0)) - order.filled_qty
        return held, holding
