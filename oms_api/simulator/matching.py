"""Matching: the broker catching up with the clock. The market opens and closes as sessions
pass, working orders execute against the price, fills move cash and positions, and orders end
(filled, canceled, expired, rejected) with their trade events.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from oms_api.simulator.clock import MarketMode, calendar_is_open, next_sessions
from oms_api.simulator.core import QTY_PLACES, BrokerCore
from oms_api.simulator.orders import CLOSED_STATUSES, WORKING_STATUSES, Fill, Position, SimOrder


class Matching(BrokerCore):
    """Catches the broker up with the clock: sessions, executions, fills, orders ending."""

    def _done(self) -> None:
        """Catch the engine up with the clock, then publish what happened."""
        self._work()
        self._flush_events()

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
                if order.seeded_json is not None:
                    continue  # history, kept verbatim: never traded
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

    def _on_open(self) -> None:
        for order in self.state.orders.values():
            if order.status == "accepted" and order.seeded_json is None:
                order.status = "new"
                order.updated_at = self.clock.now()
                self._emit("new", order)

    def _on_close(self, at: datetime) -> None:
        for order in list(self.state.orders.values()):
            if order.status in CLOSED_STATUSES or order.seeded_json is not None:
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
        """Move cash and the position by one execution. A buy adds shares (covering a short
        first), a sell removes them (going short past zero); cash moves the other way."""
        shares = fill.qty if fill.side == "buy" else -fill.qty
        self.state.cash -= shares * fill.price
        position = self.state.positions.get(fill.symbol)
        if position is None:
            asset = self.state.assets[fill.symbol]
            self.state.positions[fill.symbol] = Position(
                fill.symbol, asset.id, asset.exchange, shares, fill.price
            )
            return
        before = position.qty
        position.qty += shares
        if position.qty == 0:
            del self.state.positions[fill.symbol]
        elif (before > 0) != (position.qty > 0):
            # Intake never lets one order cross zero; should a fill still do so (a position
            # seeded under a working order), what is left is a new position at this price.
            position.avg_entry_price = fill.price
        elif abs(position.qty) > abs(before):
            # Adding to the position, long or short: the entry price is the weighted average.
            cost = before * position.avg_entry_price + shares * fill.price
            position.avg_entry_price = (cost / position.qty).quantize(Decimal("0.000001"))
        # Reducing it leaves the entry price as it was.

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

    def _reject(self, order: SimOrder) -> None:
        now = self.clock.now()
        order.status = "rejected"
        order.failed_at = now
        order.updated_at = now
        order.fill_plan = []
        self._emit("rejected", order)
        for leg in order.legs:
            self._finish(leg, "canceled")
