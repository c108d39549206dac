"""The account's orders after intake: listing and looking them up, cancels and replaces."""

from __future__ import annotations

import uuid
from typing import Any

from oms_api.simulator.errors import (
    SimAPIError,
    duplicate_client_order_id,
    invalid,
    malformed,
    not_found,
)
from oms_api.simulator.intake import TIME_IN_FORCE, OrderIntake
from oms_api.simulator.orders import CLOSED_STATUSES, OPEN_STATUSES, SimOrder
from oms_api.simulator.params import (
    body_choice,
    body_decimal,
    body_price,
    query_bool,
    query_int,
    query_time,
)


class OrderBook(OrderIntake):
    """Finds, lists, cancels and replaces the account's orders."""

    def list_orders(self, params: dict[str, str]) -> list[dict[str, Any]]:
        with self._lock:
            self._done()
            status = (params.get("status") or "open").lower()
            if status not in ("open", "closed", "all"):
                raise invalid(f"invalid status {status}")
            limit = query_int(params, "limit", 50)
            if not 1 <= limit <= 500:
                raise invalid("limit must be between 1 and 500")
            direction = (params.get("direction") or "desc").lower()
            if direction not in ("asc", "desc"):
                raise invalid(f"invalid direction {direction}")
            nested = query_bool(params, "nested")
            after = query_time(params, "after")
            until = query_time(params, "until")
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

    def get_order(self, order_id: str) -> dict[str, Any]:
        """One order as Alpaca's GET /v2/orders/{id} shows it: a bracket with its legs."""
        with self._lock:
            self._done()
            return self._order(order_id).to_json(nested=True)

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
        """`DELETE /v2/orders`: one entry per open order, `{id, status}` as the spec's
        CanceledOrderResponse; a `body` comes only with a failure, as the error (alpaca-py's
        tests of cancel_orders, PR #512). Cancels settle as any cancel does, after
        `cancel_delay_seconds` (`pending_cancel` until then)."""
        with self._lock:
            self._work()
            results: list[dict[str, Any]] = []
            for order in list(self.state.orders.values()):
                if not order.is_open or self._cancels_with_parent(order):
                    continue
                try:
                    self._request_cancel(order)
                    results.append({"id": order.id, "status": 200})
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
            qty = body_decimal(body, "qty")
            if qty is not None and qty <= 0:
                raise invalid("qty must be > 0")
            tif = body_choice(body, "time_in_force", TIME_IN_FORCE, required=False)
            limit_price = body_price(body, "limit_price")
            stop_price = body_price(body, "stop_price")
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
