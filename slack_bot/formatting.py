"""Turn the OMS's values (decimals as JSON strings, ISO 8601 times) into short, readable text.

Pure functions, no floats: money is parsed with Decimal and formatted with Decimal."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

MISSING = "—"
PRICE_PLACES_BELOW_DOLLAR = 4
# US equities trade on New York time: market hours read in ET whatever the reader's zone.
MARKET_ZONE = ZoneInfo("America/New_York")
# Between a number and its "%": a space that never breaks the line.
PERCENT_SPACE = "\u00a0"
# Slack's date tokens: a day ("today", "Nov 29") and a time, in each reader's own zone and
# clock format. Seconds where the moment matters (a fill).
DAY_AND_TIME = "{date_short_pretty} {time}"
DAY_AND_TIME_SECS = "{date_short_pretty} {time_secs}"


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
    """A signed percentage for people: `+2.9 %`, `-10.0 %`, `+0.04 %` (a second decimal only
    when one would show a change as zero). `fraction=True` reads 0.05 as 5 % (Alpaca's plpc)."""
    amount = to_decimal(value)
    if amount is None:
        return MISSING
    percent = amount * 100 if fraction else amount
    digits = f"{abs(percent):,.1f}"
    if not digits.strip("0.,"):
        digits = f"{abs(percent):,.2f}"
    nonzero = bool(digits.strip("0.,"))
    if not nonzero:
        digits = "0.0"
    sign = ("+" if percent > 0 else "-") if nonzero else ""
    return f"{sign}{digits}{PERCENT_SPACE}%"


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
    """`Mon 23 Nov 14:30 UTC`: for plain text (notifications, headers, button labels, option
    labels, modal titles), where Slack's date formatting does not render."""
    moment = parse_time(value)
    if moment is None:
        return MISSING
    utc = moment.astimezone(UTC)
    return f"{utc:%a} {utc.day} {utc:%b %H:%M} UTC"


def slack_time(value: object, tokens: str = DAY_AND_TIME) -> str:
    """`<!date^1795000000^{date_short_pretty} {time}|Mon 23 Nov 14:30 UTC>`: Slack shows it in
    each reader's own time zone and clock format; clients that cannot (and notifications)
    show the UTC fallback. Only for mrkdwn text (messages, section and context blocks, in
    messages and modals): plain_text shows the token raw, so use `when()` there."""
    moment = parse_time(value)
    if moment is None:
        return MISSING
    return f"<!date^{int(moment.timestamp())}^{tokens}|{when(moment)}>"


def market_time(value: object) -> str:
    """`Mon 9:30 AM ET`: when the exchange opens or closes, on New York's clock."""
    moment = parse_time(value)
    if moment is None:
        return MISSING
    local = moment.astimezone(MARKET_ZONE)
    hour = local.strftime("%I").lstrip("0")
    return f"{local:%a} {hour}:{local:%M %p} ET"


def duration(seconds: int) -> str:
    """`5 minutes`, `1 minute`, `90 seconds`, `1 hour`: whole units only, else seconds."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" + ("s" if count != 1 else "")
    return f"{seconds} second" + ("s" if seconds != 1 else "")
