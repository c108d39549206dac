"""The account and its positions: balances, position views (long and short), and closing
positions with market orders (one symbol, or all of them after canceling open orders).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

from oms_api.simulator.clock import NEW_YORK
from oms_api.simulator.core import QTY_PLACES
from oms_api.simulator.errors import SimAPIError, invalid, not_found
from oms_api.simulator.order_book import OrderBook
from oms_api.simulator.orders import Position, SimOrder, dec
from oms_api.simulator.params import parse_decimal


class AccountBook(OrderBook):
    """The account's balances and positions, and closing positions."""

    def account_json(self) -> dict[str, Any]:
        with self._lock:
            self._done()
            long_value, short_value = self._market_values()
            equity = self.state.cash + long_value + short_value
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
                # A 1x account that may short, as a margin account capped at 1x
                # (max_margin_multiplier "1") is on Alpaca.
                "multiplier": "1",
                "shorting_enabled": self._may_short(),
                "equity": dec(equity),
                "last_equity": dec(self.state.last_equity),
                "long_market_value": dec(long_value),
                "short_market_value": dec(short_value),
                "position_market_value": dec(long_value - short_value),
                "initial_margin": dec(self._initial_margin()),
                "maintenance_margin": dec(self._maintenance_margin()),
                "last_maintenance_margin": "0",
                "sma": "0",
                "daytrade_count": 0,
                "balance_asof": self.clock.now().astimezone(NEW_YORK).date().isoformat(),
                "crypto_tier": 0,
                "intraday_adjustments": "0",
                "pending_reg_taf_fees": "0",
            }

    # ------------------------------------------------------------------ positions
    def _position_json(self, position: Position) -> dict[str, Any]:
        asset = self.state.assets[position.symbol]
        path = self.market.path(position.symbol)
        closing_side = "buy" if position.qty < 0 else "sell"
        held, _ = self._held_by_orders(position.symbol, closing_side)
        held = min(held, abs(position.qty))
        # Shares not yet claimed by a closing order, signed like the position.
        qty_available = position.qty + held if position.qty < 0 else position.qty - held
        return position.to_json(path.price, path.prev_close, qty_available, asset.marginable)

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
        """A market order against the position: a sell for a long, a buy for a short, for the
        whole of it or the `qty` / `percentage` asked."""
        position = self.state.positions.get(symbol)
        if position is None:
            raise not_found("position does not exist")
        if qty is not None and percentage is not None:
            raise invalid("only one of qty or percentage may be specified")
        shares = abs(position.qty)
        amount = shares
        if qty is not None:
            amount = parse_decimal(qty, "qty")
            if amount <= 0:
                raise invalid("qty must be > 0")
        elif percentage is not None:
            pct = parse_decimal(percentage, "percentage")
            if not 0 < pct <= 100:
                raise invalid("percentage must be between 0 and 100")
            amount = (shares * pct / 100).quantize(
                Decimal(1).scaleb(-QTY_PLACES), rounding=ROUND_DOWN
            )
            asset = self.state.assets[symbol]
            # "Would only sell fractional if position is originally fractional" (Alpaca docs).
            whole_position = shares == shares.to_integral_value()
            if whole_position or not asset.fractionable:
                amount = amount.to_integral_value(rounding=ROUND_DOWN)
            if amount <= 0:
                raise invalid("percentage is too small to close any shares")
        body = {
            "symbol": symbol,
            "side": "buy" if position.qty < 0 else "sell",
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
