"""Parsing Alpaca request bodies and query strings into checked values.

Bad input raises Alpaca's 422 (code 42210000) naming the field at fault.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from oms_api.simulator.clock import NEW_YORK
from oms_api.simulator.errors import invalid
from oms_api.simulator.orders import dec


def body_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"{key} must be a string")
    return value.strip()


def body_choice(body: dict[str, Any], key: str, allowed: tuple[str, ...], required: bool) -> str:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise invalid(f"{key} is required")
        return ""
    if not isinstance(value, str) or value.lower() not in allowed:
        raise invalid(f"invalid {key}: {value!r} (allowed: {', '.join(a for a in allowed if a)})")
    return value.lower()


def body_boolean(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(f"{key} must be a boolean")
    return value


def parse_decimal(value: Any, key: str) -> Decimal:
    if isinstance(value, bool):
        raise invalid(f"invalid {key}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise invalid(f"invalid {key}: {value!r}") from None
    if not number.is_finite():
        raise invalid(f"invalid {key}: {value!r}")
    return number


def body_decimal(body: dict[str, Any], key: str) -> Decimal | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str | int | float | Decimal):
        raise invalid(f"invalid {key}")
    return parse_decimal(value, key).normalize() + 0


def body_price(body: dict[str, Any], key: str, label: str | None = None) -> Decimal | None:
    price = body_decimal(body, key)
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


def query_int(params: dict[str, str], key: str, default: int) -> int:
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid(f"invalid {key}: {raw!r}") from None


def query_bool(params: dict[str, str], key: str) -> bool:
    raw = (params.get(key) or "").lower()
    if raw in ("", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise invalid(f"invalid {key}: {raw!r}")


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def query_time(params: dict[str, str], key: str) -> datetime | None:
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


def query_date(params: dict[str, str], key: str) -> date | None:
    """A day given as YYYY-MM-DD or as an RFC 3339 time (its New York date)."""
    when = query_time(params, key)
    return None if when is None else when.astimezone(NEW_YORK).date()
