"""The comparison rules: what counts as a discrepancy between an OMS order (or the portfolios'
holdings) and the broker's truth (the mirror), and how it is worded. Pure functions over plain
rows (column name -> value), so each rule is tested without a database or a broker.

Rules (what an operator expects):
- An OMS order and a broker order are the same order when their broker order ids match, else
  their client_order_ids. Only top-level broker orders are compared: a bracket's legs belong to
  their parent (the OMS keeps a bracket as one order).
- status_mismatch: the OMS status differs from the one the broker's status maps to (the order
  core's own mapping, `oms_api.orders.state.BROKER_STATUS_MAP`); repair "refresh". An OMS order
  still `pending_submit`/`submitted`/`unknown` that the broker has is one too (a crash between
  the broker's accept and the OMS's update).
- filled_qty_mismatch: the quantities filled differ; repair "refresh" (fills the OMS lacks are
  recorded; fills are facts, so one the broker does not confirm is never removed: that refresh
  fails and says so).
- price_mismatch: both have an average fill price and they differ by more than 0.0001; report
  only (a price follows from the fills).
- missing_in_oms: a broker order with no OMS order. Repair "adopt" when the OMS can book it
  (an equity, market/limit/stop/stop_limit, simple/bracket, buy/sell); options and multi-leg
  orders are reported without a repair: they stay in the broker history.
- missing_at_broker: an OMS order the broker should have (it has a broker id, or a status
  past submission) that the broker does not know, even when asked for it directly. No repair:
  re-sending is the order core's recovery's job, never reconciliation's.
- position_mismatch: per symbol, every portfolio's holding added up against the broker's
  position. No repair (reconciliation never trades): the message shows the unmanaged quantity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from oms_api.broker.models import BrokerOrder
from oms_api.orders.enums import OrderStatus
from oms_api.orders.models import decimal_text
from oms_api.orders.state import from_broker_status

Row = Mapping[str, Any]

PRICE_TOLERANCE = Decimal("0.0001")
BOOKABLE_TYPES = frozenset({"market", "limit", "stop", "stop_limit"})
BOOKABLE_CLASSES = frozenset({"simple", "bracket", ""})
BOOKABLE_TIFS = frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"})
# OMS statuses that say the order reached the broker: the broker must know it.
PAST_SUBMIT = frozenset(
    {
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
        OrderStatus.PENDING_CANCEL,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.REPLACED,
    }
)
UNSETTLED = frozenset({OrderStatus.PENDING_SUBMIT, OrderStatus.SUBMITTED, OrderStatus.UNKNOWN})
MESSAGE_MAX = 500
VALUE_MAX = 100


@dataclass
class Finding:
    """One discrepancy, before it is stored."""

    kind: str
    key: str
    message: str
    symbol: str | None = None
    order_id: int | None = None
    broker_order_id: str | None = None
    client_order_id: str | None = None
    portfolio_id: int | None = None
    oms_value: str | None = None
    broker_value: str | None = None
    repair: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def values(self) -> dict[str, Any]:
        """The columns of its reconcile_discrepancies row (report id aside)."""
        return {
            "kind": self.kind,
            "key": self.key[:120],
            "symbol": (self.symbol or None) and self.symbol[:32],
            "order_id": self.order_id,
            "broker_order_id": self.broker_order_id,
            "client_order_id": self.client_order_id and self.client_order_id[:128],
            "portfolio_id": self.portfolio_id,
            "oms_value": self.oms_value and self.oms_value[:VALUE_MAX],
            "broker_value": self.broker_value and self.broker_value[:VALUE_MAX],
            "message": self.message[:MESSAGE_MAX],
            "details": self.details or None,
            "repair": self.repair,
            "repair_state": "open",
        }


def fingerprint(keys: Iterable[str]) -> str:
    """The same set of discrepancies gives the same digest, in whatever order they were found."""
    return hashlib.sha256("\n".join(sorted(set(keys))).encode()).hexdigest()


def num(value: Decimal | None) -> str:
    return "-" if value is None else decimal_text(Decimal(value))


def short_id(broker_order_id: str) -> str:
    return broker_order_id[:8] + "…" if len(broker_order_id) > 8 else broker_order_id


def _what(row: Row) -> str:
    """`AAPL buy 5` (or `$500 of AAPL`) for an order."""
    symbol = row.get("symbol") or row.get("underlying") or "(multi-leg)"
    side = row.get("side") or ""
    if row.get("qty") is not None:
        return f"{symbol} {side} {num(row['qty'])}".replace("  ", " ")
    if row.get("notional") is not None:
        return f"{symbol} {side} ${num(row['notional'])}".replace("  ", " ")
    return f"{symbol} {side}".strip()


def broker_row(order: BrokerOrder) -> dict[str, Any]:
    """A broker order read directly (a targeted look-up) as the mirror's columns."""
    raw = order.raw or {}
    return {
        "broker_order_id": order.id,
        "client_order_id": order.client_order_id,
        "parent_broker_order_id": None,
        "symbol": order.symbol,
        "underlying": order.symbol,
        "asset_class": str(raw.get("asset_class") or "us_equity"),
        "side": order.side or None,
        "qty": order.qty,
        "notional": order.notional,
        "filled_qty": order.filled_qty,
        "filled_avg_price": order.filled_avg_price,
        "order_type": order.order_type,
        "order_class": order.order_class or "simple",
        "time_in_force": order.time_in_force,
        "status": order.status,
        "submitted_at": order.submitted_at,
        "first_seen_at": None,
    }


def expected_status(broker: Row) -> OrderStatus | None:
    """The OMS status the broker's answer implies (None: a status the core does not map)."""
    return from_broker_status(str(broker.get("status") or ""))


def bookable(broker: Row) -> bool:
    """Whether the OMS's orders table can hold this broker order (see its CHECK constraints)."""
    qty, notional = broker.get("qty"), broker.get("notional")
    return bool(
        broker.get("asset_class") in ("us_equity", "")
        and broker.get("symbol")
        and broker.get("side") in ("buy", "sell")
        and broker.get("order_type") in BOOKABLE_TYPES
        and (broker.get("order_class") or "simple") in BOOKABLE_CLASSES
        and (broker.get("time_in_force") or "day") in BOOKABLE_TIFS
        and ((qty is not None and qty > 0) or (qty is None and notional is not None))
    )


def compare_order(oms: Row, broker: Row) -> list[Finding]:
    """Status, filled quantity and average price of one OMS order against the broker's view
    of it (an empty list: they agree)."""
    findings: list[Finding] = []
    broker_id = str(broker["broker_order_id"])
    common: dict[str, Any] = {
        "symbol": oms["symbol"],
        "order_id": oms["id"],
        "broker_order_id": broker_id,
        "client_order_id": oms["client_order_id"],
        "portfolio_id": oms.get("portfolio_id"),
    }
    trade = f"{oms['symbol']} trade {oms['id']}"
    expected = expected_status(broker)
    current = OrderStatus(oms["status"])
    if expected is not None and current != expected:
        broker_status = str(broker["status"])
        if current in UNSETTLED:
            why = "the OMS never recorded the broker's answer"
        else:
            why = "the OMS missed an update"
        findings.append(
            Finding(
                kind="status_mismatch",
                key=f"status_mismatch:{broker_id}",
                message=f"{trade}: {current.value} in the OMS, {broker_status} at the broker "
                f"(order {short_id(broker_id)}); {why}",
                oms_value=current.value,
                broker_value=broker_status,
                repair="refresh",
                details={"expected_status": expected.value},
                **common,
            )
        )
    oms_filled = Decimal(oms["filled_qty"] or 0)
    broker_filled = Decimal(broker.get("filled_qty") or 0)
    if oms_filled != broker_filled:
        findings.append(
            Finding(
                kind="filled_qty_mismatch",
                key=f"filled_qty_mismatch:{broker_id}",
                message=f"{trade}: {num(oms_filled)} filled in the OMS, {num(broker_filled)} at "
                f"the broker (order {short_id(broker_id)})",
                oms_value=num(oms_filled),
                broker_value=num(broker_filled),
                repair="refresh",
                **common,
            )
        )
    oms_price, broker_price = oms.get("filled_avg_price"), broker.get("filled_avg_price")
    if (
        oms_price is not None
        and broker_price is not None
        and abs(Decimal(oms_price) - Decimal(broker_price)) > PRICE_TOLERANCE
    ):
        findings.append(
            Finding(
                kind="price_mismatch",
                key=f"price_mismatch:{broker_id}",
                message=f"{trade}: average fill price {num(oms_price)} in the OMS, "
                f"{num(broker_price)} at the broker (order {short_id(broker_id)})",
                oms_value=num(oms_price),
                broker_value=num(broker_price),
                **common,
            )
        )
    return findings


def missing_in_oms(broker: Row, portfolio_id: int | None, portfolio: str | None) -> Finding:
    """A broker order the OMS has no order for. `portfolio`: the portfolio its client_order_id
    names (an order of ours whose record was lost), None for one placed outside the OMS."""
    broker_id = str(broker["broker_order_id"])
    status = str(broker.get("status") or "")
    filled = Decimal(broker.get("filled_qty") or 0)
    what = _what(broker)
    if status == "filled" and filled > 0 and broker.get("qty") is None:
        what = f"{what} ({num(filled)} shares)"
    owner = f"portfolio {portfolio}" if portfolio else "placed outside the OMS"
    text = f"{what} {status} at the broker (order {short_id(broker_id)}), not in the OMS ({owner})"
    repair: str | None = "adopt"
    if not bookable(broker):
        repair = None
        kind = "an options order" if broker.get("asset_class") == "us_option" else "this order"
        if broker.get("order_class") in ("mleg", "oco", "oto"):
            kind = f"a {broker.get('order_class')} order"
        text += f"; {kind} cannot be booked in the OMS: it stays in the broker history"
    return Finding(
        kind="missing_in_oms",
        key=f"missing_in_oms:{broker_id}",
        message=text,
        symbol=str(broker.get("symbol") or broker.get("underlying") or "") or None,
        broker_order_id=broker_id,
        client_order_id=str(broker.get("client_order_id") or "") or None,
        portfolio_id=portfolio_id,
        oms_value=None,
        broker_value=f"{status} {num(filled)} filled",
        repair=repair,
        details={
            "asset_class": broker.get("asset_class"),
            "order_class": broker.get("order_class"),
        },
    )


def missing_at_broker(oms: Row) -> Finding:
    """An OMS order the broker should have and does not know (asked for it directly)."""
    key_id = oms.get("broker_order_id") or f"trade-{oms['id']}"
    return Finding(
        kind="missing_at_broker",
        key=f"missing_at_broker:{key_id}",
        message=f"{_what(oms)}: trade {oms['id']} is {oms['status']} in the OMS, but the broker "
        f"has no order {oms['client_order_id']}; not repaired here: the order core's recovery "
        "settles (or re-sends) orders the broker does not have",
        symbol=oms["symbol"],
        order_id=oms["id"],
        broker_order_id=oms.get("broker_order_id"),
        client_order_id=oms["client_order_id"],
        portfolio_id=oms.get("portfolio_id"),
        oms_value=str(oms["status"]),
        broker_value="not found",
    )


def compare_positions(
    oms_totals: Mapping[str, Decimal], broker_qty: Mapping[str, Decimal]
) -> tuple[int, list[Finding]]:
    """Per symbol (the union of both sides, zero on both skipped): the portfolios' total
    against the broker's position. Returns how many symbols were compared, and the findings."""
    findings: list[Finding] = []
    compared = 0
    for symbol in sorted(set(oms_totals) | set(broker_qty)):
        ours = Decimal(oms_totals.get(symbol, 0))
        theirs = Decimal(broker_qty.get(symbol, 0))
        if ours == 0 and theirs == 0:
            continue
        compared += 1
        if ours == theirs:
            continue
        gap = theirs - ours
        if abs(theirs) > abs(ours) and (ours == 0 or (ours > 0) == (theirs > 0)):
            explain = f"{num(abs(gap))} unmanaged (held at the broker, in no portfolio)"
        else:
            explain = f"{num(abs(gap))} more in the portfolios than at the broker"
        findings.append(
            Finding(
                kind="position_mismatch",
                key=f"position_mismatch:{symbol}",
                message=f"{symbol}: the broker holds {num(theirs)}, the OMS's portfolios "
                f"{num(ours)}: {explain}; nothing is traded to fix it",
                symbol=symbol,
                oms_value=num(ours),
                broker_value=num(theirs),
                details={"unmanaged_qty": format(gap, "f")},
            )
        )
    return compared, findings
