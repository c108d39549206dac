"""The pre-trade checks a new order passes before it is written or sent: the portfolio's limits
(symbols, order size, position size) and, for a buy, its free capital.

How it runs: the order's price is estimated first (its limit price, else the latest price, from
a short-lived cache in front of the broker's quote), outside any transaction; then the checks run
inside the transaction that records the order, with the portfolio's row locked (the order
writer's `check` hook), so two orders of one portfolio are checked one after the other and the
second sees the first. A refusal raises a ServiceError (402 or 403) and nothing is written.

Emergency sells skip all of this (they cut risk, and must not wait for a quote).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.engine import Connection

from oms_api.broker.models import Quote
from oms_api.errors import ServiceError
from oms_api.orders.enums import OrderType, Side
from oms_api.orders.requests import TradeRequest
from oms_api.portfolios.models import Portfolio
from oms_api.portfolios.service import PortfolioService
from oms_api.risk.capital import buy_refusal, free_capital
from oms_api.risk.limits import notional_refusal, position_refusal, read_limits, symbol_refusal

PORTFOLIOS = Portfolio.__table__  # type: ignore[attr-defined]
# How long a latest price serves as an estimate: a desk placing orders in one symbol asks the
# broker for its price once in this while, not once per order (broker calls per filled market
# order stay close to one). An estimate this old is still an estimate; the fill decides.
PRICE_TTL_SECONDS = 10.0
NOTHING_SENT = "nothing was sent"


class LatestPrices:
    """Latest trade prices for estimates, each kept `ttl` seconds (thread-safe)."""

    def __init__(
        self,
        quote: Callable[[str], Quote],
        ttl: float = PRICE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._quote = quote
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._prices: dict[str, tuple[float, Decimal]] = {}

    def price(self, symbol: str) -> Decimal:
        now = self._clock()
        with self._lock:
            cached = self._prices.get(symbol)
        if cached is not None and now < cached[0]:
            return cached[1]
        price = self._quote(symbol).price  # a ServiceError refuses the order: nothing sent
        with self._lock:
            self._prices[symbol] = (self._clock() + self.ttl, price)
        return price


@dataclass(frozen=True)
class ProposedOrder:
    """A new order as the checks see it."""

    portfolio_id: int
    portfolio: str
    symbol: str
    side: Side
    qty: Decimal | None
    notional: Decimal | None
    # The estimate: its limit price, else the latest price. None only for a sell whose price
    # could not be read: it goes through unless a limit needs the price (`price_error` then).
    price: Decimal | None
    price_error: ServiceError | None = None

    @property
    def known_price(self) -> Decimal:
        if self.price is None:
            assert self.price_error is not None
            raise self.price_error
        return self.price

    @property
    def estimated_notional(self) -> Decimal:
        return self.notional if self.notional is not None else self.qty_estimate * self.known_price

    @property
    def qty_estimate(self) -> Decimal:
        if self.qty is not None:
            return self.qty
        assert self.notional is not None
        return self.notional / self.known_price

    def position_after(self, held: Decimal) -> Decimal:
        delta = self.qty_estimate
        return held + delta if self.side is Side.BUY else held - delta

    def cost(self, held: Decimal) -> Decimal:
        """What a buy takes of the portfolio's capital: all of it, except the part that
        covers the portfolio's own short position in the symbol (buying back a short cuts risk,
        and refusing it would trap the short)."""
        if held >= 0:
            return self.estimated_notional
        covering = min(self.qty_estimate, -held)
        return (self.qty_estimate - covering) * self.known_price


class PreTradeChecks:
    def __init__(self, portfolios: PortfolioService, prices: LatestPrices) -> None:
        self.portfolios = portfolios
        self.prices = prices

    def estimated_price(self, request: TradeRequest, symbol: str) -> Decimal:
        """The order's limit price (limit, stop-limit), else the symbol's latest price."""
        if request.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            assert request.limit_price is not None  # validate_trade demands it
            return request.limit_price
        try:
            return self.prices.price(symbol)
        except ServiceError as error:
            if error.status == 503:  # the broker is busy or unreachable: try again later
                said = error.message if NOTHING_SENT in error.message else None
                message = said or f"{error.message} — {NOTHING_SENT}"
                raise ServiceError(503, error.code, message, error.details) from None
            raise ServiceError(
                503,
                "price_unavailable",
                f"no latest price for {symbol} to estimate the order's cost ({error.message}) "
                f"— {NOTHING_SENT}",
            ) from None

    def check(self, order: ProposedOrder) -> Callable[[Connection], None]:
        """The checks, to run inside the transaction that records the order (the portfolio's
        row locked): raises the first refusal."""

        def run(connection: Connection) -> None:
            capital = connection.execute(
                select(PORTFOLIOS.c.allocated_capital).where(PORTFOLIOS.c.id == order.portfolio_id)
            ).scalar_one()
            limits = read_limits(connection, order.portfolio_id)
            refusal = symbol_refusal(limits, order.portfolio, order.symbol)
            if refusal is None and limits is not None and limits.max_order_notional is not None:
                refusal = notional_refusal(limits, order.portfolio, order.estimated_notional)
            buying = order.side is Side.BUY
            sized = limits is not None and limits.max_position_value is not None
            if refusal is None and (buying or sized):
                holdings = self.portfolios.holdings(order.portfolio_id, connection=connection)
                held = next((h.qty for h in holdings if h.symbol == order.symbol), Decimal(0))
                after = order.position_after(held)
                if order.price is None and sized and abs(after) > abs(held):
                    order.known_price  # noqa: B018 - raises the price error: the limit needs it
                refusal = position_refusal(
                    limits, order.portfolio, order.symbol, held, after, order.price or Decimal(0)
                )
                if refusal is None and buying:
                    free = free_capital(connection, order.portfolio_id, capital, holdings)
                    refusal = buy_refusal(order.portfolio, order.symbol, order.cost(held), free)
            if refusal is not None:
                raise refusal

        return run
