"""Market data: latest trade, latest quote and snapshot, from the seeded price paths."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from oms_api.simulator.clock import NEW_YORK
from oms_api.simulator.errors import SimAPIError
from oms_api.simulator.market import bid_ask, round_price
from oms_api.simulator.matching import Matching
from oms_api.simulator.orders import rfc3339
from oms_api.simulator.universe import Asset


class MarketData(Matching):
    """Alpaca's Market Data latest trade, latest quote and snapshot."""

    def _data_symbol(self, symbol: str) -> Asset:
        asset = self.state.assets.get(symbol.upper())
        if asset is None:
            raise SimAPIError(422, {"code": 42210000, "message": f"invalid symbol: {symbol}"})
        return asset

    def latest_trade(self, symbol: str) -> dict[str, Any]:
        with self._lock:
            self._done()
            asset = self._data_symbol(symbol)
            price = self.market.price(asset.symbol)
            return {
                "t": rfc3339(self.clock.now()),
                "x": "V",
                "p": price,
                "s": 100,
                "c": ["@"],
                "i": self._rng.getrandbits(40),
                "z": "C" if asset.exchange == "NASDAQ" else "A",
            }

    def latest_quote(self, symbol: str) -> dict[str, Any]:
        with self._lock:
            self._done()
            asset = self._data_symbol(symbol)
            bid, ask = bid_ask(self.market.price(asset.symbol))
            return {
                "t": rfc3339(self.clock.now()),
                "ax": "V",
                "ap": ask,
                "as": 2,
                "bx": "V",
                "bp": bid,
                "bs": 3,
                "c": ["R"],
                "z": "C" if asset.exchange == "NASDAQ" else "A",
            }

    def snapshot(self, symbol: str) -> dict[str, Any]:
        with self._lock:
            trade = self.latest_trade(symbol)
            quote = self.latest_quote(symbol)
            asset = self._data_symbol(symbol)
            path = self.market.path(asset.symbol)
            now = self.clock.now()
            day_start = now.astimezone(NEW_YORK).replace(hour=0, minute=0, second=0, microsecond=0)
            minute = now.replace(second=0, microsecond=0)
            price = path.price

            def bar(at: datetime, o: Decimal, h: Decimal, low: Decimal, c: Decimal) -> dict:
                return {
                    "t": rfc3339(at),
                    "o": o,
                    "h": h,
                    "l": low,
                    "c": c,
                    "v": 125_000,
                    "n": 1_800,
                    "vw": round_price((h + low + c) / 3),
                }

            return {
                "symbol": asset.symbol,
                "latestTrade": trade,
                "latestQuote": quote,
                "minuteBar": bar(minute, price, price, price, price),
                "dailyBar": bar(day_start, path.day_open, path.high, path.low, price),
                "prevDailyBar": bar(
                    day_start - timedelta(days=1),
                    path.prev_close,
                    path.prev_close,
                    path.prev_close,
                    path.prev_close,
                ),
            }
