"""Alpaca JSON -> broker mirror rows (plain dicts for SQLAlchemy Core executemany).

An order becomes its parent row plus one row per leg (`parent_broker_order_id`, `leg_number`
1..n). A row the database would refuse (no id, a status Alpaca does not document, numbers out of
range) is refused here instead, with a warning: one bad order never fails a whole page.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from oms_api.broker.raw import parse_decimal, parse_time
from oms_api.history.models import BROKER_STATUSES
from oms_api.history.strategy import parse_occ

log = logging.getLogger(__name__)

_STATUSES = frozenset(BROKER_STATUSES)
# The columns' ranges: NUMERIC(20, 9) for quantities, NUMERIC(18, 6) for money.
_MAX_QTY = Decimal(10) ** 11
_MAX_MONEY = Decimal(10) ** 12

# Columns a re-sync compares and rewrites (everything the broker's JSON determines).
ORDER_COLUMNS: tuple[str, ...] = (
    "broker_order_id",
    "client_order_id",
    "parent_broker_order_id",
    "leg_number",
    "symbol",
    "underlying",
    "asset_class",
    "side",
    "position_intent",
    "qty",
    "notional",
    "ratio_qty",
    "filled_qty",
    "filled_avg_price",
    "limit_price",
    "stop_price",
    "order_type",
    "order_class",
    "time_in_force",
    "status",
    "extended_hours",
    "option_expiry",
    "option_strike",
    "option_type",
    "broker_created_at",
    "broker_updated_at",
    "submitted_at",
    "filled_at",
    "expired_at",
    "canceled_at",
    "failed_at",
    "raw",
    "content_hash",
)
POSITION_COLUMNS: tuple[str, ...] = (
    "symbol",
    "asset_id",
    "asset_class",
    "underlying",
    "side",
    "qty",
    "avg_entry_price",
    "market_value",
    "cost_basis",
    "unrealized_pl",
    "current_price",
    "option_expiry",
    "option_strike",
    "option_type",
    "raw",
    "content_hash",
)


class BadOrder(ValueError):
    """An order JSON the mirror cannot store."""


@dataclass
class ParsedOrders:
    rows: list[dict[str, Any]] = field(default_factory=list)  # parents first, then their legs
    skipped: int = 0
    # The ids of the top-level orders read (a page's `orders_seen`), in page order.
    order_ids: list[str] = field(default_factory=list)


def canonical_json(raw: Any) -> str:
    """The JSON text a row stores, compact, keys in the broker's order (its answers keep one
    order, so equal content reads equal; a reordering would only mark the rows changed once)."""
    return _ENCODE(raw)


# One encoder for every row (json.dumps with options builds a new one per call).
# The JSON came from json.loads, so it has no cycles to look for.
_ENCODE = json.JSONEncoder(separators=(",", ":"), default=str, check_circular=False).encode


def content_hash(raw: Any, text: str | None = None) -> str:
    """sha256 of the canonical JSON: equal content, equal hash."""
    return hashlib.sha256((text if text is not None else canonical_json(raw)).encode()).hexdigest()


def _text(value: Any, limit: int) -> str:
    if type(value) is str and len(value) <= limit:  # the common case, first
        return value
    text = "" if value is None else str(value)
    if len(text) > limit:
        raise BadOrder(f"{text[:20]!r}… is longer than {limit} characters")
    return text


def _choice(value: Any, allowed: tuple[str, ...]) -> str | None:
    text = "" if value is None else str(value).lower()
    return text if text in allowed else None


def _number(raw: dict[str, Any], key: str, bound: Decimal) -> Decimal | None:
    value = raw.get(key)
    if value is None:  # most optional numbers are absent: no parsing
        return None
    if type(value) is str and value:  # Alpaca's numbers are strings: the fast path
        try:
            number: Decimal | None = Decimal(value)
        except InvalidOperation:
            number = None
        if number is not None and not number.is_finite():
            number = None
    else:
        number = parse_decimal(value)
    if number is None:
        if value != "":
            raise BadOrder(f"{key} {value!r} is not a number")
        return None
    if not -bound < number < bound:
        raise BadOrder(f"{key} {value!r} is out of range")
    return number


@functools.lru_cache(maxsize=4096)
def _time_text(text: str) -> datetime | None:
    return parse_time(text)


def _time(value: Any) -> datetime | None:
    """parse_time, remembering recent strings: an order's created, submitted and updated times
    are often one string, and a multi-leg order's legs repeat their parent's."""
    if value is None:
        return None
    return _time_text(value) if type(value) is str else parse_time(value)


def _order_row(
    raw: dict[str, Any],
    parent_id: str | None,
    leg_number: int | None,
    whole: dict[str, Any],
) -> dict[str, Any]:
    broker_order_id = _text(raw.get("id"), 64)
    if not broker_order_id:
        raise BadOrder("no order id")
    status = str(raw.get("status") or "")
    if status not in _STATUSES:
        raise BadOrder(f"unknown status {status!r}")
    symbol = _text(raw.get("symbol"), 32).upper()
    occ = parse_occ(symbol) if len(symbol) > 15 else None
    asset_class = _text(raw.get("asset_class"), 16)
    if occ is not None and not asset_class:
        asset_class = "us_option"
    filled_qty = _number(raw, "filled_qty", _MAX_QTY) or Decimal(0)
    if filled_qty < 0:
        raise BadOrder("negative filled_qty")
    return {
        "broker_order_id": broker_order_id,
        "client_order_id": _text(raw.get("client_order_id"), 128),
        "parent_broker_order_id": parent_id,
        "leg_number": leg_number,
        "symbol": symbol,
        "underlying": (occ.root if occ is not None else symbol)[:16],
        "asset_class": asset_class,
        "side": _choice(raw.get("side"), ("buy", "sell")),
        "position_intent": _text(raw.get("position_intent"), 16) or None,
        "qty": _number(raw, "qty", _MAX_QTY),
        "notional": _number(raw, "notional", _MAX_MONEY),
        "ratio_qty": _number(raw, "ratio_qty", _MAX_QTY),
        "filled_qty": filled_qty,
        "filled_avg_price": _number(raw, "filled_avg_price", _MAX_MONEY),
        "limit_price": _number(raw, "limit_price", _MAX_MONEY),
        "stop_price": _number(raw, "stop_price", _MAX_MONEY),
        "order_type": _text(raw.get("type") or raw.get("order_type"), 16),
        "order_class": _text(raw.get("order_class"), 16) or "simple",
        "time_in_force": _text(raw.get("time_in_force"), 8),
        "status": status,
        "extended_hours": bool(raw.get("extended_hours")),
        "option_expiry": occ.expiry if occ is not None else None,
        "option_strike": occ.strike if occ is not None else None,
        "option_type": occ.option_type if occ is not None else None,
        "broker_created_at": _time(raw.get("created_at")),
        "broker_updated_at": _time(raw.get("updated_at")),
        "submitted_at": _time(raw.get("submitted_at")),
        "filled_at": _time(raw.get("filled_at")),
        "expired_at": _time(raw.get("expired_at")),
        "canceled_at": _time(raw.get("canceled_at")),
        "failed_at": _time(raw.get("failed_at")),
        "raw": whole,
        # Serialised once: hashed here, and stored as it is by the sync's bulk insert.
        "raw_text": (text := canonical_json(whole)),
        "content_hash": content_hash(whole, text),
    }


def order_rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of one order JSON: the parent, then its legs (raises BadOrder)."""
    if not isinstance(raw, dict):
        raise BadOrder("not a JSON object")
    legs = raw.get("legs") or []
    if not isinstance(legs, list) or not all(isinstance(leg, dict) for leg in legs):
        raise BadOrder("legs is not a list of orders")
    # Each row keeps its own JSON: a parent's `legs` are the ids of its leg rows, whose JSON is
    # on those rows (a multi-leg order's legs are not serialised, hashed and stored twice).
    own = raw if not legs else {**raw, "legs": [leg.get("id") for leg in legs]}
    parent = _order_row(raw, None, None, own)
    if parent["submitted_at"] is None:
        # Pages and the history are ordered by submission: an order without one cannot be placed.
        parent["submitted_at"] = parent["broker_created_at"]
        if parent["submitted_at"] is None:
            raise BadOrder("no submission or creation time")
    rows = [parent]
    for number, leg in enumerate(legs, start=1):
        row = _order_row(leg, parent["broker_order_id"], number, leg)
        if row["submitted_at"] is None:
            row["submitted_at"] = parent["submitted_at"]
        rows.append(row)
    if parent["order_class"] == "mleg" and not parent["symbol"]:
        # A multi-leg parent has no symbol of its own: its underlying is the legs' common root.
        roots = {row["underlying"] for row in rows[1:] if row["underlying"]}
        if len(roots) == 1:
            parent["underlying"] = roots.pop()
        if parent["asset_class"] == "" and any(r["option_type"] for r in rows[1:]):
            parent["asset_class"] = "us_option"
    return rows


def parse_orders(raws: list[dict[str, Any]]) -> ParsedOrders:
    """Rows for a page of order JSON; bad orders are skipped, logged and counted."""
    parsed = ParsedOrders()
    seen: set[str] = set()
    for raw in raws:
        try:
            rows = order_rows(raw)
        except BadOrder as error:
            ident = raw.get("id") if isinstance(raw, dict) else None
            log.warning("history sync: skipped broker order %r: %s", ident, error)
            parsed.skipped += 1
            continue
        ids = [row["broker_order_id"] for row in rows]
        if any(i in seen for i in ids):  # the same order twice in one answer: keep the first
            continue
        seen.update(ids)
        parsed.rows.extend(rows)
        parsed.order_ids.append(ids[0])
    return parsed


def position_row(raw: dict[str, Any]) -> dict[str, Any] | None:
    """A broker_positions row for one position JSON; None (logged) when it cannot be stored."""
    try:
        symbol = _text(raw.get("symbol"), 32).upper()
        if not symbol:
            raise BadOrder("no symbol")
        qty = _number(raw, "qty", _MAX_QTY)
        if qty is None:
            raise BadOrder("no qty")
        side = _choice(raw.get("side"), ("long", "short")) or ("short" if qty < 0 else "long")
        occ = parse_occ(symbol) if len(symbol) > 15 else None
        asset_class = _text(raw.get("asset_class"), 16)
        if occ is not None and asset_class in ("", "us_equity"):
            asset_class = "us_option"
        return {
            "symbol": symbol,
            "asset_id": _text(raw.get("asset_id"), 64) or None,
            "asset_class": asset_class,
            "underlying": (occ.root if occ is not None else symbol)[:16],
            "side": side,
            "qty": qty,
            "avg_entry_price": _number(raw, "avg_entry_price", _MAX_MONEY),
            "market_value": _number(raw, "market_value", _MAX_MONEY),
            "cost_basis": _number(raw, "cost_basis", _MAX_MONEY),
            "unrealized_pl": _number(raw, "unrealized_pl", _MAX_MONEY),
            "current_price": _number(raw, "current_price", _MAX_MONEY),
            "option_expiry": occ.expiry if occ is not None else None,
            "option_strike": occ.strike if occ is not None else None,
            "option_type": occ.option_type if occ is not None else None,
            "raw": raw,
            "content_hash": content_hash(raw),
        }
    except BadOrder as error:
        log.warning("history sync: skipped broker position %r: %s", raw.get("symbol"), error)
        return None
