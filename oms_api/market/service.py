"""Account, positions, quotes and market hours, read from the broker with errors translated
for the API."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from oms_api.broker.models import (
    Account,
    BrokerBusy,
    BrokerRejected,
    BrokerUnavailable,
    MarketClock,
    Position,
    Quote,
)
from oms_api.errors import ServiceError, broker_busy
from oms_api.orders.requests import SYMBOL_RULE, normalise_symbol

T = TypeVar("T")


class BrokerReads(Protocol):
    def get_account(self) -> Account: ...
    def get_positions(self) -> list[Position]: ...
    def get_clock(self) -> MarketClock: ...
    def get_quote(self, symbol: str) -> Quote: ...
    def get_asset(self, symbol: str) -> Any: ...
    def get_stock_bars(
        self, symbols: Sequence[str], timeframe: str, start: datetime, end: datetime
    ) -> dict[str, list[Any]]: ...


class MarketService:
    def __init__(self, broker: BrokerReads) -> None:
        self.broker = broker

    def _call(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except BrokerBusy as error:
            raise broker_busy(error.retry_after) from None
        except BrokerUnavailable as error:
            raise ServiceError(
                503, "broker_unavailable", f"broker unavailable while reading {what}: {error}"
            ) from None
        except BrokerRejected as error:
            raise ServiceError(502, "broker_error", f"the broker refused {what}: {error}") from None

    def account(self) -> Account:
        return self._call("the account", self.broker.get_account)

    def positions(self) -> list[Position]:
        return self._call("positions", self.broker.get_positions)

    def clock(self) -> MarketClock:
        return self._call("the market clock", self.broker.get_clock)

    def quote(self, raw_symbol: str) -> Quote:
        symbol = normalise_symbol(raw_symbol)
        if symbol is None:
            raise ServiceError(
                400,
                "invalid_symbol",
                f"invalid symbol: {raw_symbol!r} ({SYMBOL_RULE})",
                {"field": "symbol"},
            )
        asset = self._call("the asset", lambda: self.broker.get_asset(symbol))
        if asset is None:
            raise ServiceError(400, "invalid_symbol", f"invalid symbol: {symbol}")
        return self._call(f"the quote for {symbol}", lambda: self.broker.get_quote(symbol))

    def bars(
        self, symbols: Sequence[str], timeframe: str, start: datetime, end: datetime
    ) -> dict[str, list[Any]]:
        """Price bars (at, open, high, low, close, volume) of each symbol from `start` to
        `end`, by symbol (a symbol without bars may be absent)."""
        return self._call(
            "price bars",
            lambda: self.broker.get_stock_bars(list(symbols), timeframe, start, end),
        )
