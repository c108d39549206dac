"""The broker's configuration and state, and the plumbing every part of it shares: one
re-entrant lock, seeded ids, trade events, whether the market is open, and what the account's
open orders reserve.
"""

from __future__ import annotations

import dataclasses
import random
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
from oms_api.simulator.market import MarketModel
from oms_api.simulator.orders import Fill, Position, SimOrder, dec, rfc3339
from oms_api.simulator.universe import Asset, built_in_assets

QTY_PLACES = 9  # Alpaca accepts fractional quantities to 9 decimal places
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
            self._rng = random.Random(f"ids:{self.config.seed}")
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

    # ------------------------------------------------------------------ reservations
    def _reserved_for_buys(self) -> Decimal:
        reserved = Decimal(0)
        for order in self.state.orders.values():
            if order.side != "buy" or not order.is_open or order.status == "held":
                continue
            if order.qty is None and order.notional is not None and order.fill_plan is None:
                reserved += order.notional
                continue
            remaining = (order.total_qty or Decimal(0)) - order.filled_qty
            price = order.limit_price or order.stop_price or self.market.price(order.symbol)
            reserved += remaining * price
        return reserved

    def _held_for_sells(self, symbol: str, exclude: SimOrder | None = None) -> Decimal:
        held = Decimal(0)
        counted_brackets: set[str] = set()
        for order in self.state.orders.values():
            if order is exclude or order.symbol != symbol or order.side != "sell":
                continue
            if not order.is_open:
                continue
            # A bracket's two exit legs share one position: count the pair once.
            if order.parent_id is not None:
                if order.parent_id in counted_brackets:
                    continue
                counted_brackets.add(order.parent_id)
            held += (order.total_qty or Decimal(0)) - order.filled_qty
        return held

    def _long_market_value(self) -> Decimal:
        return sum(
            (p.qty * self.market.price(p.symbol) for p in self.state.positions.values()),
            Decimal(0),
        )

    def buying_power(self) -> Decimal:
        return self.state.cash - self._reserved_for_buys()
