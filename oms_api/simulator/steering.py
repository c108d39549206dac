"""What the /_sim control API does to the broker: steer prices, the clock and the market;
seed cash, positions, assets and historical orders.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from oms_api.simulator.clock import ManualClock, MarketMode
from oms_api.simulator.errors import duplicate_client_order_id, invalid, malformed, not_found
from oms_api.simulator.matching import Matching
from oms_api.simulator.orders import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    BalanceChange,
    Fill,
    Position,
    SimOrder,
    rfc3339,
)
from oms_api.simulator.universe import EQUITY_SYMBOL, OPTION_SYMBOL, Asset


class BrokerControls(Matching):
    """The simulator's own controls (not part of Alpaca's API)."""

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

    def set_price(self, symbol: str, price: Decimal) -> None:
        with self._lock:
            symbol = symbol.upper()
            if symbol not in self.state.assets:
                raise not_found(f"unknown symbol {symbol}")
            if price <= 0:
                raise invalid("price must be > 0")
            self.market.set_price(symbol, price, self.clock.now())
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
            change = BalanceChange(self.clock.now(), cash=cash - self.state.cash)
            self.state.balance_changes.append(change)
            self.state.cash = cash
            self.state.last_equity = self._equity()
            self._done()

    def seed_position(self, symbol: str, qty: Decimal, avg_entry_price: Decimal) -> None:
        """Set a position as if built earlier (no cash moves): a negative qty is a short, 0
        removes it."""
        with self._lock:
            symbol = symbol.upper()
            asset = self.state.assets.get(symbol)
            if asset is None:
                raise not_found(f"unknown symbol {symbol}")
            if avg_entry_price <= 0:
                raise invalid("avg_entry_price must be > 0")
            shares = qty - self._position_qty(symbol)
            if shares != 0:
                change = BalanceChange(self.clock.now(), symbol=symbol, qty=shares)
                self.state.balance_changes.append(change)
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
            now = self.clock.now()
            if self.market.has(asset.symbol):
                self.market.set_price(asset.symbol, asset.price, now)
            else:
                self.market.add(asset.symbol, asset.price, now)
            self._done()

    def fills(self) -> list[Fill]:
        with self._lock:
            return list(self.state.fills)


def _historical_order(
    body: Any, new_id: Callable[[], str], now: datetime, parent: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Fill in an Alpaca order JSON for a seeded historical order.

    Legs (`legs`, for `mleg`, bracket, oco and oto orders) come out as Alpaca shows them: each
    with its own id, qty = the parent's qty x its ratio_qty (multi-leg), filled_qty when filled,
    its own fill price if given, its position intent, and the parent's times."""
    if not isinstance(body, dict):
        raise malformed()
    status = body.get("status", "filled")
    if status not in OPEN_STATUSES | CLOSED_STATUSES:
        raise invalid(f"invalid status {status!r}")
    submitted_at = body.get("submitted_at") or rfc3339(now)
    symbol = str(body.get("symbol") or "")
    is_option = bool(OPTION_SYMBOL.match(symbol))
    qty = _str_or_none(body.get("qty"))
    if parent is not None and qty is None and parent.get("qty") is not None:
        ratio = Decimal(str(body.get("ratio_qty") or 1))
        qty = _str_or_none(Decimal(str(parent["qty"])) * ratio)
    filled_qty = _str_or_none(body.get("filled_qty"))
    if filled_qty is None:
        filled_qty = (qty or "0") if status == "filled" else "0"
    order_type = body.get("type") or (parent or {}).get("type") or "market"
    order: dict[str, Any] = {
        "id": body.get("id") or new_id(),
        "client_order_id": body.get("client_order_id") or new_id(),
        "created_at": body.get("created_at") or submitted_at,
        "updated_at": body.get("updated_at") or submitted_at,
        "submitted_at": submitted_at,
        "filled_at": body.get("filled_at") or (submitted_at if status == "filled" else None),
        "expired_at": body.get("expired_at") or (submitted_at if status == "expired" else None),
        "canceled_at": body.get("canceled_at") or (submitted_at if status == "canceled" else None),
        "failed_at": None,
        "replaced_at": None,
        "replaced_by": None,
        "replaces": None,
        "asset_id": body.get("asset_id"),
        "symbol": symbol,
        "asset_class": body.get("asset_class") or ("us_option" if is_option else "us_equity"),
        "notional": body.get("notional"),
        "qty": qty,
        "filled_qty": filled_qty,
        "filled_avg_price": _str_or_none(body.get("filled_avg_price")),
        "order_class": body.get("order_class", (parent or {}).get("order_class", "")),
        "order_type": order_type,
        "type": order_type,
        "side": body.get("side", "buy"),
        "position_intent": body.get("position_intent"),
        "time_in_force": body.get("time_in_force") or (parent or {}).get("time_in_force") or "day",
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
        if not isinstance(legs, list) or not all(isinstance(leg, dict) for leg in legs):
            raise invalid("legs must be a list of orders")
        time_keys = ("created_at", "updated_at", "submitted_at")
        times = {key: order[key] for key in (*time_keys, "filled_at", "expired_at", "canceled_at")}
        order["legs"] = [
            _historical_order({"status": status, **times, **leg}, new_id, now, parent=order)
            for leg in legs
        ]
        if order["order_class"] == "mleg":
            # Multi-leg parents carry no symbol or side of their own, as Alpaca reports them;
            # the legs' classes say so (they are shown as options).
            for key in ("symbol", "side", "asset_class"):
                order[key] = body.get(key, "")
            order["position_intent"] = body.get("position_intent")
    return order


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)
