"""Alpaca order JSON -> BrokerOrder, without alpaca-py.

The history sync reads orders as raw JSON (building alpaca-py's pydantic models for 10,000
orders costs seconds); this maps that JSON to the same broker-neutral `BrokerOrder` that
`gateway.broker_order_from_alpaca` produces, legs included.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from oms_api.broker.models import BrokerOrder

# Alpaca sends up to nanoseconds ("2024-01-02T15:04:05.123456789Z"); Python keeps microseconds.
_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value: Any) -> datetime | None:
    """An Alpaca RFC 3339 time as a UTC-aware datetime; None for null, "" or garbage."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:  # Python 3.11 reads "Z" and more than six fraction digits itself: the fast path
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            text = _FRACTION.sub(r"\1", str(value).strip()).replace("Z", "+00:00")
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    if moment.tzinfo is UTC:
        return moment
    return moment.astimezone(UTC)


def parse_decimal(value: Any) -> Decimal | None:
    """A JSON number or numeric string as a Decimal (str() first: a float keeps its short repr)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def broker_order_from_json(raw: dict[str, Any]) -> BrokerOrder:
    """Map one Alpaca order JSON (with nested `legs`) to a BrokerOrder; `raw` is kept as is."""
    legs = tuple(
        broker_order_from_json(leg) for leg in raw.get("legs") or [] if isinstance(leg, dict)
    )
    return BrokerOrder(
        id=_text(raw.get("id")),
        client_order_id=_text(raw.get("client_order_id")),
        symbol=_text(raw.get("symbol")),
        side=_text(raw.get("side")),
        status=_text(raw.get("status")),
        order_type=_text(raw.get("type") or raw.get("order_type")),
        time_in_force=_text(raw.get("time_in_force")),
        qty=parse_decimal(raw.get("qty")),
        notional=parse_decimal(raw.get("notional")),
        filled_qty=parse_decimal(raw.get("filled_qty")) or Decimal(0),
        filled_avg_price=parse_decimal(raw.get("filled_avg_price")),
        limit_price=parse_decimal(raw.get("limit_price")),
        stop_price=parse_decimal(raw.get("stop_price")),
        order_class=_text(raw.get("order_class")) or "simple",
        extended_hours=bool(raw.get("extended_hours")),
        submitted_at=parse_time(raw.get("submitted_at")),
        filled_at=parse_time(raw.get("filled_at")),
        canceled_at=parse_time(raw.get("canceled_at")),
        updated_at=parse_time(raw.get("updated_at")),
        legs=legs,
        raw=raw,
    )
