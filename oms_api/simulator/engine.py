"""The simulated brokerage: account, orders, matching, positions and trade events.

One `Broker` holds all state behind a re-entrant lock. Every public method takes the lock, does
its work, then lets the matching engine catch up with the clock (`_work`). Replies are built
before matching runs, so a market order answers `new` and its fill follows on the stream, as on
Alpaca. Trade events go to subscribers (the websocket hub) through a callback.
"""

from __future__ import annotations

import dataclasses
import random
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from oms_api.simulator.clock import (
    NEW_YORK,
    Clock,
    ManualClock,
    MarketMode,
    calendar_in_extended_hours,
    calendar_is_open,
    clock_times,
    is_trading_day,
    next_sessions,
)
from oms_api.simulator.errors import (
    SimAPIError,
    duplicate_client_order_id,
    forbidden,
    invalid,
    malformed,
    not_found,
)
from oms_api.simulator.market import MarketModel, round_price
from oms_api.simulator.orders import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    WORKING_STATUSES,
    Fill,
    Position,
    SimOrder,
    dec,
    rfc3339,
)
from oms_api.simulator.universe import EQUITY_SYMBOL, OPTION_SYMBOL, Asset, built_in_assets

ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
TIME_IN_FORCE = ("day", "gtc", "opg", "cls", "ioc", "fok")
QTY_PLACES = 9  # Alpaca accepts fractional quantities to 9 decimal places
MAX_CLIENT_ORDER_ID = 128
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


class Broker:
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

    def _done(self) -> None:
        """Catch the engine up with the clock, then publish what happened."""
        self._work()
        self._flush_events()

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

    def clock_json(self) -> dict[str, Any]:
        with self._lock:
            self._done()
            now = self.clock.now()
            next_open, next_close = clock_times(now)
            is_open = self._market_open(now)
            if self.config.market_mode is MarketMode.OPEN and not calendar_is_open(now):
                next_close = next_sessions(now, 1)[0].close
            return {
                "timestamp": now.astimezone(NEW_YORK).isoformat(timespec="microseconds"),
                "is_open": is_open,
                "next_open": next_open.astimezone(NEW_YORK).isoformat(),
                "next_close": next_close.astimezone(NEW_YORK).isoformat(),
            }

    def _symbol_for(self, symbol_or_asset_id: str) -> str:
        """Alpaca names an asset or a position by its symbol or by its asset id."""
        symbol = symbol_or_asset_id.upper()
        if symbol not in self.state.assets:
            for asset in self.state.assets.values():
                if asset.id == symbol_or_asset_id.lower():
                    return asset.symbol
        return symbol

    def asset_json(self, symbol: str) -> dict[str, Any]:
        with self._lock:
            asset = self.state.assets.get(self._symbol_for(symbol))
            if asset is None:
                raise not_found(f"asset not found for {symbol}")
            return asset.to_json()

    # ------------------------------------------------------------------ account
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

    def account_json(self) -> dict[str, Any]:
        with self._lock:
            self._done()
            long_value = self._long_market_value()
            equity = self.state.cash + long_value
            buying_power = max(self.buying_power(), Decimal(0))
            cfg = self.config
            return {
                "id": cfg.account_id,
                "admin_configurations": {},
                "user_configurations": None,
                "account_number": cfg.account_number,
                "status": "ACTIVE",
                "crypto_status": "INACTIVE",
                "options_approved_level": 0,
                "options_trading_level": 0,
                "currency": "USD",
                "buying_power": dec(buying_power),
                "regt_buying_power": dec(buying_power),
                "daytrading_buying_power": "0",
                "effective_buying_power": dec(buying_power),
                "non_marginable_buying_power": dec(buying_power),
                "options_buying_power": dec(buying_power),
                "bod_dtbp": "0",
                "cash": dec(self.state.cash),
                "accrued_fees": "0",
                "pending_transfer_in": "0",
                "pending_transfer_out": "0",
                "portfolio_value": dec(equity),
                "pattern_day_trader": False,
                "trading_blocked": False,
                "transfers_blocked": False,
                "account_blocked": False,
                "created_at": "2024-01-02T14:30:00.000000Z",
                "trade_suspended_by_user": False,
                "multiplier": "1",
                "shorting_enabled": False,
                "equity": dec(equity),
                "last_equity": dec(self.state.last_equity),
                "long_market_value": dec(long_value),
                "short_market_value": "0",
                "position_market_value": dec(long_value),
                "initial_margin": dec(long_value),
                "maintenance_margin": dec(long_value * Decimal("0.3")),
                "last_maintenance_margin": "0",
                "sma": "0",
                "daytrade_count": 0,
                "balance_asof": self.clock.now().astimezone(NEW_YORK).date().isoformat(),
                "crypto_tier": 0,
                "intraday_adjustments": "0",
                "pending_reg_taf_fees": "0",
            }

    # ------------------------------------------------------------------ order intake
    def submit_order(self, body: Any, reject_after_accept: bool = False) -> dict[str, Any]:
        """Place an order. `reject_after_accept` acts out a venue rejection: the order is
        accepted, then rejected before it can trade (a `rejected` trade event)."""
        with self._lock:
            self._work()
            order = self._validate_new_order(body)
            self._accept(order)
            reply = order.to_json()
            if reject_after_accept:
                self._reject(order)
            self._done()
            return reply

    def _reject(self, order: SimOrder) -> None:
        now = self.clock.now()
        order.status = "rejected"
        order.failed_at = now
        order.updated_at = now
        order.fill_plan = []
        self._emit("rejected", order)
        for leg in order.legs:
            self._finish(leg, "canceled")

    def _validate_new_order(self, body: Any) -> SimOrder:
        if not isinstance(body, dict):
            raise malformed()
        symbol = _text(body, "symbol")
        if not symbol:
            raise invalid("symbol is required")
        symbol = symbol.upper()
        side = _choice(body, "side", ("buy", "sell"), required=True)
        order_type = _choice(body, "type", (*ORDER_TYPES, "trailing_stop"), required=True)
        if order_type == "trailing_stop":
            raise invalid("trailing_stop orders are not supported by the simulator")
        tif = _choice(body, "time_in_force", TIME_IN_FORCE, required=True)
        order_class = _choice(
            body, "order_class", ("simple", "bracket", "oco", "oto", "mleg", ""), required=False
        )
        order_class = order_class or "simple"
        if order_class not in ("simple", "bracket"):
            raise invalid(f"order_class {order_class} is not supported by the simulator")
        extended_hours = _boolean(body, "extended_hours")

        qty = _decimal(body, "qty")
        notional = _decimal(body, "notional")
        if qty is None and notional is None:
            raise invalid("qty or notional is required")
        if qty is not None and notional is not None:
            raise invalid("only one of qty or notional may be specified")
        if qty is not None:
            if qty <= 0:
                raise invalid("qty must be > 0")
            if -qty.as_tuple().exponent > QTY_PLACES:  # type: ignore[operator]
                raise invalid(f"qty must have at most {QTY_PLACES} decimal places")
        if notional is not None:
            if notional <= 0:
                raise invalid("notional must be > 0")
            if -notional.as_tuple().exponent > 2:  # type: ignore[operator]
                raise invalid("notional must have at most 2 decimal places")

        limit_price = _price(body, "limit_price")
        stop_price = _price(body, "stop_price")
        if order_type in ("limit", "stop_limit") and limit_price is None:
            raise invalid(f"limit_price is required for {order_type} orders")
        if order_type in ("stop", "stop_limit") and stop_price is None:
            raise invalid(f"stop_price is required for {order_type} orders")
        if order_type in ("market", "stop") and limit_price is not None:
            raise invalid(f"limit_price must not be set for {order_type} orders")
        if order_type in ("market", "limit") and stop_price is not None:
            raise invalid(f"stop_price must not be set for {order_type} orders")

        if not (EQUITY_SYMBOL.match(symbol) or OPTION_SYMBOL.match(symbol)):
            raise invalid(f'asset "{symbol}" not found')
        asset = self._asset(symbol)
        if not asset.tradable:
            raise invalid(f"asset {symbol} is not tradable")

        fractional = notional is not None or (qty is not None and qty != qty.to_integral_value())
        if fractional:
            if not asset.fractionable:
                raise invalid(f"requested asset {symbol} is not fractionable")
            if tif != "day":
                raise invalid("fractional orders must be DAY orders")
            if order_type not in ("market", "limit"):
                raise invalid("fractional orders must be market or limit orders")
        if extended_hours and not (order_type == "limit" and tif == "day"):
            raise invalid("extended hours order must be DAY limit orders")
        if tif in ("opg", "cls") and order_type not in ("market", "limit"):
            raise invalid(f"{tif} orders must be market or limit orders")
        if tif in ("opg", "cls") and self._auction_cutoff_passed(tif):
            # Alpaca: OPG after 9:28 and CLS after 15:50 are refused until 19:00 ET.
            raise invalid(f"{tif} orders are not accepted at this time")

        take_profit = body.get("take_profit")
        stop_loss = body.get("stop_loss")
        if order_class == "simple" and (take_profit or stop_loss):
            raise invalid("take_profit and stop_loss are only allowed for bracket orders")

        now = self.clock.now()
        order = SimOrder(
            id=self._new_id(),
            client_order_id="",
            symbol=symbol,
            asset_id=asset.id,
            asset_class=asset.asset_class,
            side=side,
            type=order_type,
            time_in_force=tif,
            qty=qty,
            notional=notional,
            limit_price=limit_price,
            stop_price=stop_price,
            extended_hours=extended_hours,
            order_class=order_class,
            status="new",
            created_at=now,
            updated_at=now,
            submitted_at=now,
            position_intent="buy_to_open" if side == "buy" else "sell_to_close",
        )
        if order_class == "bracket":
            self._attach_bracket_legs(order, take_profit, stop_loss, fractional)

        client_order_id = body.get("client_order_id")
        if client_order_id is None or client_order_id == "":
            client_order_id = self._new_id()
        elif not isinstance(client_order_id, str):
            raise invalid("client_order_id must be a string")
        elif len(client_order_id) > MAX_CLIENT_ORDER_ID:
            raise invalid(f"client_order_id must be no more than {MAX_CLIENT_ORDER_ID} characters")
        if client_order_id in self.state.used_client_ids:
            raise duplicate_client_order_id()
        order.client_order_id = client_order_id

        self._check_funds(order)
        return order

    def _attach_bracket_legs(
        self, order: SimOrder, take_profit: Any, stop_loss: Any, fractional: bool
    ) -> None:
        if fractional:
            raise invalid("fractional orders must be simple orders")
        if order.time_in_force not in ("day", "gtc"):
            raise invalid("bracket orders must be DAY or GTC orders")
        if order.extended_hours:
            raise invalid("extended hours are not supported for bracket orders")
        if order.type not in ("market", "limit"):
            raise invalid("bracket orders must be market or limit orders")
        if not isinstance(take_profit, dict) or not isinstance(stop_loss, dict):
            raise invalid("bracket orders require take_profit and stop_loss")
        tp_limit = _price(take_profit, "limit_price", "take_profit.limit_price")
        sl_stop = _price(stop_loss, "stop_price", "stop_loss.stop_price")
        sl_limit = _price(stop_loss, "limit_price", "stop_loss.limit_price")
        if tp_limit is None:
            raise invalid("take_profit.limit_price is required")
        if sl_stop is None:
            raise invalid("stop_loss.stop_price is required")
        base = order.limit_price or self.market.price(order.symbol)
        penny = Decimal("0.01")
        if order.side == "buy":
            if tp_limit < base + penny:
                raise invalid(f"take_profit.limit_price must be >= base_price + 0.01 ({base})")
            if sl_stop > base - penny:
                raise invalid(f"stop_loss.stop_price must be <= base_price - 0.01 ({base})")
        else:
            if tp_limit > base - penny:
                raise invalid(f"take_profit.limit_price must be <= base_price - 0.01 ({base})")
            if sl_stop < base + penny:
                raise invalid(f"stop_loss.stop_price must be >= base_price + 0.01 ({base})")
        if sl_limit is not None and (
            (order.side == "buy" and sl_limit > sl_stop)
            or (order.side == "sell" and sl_limit < sl_stop)
        ):
            raise invalid("stop_loss.limit_price must not be beyond stop_loss.stop_price")
        exit_side = "sell" if order.side == "buy" else "buy"
        legs = (
            ("take_profit", "limit", tp_limit, None),
            ("stop_loss", "stop_limit" if sl_limit is not None else "stop", sl_limit, sl_stop),
        )
        for role, leg_type, leg_limit, leg_stop in legs:
            leg = SimOrder(
                id=self._new_id(),
                client_order_id=self._new_id(),
                symbol=order.symbol,
                asset_id=order.asset_id,
                asset_class=order.asset_class,
                side=exit_side,
                type=leg_type,
                time_in_force=order.time_in_force,
                qty=order.qty,
                notional=None,
                limit_price=leg_limit,
                stop_price=leg_stop,
                extended_hours=False,
                order_class="bracket",
                status="held",
                created_at=order.created_at,
                updated_at=order.created_at,
                submitted_at=order.created_at,
                parent_id=order.id,
                leg_role=role,
                position_intent="sell_to_close" if exit_side == "sell" else "buy_to_close",
            )
            order.legs.append(leg)

    def _check_funds(self, order: SimOrder) -> None:
        if order.side == "buy":
            if order.notional is not None:
                cost = order.notional
            else:
                price = order.limit_price or order.stop_price or self.market.price(order.symbol)
                cost = (order.qty or Decimal(0)) * price
            buying_power = self.buying_power()
            if cost > buying_power:
                raise forbidden(
                    "insufficient buying power",
                    buying_power=dec(max(buying_power, Decimal(0))),
                    cost_basis=dec(cost.quantize(Decimal("0.01"))),
                )
            return
        position = self.state.positions.get(order.symbol)
        held_qty = position.qty if position else Decimal(0)
        available = held_qty - self._held_for_sells(order.symbol)
        if order.notional is not None:
            wanted = (order.notional / self.market.price(order.symbol)).quantize(
                Decimal(1).scaleb(-QTY_PLACES), rounding=ROUND_DOWN
            )
        else:
            wanted = order.qty or Decimal(0)
        if wanted > available:
            raise forbidden(
                f"insufficient qty available for order (requested: {dec(wanted)}, "
                f"available: {dec(max(available, Decimal(0)))})",
                available=dec(max(available, Decimal(0))),
                existing_qty=dec(held_qty),
                held_for_orders=dec(held_qty - max(available, Decimal(0))),
                symbol=order.symbol,
            )

    def _accept(self, order: SimOrder) -> None:
        now = self.clock.now()
        self.state.orders[order.id] = order
        self.state.by_client_id[order.client_order_id] = order
        self.state.used_client_ids.add(order.client_order_id)
        for leg in order.legs:
            self.state.orders[leg.id] = leg
            self.state.by_client_id[leg.client_order_id] = leg
            self.state.used_client_ids.add(leg.client_order_id)
        routable = self._market_open(now) or (order.extended_hours and self._extended_session(now))
        if order.time_in_force == "opg":
            routable = False  # waits for the opening auction
        order.status = "new" if routable else "accepted"
        if routable:
            self._emit("new", order)

    # ------------------------------------------------------------------ queries
    def list_orders(self, params: dict[str, str]) -> list[dict[str, Any]]:
        with self._lock:
            self._done()
            status = (params.get("status") or "open").lower()
            if status not in ("open", "closed", "all"):
                raise invalid(f"invalid status {status}")
            limit = _int_param(params, "limit", 50)
            if not 1 <= limit <= 500:
                raise invalid("limit must be between 1 and 500")
            direction = (params.get("direction") or "desc").lower()
            if direction not in ("asc", "desc"):
                raise invalid(f"invalid direction {direction}")
            nested = _bool_param(params, "nested")
            after = _time_param(params, "after")
            until = _time_param(params, "until")
            symbols = {
                s.strip().upper() for s in (params.get("symbols") or "").split(",") if s.strip()
            }
            side = (params.get("side") or "").lower() or None

            selected = []
            for order in self.state.orders.values():
                if nested and order.parent_id is not None:
                    continue
                if status == "open" and order.status not in OPEN_STATUSES:
                    continue
                if status == "closed" and order.status not in CLOSED_STATUSES:
                    continue
                submitted = order.submitted_at or order.created_at
                if after is not None and submitted <= after:
                    continue
                if until is not None and submitted >= until:
                    continue
                if symbols and order.symbol not in symbols:
                    continue
                if side and order.side != side:
                    continue
                selected.append(order)
            selected.sort(
                key=lambda o: (o.submitted_at or o.created_at, o.id), reverse=direction == "desc"
            )
            return [o.to_json(nested=nested) for o in selected[:limit]]

    def _order(self, order_id: str) -> SimOrder:
        try:
            uuid.UUID(order_id)
        except ValueError:
            raise invalid(f"invalid order id {order_id}") from None
        order = self.state.orders.get(order_id)
        if order is None:
            raise not_found("order not found")
        return order

    def get_order(self, order_id: str, nested: bool = False) -> dict[str, Any]:
        with self._lock:
            self._done()
            return self._order(order_id).to_json(nested=nested)

    def get_order_by_client_id(self, client_order_id: str) -> dict[str, Any]:
        with self._lock:
            self._done()
            order = self.state.by_client_id.get(client_order_id)
            if order is None:
                raise not_found("order not found")
            return order.to_json()

    # ------------------------------------------------------------------ cancel / replace
    def cancel_order(self, order_id: str) -> None:
        with self._lock:
            self._work()
            self._request_cancel(self._order(order_id))
            self._done()

    def _request_cancel(self, order: SimOrder) -> None:
        if order.status in CLOSED_STATUSES:
            raise invalid(f'order is already in "{order.status}" state')
        if order.status == "pending_cancel":
            return
        order.status = "pending_cancel"
        order.updated_at = self.clock.now()
        order.cancel_requested_at = self.clock.now()
        self._emit("pending_cancel", order)
        for leg in order.legs:
            if leg.is_open:
                self._finish(leg, "canceled")

    def _cancels_with_parent(self, order: SimOrder) -> bool:
        """A bracket leg whose entry is still open goes when the entry is canceled."""
        if order.parent_id is None:
            return False
        return self.state.orders[order.parent_id].is_open

    def cancel_all(self) -> list[dict[str, Any]]:
        with self._lock:
            self._work()
            results = []
            for order in list(self.state.orders.values()):
                if not order.is_open or self._cancels_with_parent(order):
                    continue
                try:
                    self._request_cancel(order)
                    results.append({"id": order.id, "status": 200, "body": None})
                except SimAPIError as error:
                    results.append({"id": order.id, "status": error.status, "body": error.body})
            self._done()
            return results

    def replace_order(self, order_id: str, body: Any) -> dict[str, Any]:
        with self._lock:
            self._work()
            old = self._order(order_id)
            if not isinstance(body, dict):
                raise malformed()
            if old.status not in ("new", "accepted", "held"):
                raise invalid(f'order is already in "{old.status}" state')
            if old.type == "market":
                raise invalid("market orders cannot be replaced")
            if old.parent_id is None and old.legs:
                raise invalid("replace the legs of a bracket order, not its entry")
            qty = _decimal(body, "qty")
            if qty is not None and qty <= 0:
                raise invalid("qty must be > 0")
            tif = _choice(body, "time_in_force", TIME_IN_FORCE, required=False)
            limit_price = _price(body, "limit_price")
            stop_price = _price(body, "stop_price")
            if limit_price is not None and old.type not in ("limit", "stop_limit"):
                raise invalid(f"limit_price must not be set for {old.type} orders")
            if stop_price is not None and old.type not in ("stop", "stop_limit"):
                raise invalid(f"stop_price must not be set for {old.type} orders")
            client_order_id = body.get("client_order_id") or self._new_id()
            if client_order_id in self.state.used_client_ids:
                raise duplicate_client_order_id()
            now = self.clock.now()
            new = SimOrder(
                id=self._new_id(),
                client_order_id=client_order_id,
                symbol=old.symbol,
                asset_id=old.asset_id,
                asset_class=old.asset_class,
                side=old.side,
                type=old.type,
                time_in_force=tif or old.time_in_force,
                qty=qty if qty is not None else old.qty,
                notional=old.notional,
                limit_price=limit_price or old.limit_price,
                stop_price=stop_price or old.stop_price,
                extended_hours=old.extended_hours,
                order_class=old.order_class,
                status=old.status,
                created_at=now,
                updated_at=now,
                submitted_at=now,
                replaces=old.id,
                parent_id=old.parent_id,
                leg_role=old.leg_role,
                position_intent=old.position_intent,
            )
            # Funds are checked as if the old order were already gone.
            old_status, old.status = old.status, "replaced"
            try:
                self._check_funds(new)
            except SimAPIError:
                old.status = old_status
                raise
            old.replaced_by = new.id
            old.replaced_at = now
            old.updated_at = now
            self.state.orders[new.id] = new
            self.state.by_client_id[new.client_order_id] = new
            self.state.used_client_ids.add(new.client_order_id)
            if old.parent_id is not None:
                parent = self.state.orders[old.parent_id]
                parent.legs = [new if leg is old else leg for leg in parent.legs]
            self._emit("replaced", old)
            if new.status == "new":
                self._emit("new", new)
            reply = new.to_json()
            self._done()
            return reply

    # ------------------------------------------------------------------ positions
    def _position_json(self, position: Position) -> dict[str, Any]:
        asset = self.state.assets[position.symbol]
        path = self.market.path(position.symbol)
        return position.to_json(
            path.price,
            path.prev_close,
            min(self._held_for_sells(position.symbol), position.qty),
            asset.marginable,
        )

    def positions_json(self) -> list[dict[str, Any]]:
        with self._lock:
            self._done()
            return [
                self._position_json(p)
                for p in sorted(self.state.positions.values(), key=lambda p: p.symbol)
            ]

    def position_json(self, symbol: str) -> dict[str, Any]:
        with self._lock:
            self._done()
            position = self.state.positions.get(self._symbol_for(symbol))
            if position is None:
                raise not_found("position does not exist")
            return self._position_json(position)

    def close_position(
        self, symbol: str, qty: str | None = None, percentage: str | None = None
    ) -> dict[str, Any]:
        with self._lock:
            self._work()
            order = self._close_position_order(self._symbol_for(symbol), qty, percentage)
            reply = order.to_json()
            self._done()
            return reply

    def _close_position_order(
        self, symbol: str, qty: str | None, percentage: str | None
    ) -> SimOrder:
        position = self.state.positions.get(symbol)
        if position is None:
            raise not_found("position does not exist")
        if qty is not None and percentage is not None:
            raise invalid("only one of qty or percentage may be specified")
        amount = position.qty
        if qty is not None:
            amount = _parse_decimal(qty, "qty")
            if amount <= 0:
                raise invalid("qty must be > 0")
        elif percentage is not None:
            pct = _parse_decimal(percentage, "percentage")
            if not 0 < pct <= 100:
                raise invalid("percentage must be between 0 and 100")
            amount = (position.qty * pct / 100).quantize(
                Decimal(1).scaleb(-QTY_PLACES), rounding=ROUND_DOWN
            )
            asset = self.state.assets[symbol]
            # "Would only sell fractional if position is originally fractional" (Alpaca docs).
            whole_position = position.qty == position.qty.to_integral_value()
            if whole_position or not asset.fractionable:
                amount = amount.to_integral_value(rounding=ROUND_DOWN)
            if amount <= 0:
                raise invalid("percentage is too small to close any shares")
        body = {
            "symbol": symbol,
            "side": "sell",
            "type": "market",
            "time_in_force": "day",
            "qty": amount,
        }
        order = self._validate_new_order(body)
        self._accept(order)
        return order

    def close_all_positions(self, cancel_orders: bool) -> list[dict[str, Any]]:
        with self._lock:
            self._work()
            if cancel_orders:
                for order in list(self.state.orders.values()):
                    if order.is_open and not self._cancels_with_parent(order):
                        self._request_cancel(order)
                # Cancels settle before the closing orders are sized.
                self._work()
            results = []
            for symbol in sorted(self.state.positions):
                try:
                    order = self._close_position_order(symbol, None, None)
                    results.append(
                        {"symbol": symbol, "status": 200, "order_id": order.id, "body": order}
                    )
                except SimAPIError as error:
                    results.append({"symbol": symbol, "status": error.status, "body": error.body})
            rendered = [
                {**r, "body": r["body"].to_json()} if isinstance(r["body"], SimOrder) else r
                for r in results
            ]
            self._done()
            return rendered

    # ------------------------------------------------------------------ market data
    def _data_symbol(self, symbol: str) -> Asset:
        asset = self.state.assets.get(symbol.upper())
        if asset is None:
            raise SimAPIError(422, {"code": 42210000, "message": f"invalid symbol: {symbol}"})
        return asset

    def latest_trade(self, symbol: str) -> dict[str, Any]:
        with self._lock:
            self._done()
            asset = self._data_symbol(symbol)
            price = self.market.price(asset.symbol)
            return {
                "t": rfc3339(self.clock.now()),
                "x": "V",
                "p": price,
                "s": 100,
                "c": ["@"],
                "i": self._rng.getrandbits(40),
                "z": "C" if asset.exchange == "NASDAQ" else "A",
            }

    def latest_quote(self, symbol: str) -> dict[str, Any]:
        with self._lock:
            self._done()
            asset = self._data_symbol(symbol)
            price = self.market.price(asset.symbol)
            half_spread = Decimal("0.01") if price >= 1 else Decimal("0.0001")
            return {
                "t": rfc3339(self.clock.now()),
                "ax": "V",
                "ap": round_price(price + half_spread),
                "as": 2,
                "bx": "V",
                "bp": round_price(price - half_spread),
                "bs": 3,
                "c": ["R"],
                "z": "C" if asset.exchange == "NASDAQ" else "A",
            }

    def snapshot(self, symbol: str) -> dict[str, Any]:
        with self._lock:
            trade = self.latest_trade(symbol)
            quote = self.latest_quote(symbol)
            asset = self._data_symbol(symbol)
            path = self.market.path(asset.symbol)
            now = self.clock.now()
            day_start = now.astimezone(NEW_YORK).replace(hour=0, minute=0, second=0, microsecond=0)
            minute = now.replace(second=0, microsecond=0)
            price = path.price

            def bar(at: datetime, o: Decimal, h: Decimal, low: Decimal, c: Decimal) -> dict:
                return {
                    "t": rfc3339(at),
                    "o": o,
                    "h": h,
                    "l": low,
                    "c": c,
                    "v": 125_000,
                    "n": 1_800,
                    "vw": round_price((h + low + c) / 3),
                }

            return {
                "symbol": asset.symbol,
                "latestTrade": trade,
                "latestQuote": quote,
                "minuteBar": bar(minute, price, price, price, price),
                "dailyBar": bar(day_start, path.day_open, path.high, path.low, price),
                "prevDailyBar": bar(
                    day_start - timedelta(days=1),
                    path.prev_close,
                    path.prev_close,
                    path.prev_close,
                    path.prev_close,
                ),
            }

    # ------------------------------------------------------------------ matching
    def tick(self) -> None:
        """Let the engine catch up with the clock (the wall-clock server calls this)."""
        with self._lock:
            self._done()

    def _work(self) -> None:
        now = self.clock.now()
        self.market.advance_to(now)
        self._session_transitions(now)
        # Settle pending cancels, then execute whatever can trade, until nothing changes.
        for order in list(self.state.orders.values()):
            if order.status == "pending_cancel" and order.cancel_requested_at is not None:
                delay = timedelta(seconds=self.config.cancel_delay_seconds)
                if now >= order.cancel_requested_at + delay:
                    self._finish(order, "canceled")
        for _ in range(10):
            progressed = False
            for order in sorted(self.state.orders.values(), key=lambda o: o.created_at):
                if order.status in WORKING_STATUSES and self._execute(order, now):
                    progressed = True
            if not progressed:
                break
        self._last_work = now

    def _session_transitions(self, now: datetime) -> None:
        """Open and close the market as the clock crosses session boundaries."""
        if self.config.market_mode is MarketMode.CALENDAR:
            # Walk every boundary between the last look and now, so a big clock jump still
            # expires day orders and opens the market in the right order.
            cursor = self._last_work
            while cursor < now:
                session = next_sessions(cursor, 1)[0]
                if session.open > cursor and session.open <= now:
                    self._on_open()
                    cursor = session.open
                elif session.close <= now:
                    self._on_close(session.close)
                    cursor = session.close
                else:
                    break
            self._was_open = calendar_is_open(now)
            return
        is_open = self._market_open(now)
        if is_open and not self._was_open:
            self._on_open()
        elif not is_open and self._was_open:
            self._on_close(now)
        self._was_open = is_open

    def set_market_mode(self, mode: MarketMode) -> None:
        with self._lock:
            self._work()
            was_open = self._market_open(self.clock.now())
            self.config.market_mode = mode
            now = self.clock.now()
            is_open = self._market_open(now)
            if is_open and not was_open:
                self._on_open()
            elif was_open and not is_open:
                self._on_close(now)
            self._was_open = is_open
            self._done()

    def _on_open(self) -> None:
        for order in self.state.orders.values():
            if order.status == "accepted":
                order.status = "new"
                order.updated_at = self.clock.now()
                self._emit("new", order)

    def _on_close(self, at: datetime) -> None:
        for order in list(self.state.orders.values()):
            if order.status in CLOSED_STATUSES:
                continue
            if order.time_in_force == "cls" and order.status in WORKING_STATUSES:
                price = self.market.price(order.symbol)
                limit_price = order.limit_price
                if limit_price is not None and (
                    price > limit_price if order.side == "buy" else price < limit_price
                ):
                    self._finish(order, "canceled")  # a limit-on-close the close did not reach
                else:
                    self._fill_remaining(order, price)
            elif order.time_in_force == "opg" and order.status in WORKING_STATUSES:
                self._finish(order, "canceled")  # unfilled after the open auction
            elif (
                order.time_in_force in ("day", "ioc", "fok")
                and order.submitted_at
                and (order.submitted_at < at)
            ):
                if order.status in WORKING_STATUSES or order.status == "pending_cancel":
                    self._finish(order, "expired")
                elif order.status == "held" and order.parent_id is not None:
                    parent = self.state.orders[order.parent_id]
                    if parent.status in CLOSED_STATUSES and parent.status != "filled":
                        self._finish(order, "canceled")

    def _can_trade_now(self, order: SimOrder, now: datetime) -> bool:
        if self._market_open(now):
            return True
        return order.extended_hours and self._extended_session(now)

    def _execute(self, order: SimOrder, now: datetime) -> bool:
        """Fill what is due on one working order; True when anything filled or ended."""
        if order.time_in_force == "cls" or not self._can_trade_now(order, now):
            return False
        price = self.market.price(order.symbol)
        if order.type in ("stop", "stop_limit") and not order.triggered:
            assert order.stop_price is not None
            touched = (
                price >= order.stop_price if order.side == "buy" else price <= order.stop_price
            )
            if not touched:
                return self._immediate_or_cancel(order)
            order.triggered = True
        if order.type in ("limit", "stop_limit"):
            assert order.limit_price is not None
            marketable = (
                price <= order.limit_price if order.side == "buy" else (price >= order.limit_price)
            )
            if not marketable:
                return self._immediate_or_cancel(order)
        if order.fill_plan is None:
            order.fill_plan = self._plan_fills(order, price)
            order.next_fill_at = now
        if order.time_in_force in ("fok", "opg"):  # all at once (an auction prints once)
            self._fill_remaining(order, price)
            return True
        filled_any = False
        while order.fill_plan and order.next_fill_at is not None and order.next_fill_at <= now:
            self._fill(order, order.fill_plan.pop(0), price)
            filled_any = True
            interval = self.config.fill_interval_seconds
            order.next_fill_at = now + timedelta(seconds=interval) if interval > 0 else now
        if order.time_in_force == "ioc" and order.status in WORKING_STATUSES:
            self._finish(order, "canceled")
            return True
        return filled_any

    def _auction_cutoff_passed(self, tif: str) -> bool:
        """Calendar mode only: is it too late today to join the opening/closing auction?"""
        if self.config.market_mode is not MarketMode.CALENDAR:
            return False
        local = self.clock.now().astimezone(NEW_YORK)
        cutoff = (9, 28) if tif == "opg" else (15, 50)
        return is_trading_day(local.date()) and cutoff <= (local.hour, local.minute) < (19, 0)

    def _immediate_or_cancel(self, order: SimOrder) -> bool:
        # An opg order unfilled by the opening auction is canceled, as ioc/fok are at once.
        if order.time_in_force in ("ioc", "fok", "opg"):
            self._finish(order, "canceled")
            return True
        return False

    def _plan_fills(self, order: SimOrder, price: Decimal) -> list[Decimal]:
        if order.qty is not None:
            total = order.qty - order.filled_qty
        else:
            assert order.notional is not None
            total = (order.notional / price).quantize(
                Decimal(1).scaleb(-QTY_PLACES), rounding=ROUND_DOWN
            )
        parts = max(1, self.config.fill_parts) if order.type == "market" else 1
        whole = total == total.to_integral_value()
        if whole:
            parts = min(parts, int(total))
            base = (total / parts).to_integral_value(rounding=ROUND_DOWN)
        else:
            base = (total / parts).quantize(Decimal(1).scaleb(-QTY_PLACES), rounding=ROUND_DOWN)
        plan = [base] * (parts - 1)
        plan.append(total - base * (parts - 1))
        return [q for q in plan if q > 0]

    def _fill_remaining(self, order: SimOrder, price: Decimal) -> None:
        if order.fill_plan is None:
            order.fill_plan = self._plan_fills(order, price)
        remaining = sum(order.fill_plan, Decimal(0))
        order.fill_plan = []
        if remaining > 0:
            self._fill(order, remaining, price, last=True)

    def _fill(self, order: SimOrder, qty: Decimal, price: Decimal, last: bool = False) -> None:
        now = self.clock.now()
        fill = Fill(self._new_id(), order.id, order.symbol, order.side, qty, price, now)
        self.state.fills.append(fill)
        order.filled_qty += qty
        order.filled_value += qty * price
        order.updated_at = now
        self._apply_to_position(fill)
        done = last or not order.fill_plan
        if done:
            order.status = "filled"
            order.filled_at = now
        else:
            order.status = "partially_filled"
        position = self.state.positions.get(order.symbol)
        self._emit(
            "fill" if done else "partial_fill",
            order,
            fill=fill,
            position_qty=position.qty if position else Decimal(0),
        )
        if order.parent_id is not None:
            # One-cancels-other: the first execution of one exit leg cancels its sibling.
            parent = self.state.orders[order.parent_id]
            for sibling in parent.legs:
                if sibling is not order and sibling.is_open:
                    self._finish(sibling, "canceled")
        elif done and order.legs:
            for leg in order.legs:
                if leg.status == "held":
                    leg.qty = order.filled_qty
                    leg.status = "new"
                    leg.updated_at = now
                    self._emit("new", leg)

    def _apply_to_position(self, fill: Fill) -> None:
        asset = self.state.assets[fill.symbol]
        position = self.state.positions.get(fill.symbol)
        amount = fill.qty * fill.price
        if fill.side == "buy":
            self.state.cash -= amount
            if position is None:
                self.state.positions[fill.symbol] = Position(
                    fill.symbol, asset.id, asset.exchange, fill.qty, fill.price
                )
            else:
                cost = position.qty * position.avg_entry_price + amount
                position.qty += fill.qty
                position.avg_entry_price = (cost / position.qty).quantize(Decimal("0.000001"))
        else:
            self.state.cash += amount
            if position is not None:
                position.qty -= fill.qty
                if position.qty <= 0:
                    del self.state.positions[fill.symbol]

    def _finish(self, order: SimOrder, status: str) -> None:
        now = self.clock.now()
        order.status = status
        order.updated_at = now
        order.fill_plan = []
        if status == "canceled":
            order.canceled_at = now
        elif status == "expired":
            order.expired_at = now
        self._emit(status, order)
        for leg in order.legs:
            if leg.is_open and status in ("canceled", "expired") and leg.status == "held":
                self._finish(leg, "canceled")

    # ------------------------------------------------------------------ controls
    def set_price(self, symbol: str, price: Decimal) -> None:
        with self._lock:
            symbol = symbol.upper()
            if symbol not in self.state.assets:
                raise not_found(f"unknown symbol {symbol}")
            if price <= 0:
                raise invalid("price must be > 0")
            self.market.set_price(symbol, price)
            self._done()

    def advance_clock(self, seconds: float) -> datetime:
        if not isinstance(self.clock, ManualClock):
            raise invalid("the clock is the wall clock; start the simulator with a manual clock")
        with self._lock:
            now = self.clock.advance(seconds)
            self._done()
            return now

    def set_cash(self, cash: Decimal) -> None:
        with self._lock:
            self.state.cash = cash
            self.state.last_equity = cash + self._long_market_value()
            self._done()

    def seed_position(self, symbol: str, qty: Decimal, avg_entry_price: Decimal) -> None:
        with self._lock:
            symbol = symbol.upper()
            asset = self.state.assets.get(symbol)
            if asset is None:
                raise not_found(f"unknown symbol {symbol}")
            if qty < 0 or avg_entry_price <= 0:
                raise invalid("qty must be >= 0 and avg_entry_price > 0")
            if qty == 0:
                self.state.positions.pop(symbol, None)
            else:
                self.state.positions[symbol] = Position(
                    symbol, asset.id, asset.exchange, qty, avg_entry_price
                )
            self._done()

    def seed_order(self, body: dict[str, Any]) -> dict[str, Any]:
        """Store a historical order verbatim (equities or OCC option legs); no cash effect."""
        with self._lock:
            order_json = _historical_order(body, self._new_id, self.clock.now())
            if order_json["client_order_id"] in self.state.used_client_ids:
                raise duplicate_client_order_id()
            submitted = datetime.fromisoformat(order_json["submitted_at"].replace("Z", "+00:00"))
            order = SimOrder(
                id=order_json["id"],
                client_order_id=order_json["client_order_id"],
                symbol=order_json.get("symbol") or "",
                asset_id=order_json.get("asset_id"),
                asset_class=order_json.get("asset_class") or "us_equity",
                side=order_json.get("side") or "",
                type=order_json.get("type") or "",
                time_in_force=order_json["time_in_force"],
                qty=None,
                notional=None,
                limit_price=None,
                stop_price=None,
                extended_hours=False,
                order_class=order_json.get("order_class") or "simple",
                status=order_json["status"],
                created_at=submitted,
                submitted_at=submitted,
                seeded_json=order_json,
            )
            self.state.orders[order.id] = order
            self.state.by_client_id[order.client_order_id] = order
            self.state.used_client_ids.add(order.client_order_id)
            return order.to_json()

    def add_asset(self, asset: Asset) -> None:
        with self._lock:
            if not (EQUITY_SYMBOL.match(asset.symbol) or OPTION_SYMBOL.match(asset.symbol)):
                raise invalid(f"invalid symbol {asset.symbol}")
            self.state.assets[asset.symbol] = asset
            if self.market.has(asset.symbol):
                self.market.set_price(asset.symbol, asset.price)
            else:
                self.market.add(asset.symbol, asset.price)
            self._done()

    def fills(self) -> list[Fill]:
        with self._lock:
            return list(self.state.fills)


# ---------------------------------------------------------------------- parsing helpers
def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"{key} must be a string")
    return value.strip()


def _choice(body: dict[str, Any], key: str, allowed: tuple[str, ...], required: bool) -> str:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise invalid(f"{key} is required")
        return ""
    if not isinstance(value, str) or value.lower() not in allowed:
        raise invalid(f"invalid {key}: {value!r} (allowed: {', '.join(a for a in allowed if a)})")
    return value.lower()


def _boolean(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(f"{key} must be a boolean")
    return value


def _parse_decimal(value: Any, key: str) -> Decimal:
    if isinstance(value, bool):
        raise invalid(f"invalid {key}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise invalid(f"invalid {key}: {value!r}") from None
    if not number.is_finite():
        raise invalid(f"invalid {key}: {value!r}")
    return number


def _decimal(body: dict[str, Any], key: str) -> Decimal | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str | int | float | Decimal):
        raise invalid(f"invalid {key}")
    return _parse_decimal(value, key).normalize() + 0


def _price(body: dict[str, Any], key: str, label: str | None = None) -> Decimal | None:
    price = _decimal(body, key)
    if price is None:
        return None
    label = label or key
    if price <= 0:
        raise invalid(f"{label} must be > 0")
    places = max(0, -price.as_tuple().exponent)  # type: ignore[operator]
    if places > (2 if price >= 1 else 4):
        raise invalid(
            f"invalid {label} {dec(price)}. sub-penny increment does not fulfill minimum "
            "pricing criteria"
        )
    return price


def _int_param(params: dict[str, str], key: str, default: int) -> int:
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid(f"invalid {key}: {raw!r}") from None


def _bool_param(params: dict[str, str], key: str) -> bool:
    raw = (params.get(key) or "").lower()
    if raw in ("", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise invalid(f"invalid {key}: {raw!r}")


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _time_param(params: dict[str, str], key: str) -> datetime | None:
    raw = params.get(key)
    if not raw:
        return None
    text = raw.strip().replace("Z", "+00:00").replace(" ", "+")
    try:
        if _DATE_ONLY.match(text):
            return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)
        when = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(f"invalid {key}: {raw!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=NEW_YORK)
    return when


def _historical_order(body: Any, new_id: Callable[[], str], now: datetime) -> dict[str, Any]:
    """Fill in an Alpaca order JSON for a seeded historical order."""
    if not isinstance(body, dict):
        raise malformed()
    status = body.get("status", "filled")
    if status not in OPEN_STATUSES | CLOSED_STATUSES:
        raise invalid(f"invalid status {status!r}")
    submitted_at = body.get("submitted_at") or rfc3339(now)
    order: dict[str, Any] = {
        "id": body.get("id") or new_id(),
        "client_order_id": body.get("client_order_id") or new_id(),
        "created_at": body.get("created_at") or submitted_at,
        "updated_at": body.get("updated_at") or submitted_at,
        "submitted_at": submitted_at,
        "filled_at": body.get("filled_at") or (submitted_at if status == "filled" else None),
        "expired_at": None,
        "canceled_at": body.get("canceled_at") or (submitted_at if status == "canceled" else None),
        "failed_at": None,
        "replaced_at": None,
        "replaced_by": None,
        "replaces": None,
        "asset_id": body.get("asset_id"),
        "symbol": body.get("symbol", ""),
        "asset_class": body.get("asset_class")
        or ("us_option" if OPTION_SYMBOL.match(str(body.get("symbol", ""))) else "us_equity"),
        "notional": body.get("notional"),
        "qty": _str_or_none(body.get("qty")),
        "filled_qty": _str_or_none(body.get("filled_qty"))
        or (_str_or_none(body.get("qty")) if status == "filled" else "0"),
        "filled_avg_price": _str_or_none(body.get("filled_avg_price")),
        "order_class": body.get("order_class", ""),
        "order_type": body.get("type", "market"),
        "type": body.get("type", "market"),
        "side": body.get("side", "buy"),
        "position_intent": body.get("position_intent"),
        "time_in_force": body.get("time_in_force", "day"),
        "limit_price": _str_or_none(body.get("limit_price")),
        "stop_price": _str_or_none(body.get("stop_price")),
        "status": status,
        "extended_hours": False,
        "legs": None,
        "trail_percent": None,
        "trail_price": None,
        "hwm": None,
        "ratio_qty": _str_or_none(body.get("ratio_qty")),
    }
    legs = body.get("legs")
    if legs:
        if not isinstance(legs, list):
            raise invalid("legs must be a list")
        order["legs"] = [
            _historical_order({"status": status, "submitted_at": submitted_at, **leg}, new_id, now)
            for leg in legs
        ]
        if order["order_class"] == "mleg":
            # Multi-leg parents carry no symbol or side of their own, as Alpaca reports them.
            for key in ("symbol", "side", "type", "order_type", "asset_class"):
                order[key] = body.get(key, "")
    return order


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)
