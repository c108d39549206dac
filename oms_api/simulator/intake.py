"""Order intake: `POST /v2/orders` checked field by field as Alpaca checks it, bracket legs
attached, the order's effect on the position checked (shares to close, buying power to open or
add, Alpaca's short-sale rules), and the order accepted (`new`, or `accepted` while the market
is closed).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from oms_api.simulator.clock import NEW_YORK, MarketMode, is_trading_day, session_on
from oms_api.simulator.core import QTY_PLACES
from oms_api.simulator.errors import duplicate_client_order_id, forbidden, invalid, malformed
from oms_api.simulator.matching import Matching
from oms_api.simulator.orders import SimOrder, dec
from oms_api.simulator.params import body_boolean, body_choice, body_decimal, body_price, body_text
from oms_api.simulator.universe import EQUITY_SYMBOL, OPTION_SYMBOL

ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
TIME_IN_FORCE = ("day", "gtc", "opg", "cls", "ioc", "fok")
MAX_CLIENT_ORDER_ID = 128
CLS_CUTOFF = timedelta(minutes=10)  # closing-auction orders are refused this long before the close


class OrderIntake(Matching):
    """Places new orders."""

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

    def _validate_new_order(self, body: Any) -> SimOrder:
        if not isinstance(body, dict):
            raise malformed()
        symbol = body_text(body, "symbol")
        if not symbol:
            raise invalid("symbol is required")
        symbol = symbol.upper()
        side = body_choice(body, "side", ("buy", "sell"), required=True)
        order_type = body_choice(body, "type", (*ORDER_TYPES, "trailing_stop"), required=True)
        if order_type == "trailing_stop":
            raise invalid("trailing_stop orders are not supported by the simulator")
        tif = body_choice(body, "time_in_force", TIME_IN_FORCE, required=True)
        order_class = body_choice(
            body, "order_class", ("simple", "bracket", "oco", "oto", "mleg", ""), required=False
        )
        order_class = order_class or "simple"
        if order_class not in ("simple", "bracket"):
            raise invalid(f"order_class {order_class} is not supported by the simulator")
        extended_hours = body_boolean(body, "extended_hours")

        qty = body_decimal(body, "qty")
        notional = body_decimal(body, "notional")
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

        limit_price = body_price(body, "limit_price")
        stop_price = body_price(body, "stop_price")
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
        tp_limit = body_price(take_profit, "limit_price", "take_profit.limit_price")
        sl_stop = body_price(stop_loss, "stop_price", "stop_loss.stop_price")
        sl_limit = body_price(stop_loss, "limit_price", "stop_loss.limit_price")
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
        """Alpaca's pre-trade checks, which turn on what the order does to the position, and
        set its position_intent. An order against the position (a sell of a long, a buy of a
        short) closes: it may not take the position past zero, since one order never turns a
        long into a short or back (alpacahq/Alpaca-API#90). Any other order opens or adds: it
        needs buying power, and a short sale must be one Alpaca allows."""
        position_qty = self._position_qty(order.symbol)
        closing = position_qty < 0 if order.side == "buy" else position_qty > 0
        order.position_intent = f"{order.side}_to_{'close' if closing else 'open'}"
        if closing:
            self._check_closing_qty(order, position_qty)
        elif order.side == "buy":
            if self._has_open_order(order.symbol, "sell_to_open"):
                # One symbol is never long and short at once, not even in open orders.
                raise forbidden("cannot open a long buy while a short sell order is open")
            if order.notional is not None:
                cost = order.notional
            else:
                price = order.limit_price or order.stop_price or self.market.price(order.symbol)
                cost = (order.qty or Decimal(0)) * price
            self._check_buying_power(cost)
        else:
            self._check_short_sale(order)

    def _order_shares(self, order: SimOrder) -> Decimal:
        if order.notional is None:
            return order.qty or Decimal(0)
        return (order.notional / self.market.price(order.symbol)).quantize(
            Decimal(1).scaleb(-QTY_PLACES), rounding=ROUND_DOWN
        )

    def _check_closing_qty(self, order: SimOrder, position_qty: Decimal) -> None:
        held, holding = self._held_by_orders(order.symbol, order.side)
        available = abs(position_qty) - held
        wanted = self._order_shares(order)
        if wanted <= available:
            return
        available = max(available, Decimal(0))
        extra: dict[str, Any] = {
            "available": dec(available),
            "existing_qty": dec(position_qty),
            "held_for_orders": dec(abs(position_qty) - available),
            "symbol": order.symbol,
        }
        if holding:
            extra["related_orders"] = [o.id for o in holding]
        raise forbidden(
            f"insufficient qty available for order (requested: {dec(wanted)}, "
            f"available: {dec(available)})",
            **extra,
        )

    def _check_short_sale(self, order: SimOrder) -> None:
        """Alpaca shorts only easy-to-borrow assets, in whole shares, on an account with
        $2,000 of equity, valuing the sale at MAX(limit price, 3% above the ask)."""
        asset = self._asset(order.symbol)
        if not self._may_short():
            raise forbidden("account is not allowed to short")
        if not (asset.shortable and asset.easy_to_borrow):
            raise invalid(f"asset {order.symbol} cannot be sold short")
        shares = order.qty
        if shares is None or shares != shares.to_integral_value():
            raise invalid("fractional orders cannot be sold short")
        if self._has_open_order(order.symbol, "buy_to_open"):
            raise forbidden("cannot open a short sell while a long buy order is open")
        self._check_buying_power(self._short_sale_value(order.symbol, shares, order.limit_price))

    def _check_buying_power(self, cost: Decimal) -> None:
        buying_power = self.buying_power()
        if cost > buying_power:
            raise forbidden(
                "insufficient buying power",
                buying_power=dec(max(buying_power, Decimal(0))),
                cost_basis=dec(cost.quantize(Decimal("0.01"))),
            )

    def _has_open_order(self, symbol: str, position_intent: str) -> bool:
        return any(
            o.is_open and o.symbol == symbol and o.position_intent == position_intent
            for o in self.state.orders.values()
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

    def _auction_cutoff_passed(self, tif: str) -> bool:
        """Calendar mode only: is it too late today to join the opening/closing auction?
        OPG closes at 9:28, CLS ten minutes before the close (12:50 on an early-close day)."""
        if self.config.market_mode is not MarketMode.CALENDAR:
            return False
        local = self.clock.now().astimezone(NEW_YORK)
        if not is_trading_day(local.date()):
            return False
        if tif == "opg":
            cutoff = (9, 28)
        else:
            last_call = session_on(local.date()).close.astimezone(NEW_YORK) - CLS_CUTOFF
            cutoff = (last_call.hour, last_call.minute)
        return cutoff <= (local.hour, local.minute) < (19, 0)
