"""Typed path and query parameters: bounds and conversions the routes share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from oms_api.orders.queries import MAX_TRADE_ID
from oms_api.orders.requests import StorableText


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # documented: a time without an offset is UTC
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is in year 0 in UTC
        raise PydanticCustomError(
            "datetime_out_of_range", "out of range once converted to UTC (years 1-9999)"
        ) from None


UtcTime = Annotated[datetime | None, AfterValidator(_as_utc)]
"""An ISO 8601 time as an aware UTC datetime; without an offset it is read as UTC."""

TradeId = Annotated[
    int,
    Path(ge=1, le=MAX_TRADE_ID, description="The OMS trade id (`id` in a trade)."),
]

PortfolioName = Annotated[StorableText, Path(description="The portfolio's name.")]
Symbol = Annotated[StorableText, Path(description="A ticker, e.g. AAPL or BRK.B.")]
