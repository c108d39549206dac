"""Reference data: the market clock, the trading calendar and the asset list."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from oms_api.simulator.clock import (
    NEW_YORK,
    clock_times,
    sessions_between,
    settlement_date,
)
from oms_api.simulator.errors import invalid, not_found
from oms_api.simulator.matching import Matching
from oms_api.simulator.params import query_date

# Alpaca's calendar runs from 1970; without `end` it stops at 2029, as Alpaca's does. The
# simulator answers explicit dates up to 2099 (later ones are clamped, as Alpaca clamps).
CALENDAR_FIRST_DAY = date(1970, 1, 1)
CALENDAR_DEFAULT_LAST_DAY = date(2029, 12, 31)
CALENDAR_LAST_DAY = date(2099, 12, 31)
CALENDAR_DATE_TYPES = ("TRADING", "SETTLEMENT")

ASSET_STATUSES = ("active", "inactive")
ASSET_CLASSES = ("us_equity", "us_option", "crypto", "crypto_perp")
ASSET_EXCHANGES = (
    "AMEX",
    "ARCA",
    "ASCX",
    "BATS",
    "NYSE",
    "NASDAQ",
    "NYSEARCA",
    "FTXU",
    "CBSE",
    "GNSS",
    "ERSX",
    "OTC",
    "CRYPTO",
)
ASSET_ATTRIBUTES = (
    "ptp_no_exception",
    "ptp_with_exception",
    "ipo",
    "has_options",
    "options_late_close",
    "fractional_eh_enabled",
    "overnight_tradable",
    "overnight_halted",
)


class ReferenceData(Matching):
    """Alpaca's clock, calendar and assets."""

    def clock_json(self) -> dict[str, Any]:
        with self._lock:
            self._done()
            now = self.clock.now()
            is_open, next_open, next_close = clock_times(now, self.config.market_mode)
            return {
                "timestamp": now.astimezone(NEW_YORK).isoformat(timespec="microseconds"),
                "is_open": is_open,
                "next_open": next_open.astimezone(NEW_YORK).isoformat(),
                "next_close": next_close.astimezone(NEW_YORK).isoformat(),
            }

    def calendar_json(self, params: dict[str, str]) -> list[dict[str, str]]:
        """Alpaca's GET /v2/calendar: one entry per trading day from `start` to `end`
        (inclusive). With date_type=SETTLEMENT the range bounds the settlement dates."""
        first = query_date(params, "start") or CALENDAR_FIRST_DAY
        last = query_date(params, "end") or CALENDAR_DEFAULT_LAST_DAY
        date_type = (params.get("date_type") or "TRADING").upper()
        if date_type not in CALENDAR_DATE_TYPES:
            raise invalid(
                f"invalid date_type: {params['date_type']!r} (allowed: TRADING, SETTLEMENT)"
            )
        first, last = max(first, CALENDAR_FIRST_DAY), min(last, CALENDAR_LAST_DAY)
        if first > last:
            return []
        settling = date_type == "SETTLEMENT"
        # A settlement date trails its trade date by five business days at most.
        trade_first = first - timedelta(days=14) if settling else first
        entries = []
        for session in sessions_between(trade_first, last):
            settles = settlement_date(session.day)
            if settling and not first <= settles <= last:
                continue
            entries.append(
                {
                    "date": session.day.isoformat(),
                    "open": _hh_mm(session.open, ":"),
                    "close": _hh_mm(session.close, ":"),
                    "session_open": _hh_mm(session.extended_open, ""),
                    "session_close": _hh_mm(session.extended_close, ""),
                    "settlement_date": settles.isoformat(),
                }
            )
        return entries

    def asset_json(self, symbol: str) -> dict[str, Any]:
        with self._lock:
            asset = self.state.assets.get(self._symbol_for(symbol))
            if asset is None:
                raise not_found(f"asset not found for {symbol}")
            return asset.to_json()

    def assets_json(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """Alpaca's GET /v2/assets, filtered by status, asset_class, exchange and attributes
        (an asset with any of the attributes listed), sorted by class, exchange and symbol."""
        status = _query_choice(params, "status", ASSET_STATUSES, str.lower)
        asset_class = _query_choice(params, "asset_class", ASSET_CLASSES, str.lower)
        exchange = _query_choice(params, "exchange", ASSET_EXCHANGES, str.upper)
        attributes = set()
        for attribute in (params.get("attributes") or "").split(","):
            attribute = attribute.strip().lower()
            if not attribute:
                continue
            if attribute not in ASSET_ATTRIBUTES:
                raise invalid(
                    f"invalid attributes: {attribute!r} (allowed: {', '.join(ASSET_ATTRIBUTES)})"
                )
            attributes.add(attribute)
        with self._lock:
            listed = [asset.to_json() for asset in self.state.assets.values()]
        selected = [
            asset
            for asset in listed
            if (status is None or asset["status"] == status)
            and (asset_class is None or asset["class"] == asset_class)
            and (exchange is None or asset["exchange"] == exchange)
            and (not attributes or attributes & set(asset["attributes"]))
        ]
        return sorted(selected, key=lambda a: (a["class"], a["exchange"], a["symbol"]))


def _hh_mm(when: Any, separator: str) -> str:
    """A session time in New York as Alpaca's calendar writes it: "09:30", or "0400"."""
    return when.astimezone(NEW_YORK).strftime(f"%H{separator}%M")


def _query_choice(
    params: dict[str, str], key: str, allowed: tuple[str, ...], normalise: Any
) -> str | None:
    raw = params.get(key)
    if raw is None or raw == "":
        return None
    value = normalise(raw.strip())
    if value not in allowed:
        raise invalid(f"invalid {key}: {raw!r} (allowed: {', '.join(allowed)})")
    return value
