"""Turn the OMS's values (decimals as JSON strings, ISO 8601 times) into short, readable text.

Pure functions, no floats: money is parsed with Decimal and formatted with Decimal."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

MISSING = "—"
PRICE_PLACES_BELOW_DOLLAR = 4


def to_decimal(value: object) -> Decimal | None:
    """A Decimal from an OMS value (str, int or Decimal); None when missing or not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            return None
        return parsed if parsed.is_finite() else None
    # A float would already have lost precision: refuse it rather than guess.
    return None


def _grouped(value: Decimal, places: int) -> str:
    # format() rounds without quantize(), which fails beyond the context's 28 digits.
    return f"{abs(value):,.{places}f}"


def money(value: object) -> str:
    """`$1,234.56`; `-$12.30`; `$0.1234` for sub-dollar prices with more precision."""
    amount = to_decimal(value)
    if amount is None:
        return MISSING
    places = 2
    if 0 < abs(amount) < 1:
        exponent = amount.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > 2:
            places = min(-exponent, PRICE_PLACES_BELOW_DOLLAR)
    digits = _grouped(amount, places)
    sign = "-" if amount < 0 and digits.strip("0.,") else ""
    return f"{sign}${digits}"


def signed_money(value: object) -> str:
    """`+$12.30` / `-$12.30` / `$0.00`."""
    amount = to_decimal(value)
    if amount is None:
        return MISSING
    text = money(amount)
    return f"+{text}" if amount > 0 and text != "$0.00" else text


def qty(value: object) -> str:
    """Share quantities without trailing zeros: `10`, `0.5`, `1,000`, `-3`."""
    amount = to_decimal(value)
    if amount is None:
        return MISSING
    normalized = amount.normalize()
    exponent = normalized.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(normalized):,.{places}f}"


def pct(value: object, *, fraction: bool = True) -> str:
    """A signed percentage with 2 decimals. `fraction=True` reads 0.05 as 5% (Alpaca's plpc)."""
    amount = to_decimal(value)
    if amount is None:
        return MISSING
    percent = amount * 100 if fraction else amount
    digits = f"{abs(percent):,.2f}"
    nonzero = bool(digits.strip("0.,"))
    sign = ("+" if percent > 0 else "-") if nonzero else ""
    return f"{sign}{digits}%"


def pnl(value: object, fraction_change: object = None) -> str:
    """P&L with a direction emoji: `:chart_with_upwards_trend: +$12.30 (+5.00%)`."""
    amount = to_decimal(value)
    if amount is None:
        return MISSING
    if amount > 0:
        emoji = ":chart_with_upwards_trend:"
    elif amount < 0:
        emoji = ":chart_with_downwards_trend:"
    else:
        emoji = ":heavy_minus_sign:"
    text = f"{emoji} {signed_money(amount)}"
    if to_decimal(fraction_change) is not None:
        text += f" ({pct(fraction_change)})"
    return text


def parse_time(value: object) -> datetime | None:
    """An aware datetime from an ISO 8601 string (a trailing Z is accepted) or a datetime."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    # The OMS speaks UTC; a naive time from it is UTC too.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def when(value: object) -> str:
    """`Mon 23 Nov 14:30 UTC`."""
    moment = parse_time(value)
    if moment is None:
        return MISSING
    utc = moment.astimezone(UTC)
    return f"{utc:%a} {utc.day} {utc:%b %H:%M} UTC"


def duration(seconds: int) -> str:
    """`5 minutes`, `1 minute`, `90 seconds`, `1 hour`: whole units only, else seconds."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" + ("s" if count != 1 else "")
    return f"{seconds} second" + ("s" if seconds != 1 else "")
