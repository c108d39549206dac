"""Emergency sells: close one portfolio's holding of a symbol at market (and pause the
portfolio), close the whole account's position of a symbol or only its unmanaged part (an
admin's call), or stop one portfolio (cancel its working orders, close its holdings, pause it).

An emergency sell is an OMS order like any other (recorded before it is sent, with its own
client_order_id, settled and filled the same way), except that it is placed even while the
portfolio is paused or trading is halted: it reduces risk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from oms_api.audit.service import Actor, AuditAction
from oms_api.broker.models import BrokerRejected, BrokerUnavailable
from oms_api.controls.books import allot
from oms_api.db.engine import singleton_lock
from oms_api.errors import ServiceError
from oms_api.orders.context import TradeOutcome
from oms_api.orders.enums import OrderOrigin, OrderType, Side
from oms_api.orders.models import Order
from oms_api.orders.requests import TradeRequest
from oms_api.orders.service import OrderService
from oms_api.portfolios.service import PortfolioService

# Closes of unmanaged quantities take turns across workers (see close_unmanaged).
UNMANAGED_LOCK = "oms-close-unmanaged"


@dataclass
class PortfolioStopResult:
    portfolio: str
    canceled: list[Order] = field(default_factory=list)
    closing: list[TradeOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    paused: bool = False


class EmergencySells:
    def __init__(
        self,
        orders: OrderService,
        portfolios: PortfolioService,
        broker: object,
    ) -> None:
        self.orders = orders
        self.portfolios = portfolios
        self.broker = broker

    def close_holding(
        self,
        symbol: str,
        portfolio: str,
        actor: Actor,
        reason: str,
        *,
        pause_portfolio: bool = True,
    ) -> tuple[TradeOutcome, bool]:
        """Sell (or buy back) all the portfolio holds of the symbol, at market; pause it.
        Returns the trade and whether the portfolio is now paused."""
        record = self.portfolios.get(portfolio)
        assert record.id is not None
        held = next(
            (h.qty for h in self.portfolios.holdings(record.id) if h.symbol == symbol), Decimal(0)
        )
        if held == 0:
            raise ServiceError(
                409,
                "nothing_to_close",
                f"portfolio {record.name!r} holds no {symbol}; nothing was sent",
                {"portfolio": record.name, "symbol": symbol},
            )
        paused = False
        if pause_portfolio:
            # First: no new order of this portfolio while its holding is being closed.
            self.portfolios.pause(record.name, actor, f"emergency sell of {symbol}: {reason}")
            paused = True
        request = TradeRequest(
            portfolio=record.name,
            symbol=symbol,
            side=Side.SELL if held > 0 else Side.BUY,
            qty=abs(held),
            order_type=OrderType.MARKET,
            reason=f"emergency sell: {reason}"[:500],
            requested_by=actor.id,
            requested_by_name=actor.name,
        )
        outcome = self.orders.place_trade(request, None, origin=OrderOrigin.EMERGENCY_SELL)
        return outcome, paused

    def close_whole_position(self, symbol: str, actor: Actor, reason: str) -> Order:
        """Close all the account holds of the symbol at the broker (whoever's book it is in):
        the broker's closing order is adopted, allotted to the portfolios that held it."""
        books = self.portfolios.all_holdings()  # before the close: who holds what
        try:
            closing = self.broker.close_position(symbol)  # type: ignore[attr-defined]
        except (BrokerUnavailable, BrokerRejected) as error:
            raise ServiceError(
                503,
                "broker_unavailable",
                f"the broker could not close {symbol} ({error}); check /positions before trying "
                "again",
            ) from None
        if closing is None:
            raise ServiceError(
                409, "nothing_to_close", f"the account holds no {symbol}; nothing was sent"
            )
        allocations = allot(books, symbol, closing.qty or Decimal(0), closing.side == "sell")
        return self.orders.adopt(
            closing,
            origin=OrderOrigin.EMERGENCY_SELL,
            note=f"whole position closed by {actor.name or actor.id}: {reason}"[:500],
            allocations=allocations,
            audit=(actor, AuditAction.EMERGENCY_SELL, f"position {symbol}", {"reason": reason}),
        )

    def close_unmanaged(self, symbol: str, actor: Actor, reason: str) -> Order:
        """Close only what no portfolio's book holds of the symbol (the broker's quantity less
        the books' sum: a trade made in Alpaca's dashboard, say), at market, at the broker. The
        closing order is adopted with no book, so every portfolio's holding stays as it is.

        One at a time across workers, and refused while an order of the symbol that no
        portfolio owns is still working: until it fills, the broker's quantity does not show
        it, and a second close (a double click, two admins) would sell the portfolios' shares."""
        with singleton_lock(self.portfolios.engine, UNMANAGED_LOCK, blocking=True):
            working = [
                o
                for o in self.orders.working_orders()
                if o.symbol == symbol and o.portfolio_id is None
            ]
            if working:
                raise ServiceError(
                    409,
                    "close_in_progress",
                    f"an order on {symbol} that no portfolio owns is still working (trade "
                    f"{working[0].id}): wait for it to fill, then look again; nothing was sent",
                    {"trade_id": working[0].id},
                )
            return self._close_unmanaged(symbol, actor, reason)

    def _close_unmanaged(self, symbol: str, actor: Actor, reason: str) -> Order:
        try:
            position = self.broker.get_position(symbol)  # type: ignore[attr-defined]
        except (BrokerUnavailable, BrokerRejected) as error:
            raise ServiceError(
                503,
                "broker_unavailable",
                f"the broker's {symbol} position could not be read ({error}); nothing was sent",
            ) from None
        at_broker = position.qty if position is not None else Decimal(0)
        in_books = sum(
            (
                h.qty
                for held in self.portfolios.all_holdings().values()
                for h in held
                if h.symbol == symbol
            ),
            Decimal(0),
        )
        unmanaged = at_broker - in_books
        if unmanaged == 0 or at_broker == 0:
            raise ServiceError(
                409,
                "nothing_to_close",
                f"no unmanaged {symbol} to close: the broker holds {at_broker}, the "
                f"portfolios {in_books}; nothing was sent",
            )
        if (unmanaged > 0) != (at_broker > 0) or abs(unmanaged) > abs(at_broker):
            # The books hold more than the broker: closing "the rest" would open a position.
            raise ServiceError(
                409,
                "books_exceed_broker",
                f"the portfolios hold {in_books} {symbol} but the broker {at_broker}: there is "
                "nothing unmanaged to close — run /reconcile; nothing was sent",
            )
        try:
            closing = self.broker.close_position(symbol, abs(unmanaged))  # type: ignore[attr-defined]
        except (BrokerUnavailable, BrokerRejected) as error:
            raise ServiceError(
                503,
                "broker_unavailable",
                f"the broker could not close {symbol} ({error}); check /positions before trying "
                "again",
            ) from None
        if closing is None:
            raise ServiceError(
                409, "nothing_to_close", f"the account holds no {symbol}; nothing was sent"
            )
        return self.orders.adopt(
            closing,
            origin=OrderOrigin.EMERGENCY_SELL,
            note=f"unmanaged {symbol} closed by {actor.name or actor.id}: {reason}"[:500],
            allocations={},
            audit=(
                actor,
                AuditAction.EMERGENCY_SELL,
                f"position {symbol}",
                {"reason": reason, "unmanaged_qty": str(unmanaged)},
            ),
        )

    def stop_portfolio(self, portfolio: str, actor: Actor, reason: str) -> PortfolioStopResult:
        """Pause the portfolio, cancel its working orders, close every holding at market."""
        record = self.portfolios.get(portfolio)
        assert record.id is not None
        result = PortfolioStopResult(portfolio=record.name)
        self.portfolios.pause(record.name, actor, f"portfolio stop: {reason}")
        result.paused = True
        for order in self.orders.working_orders(portfolio_id=record.id):
            assert order.id is not None
            try:
                result.canceled.append(self.orders.cancel(order.id, actor.id, actor.name))
            except ServiceError as error:
                result.problems.append(f"trade {order.id}: {error.message}")
        for held in self.portfolios.holdings(record.id):
            if held.qty == 0:
                continue
            try:
                outcome, _ = self.close_holding(
                    held.symbol, record.name, actor, reason, pause_portfolio=False
                )
                result.closing.append(outcome)
            except ServiceError as error:
                result.problems.append(f"{held.symbol}: {error.message}")
        return result
