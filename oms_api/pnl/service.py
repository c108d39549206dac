"""Each portfolio's P&L from its own fills, the account's figures, and every position the
account holds split into what the portfolios hold (managed) and what they do not (unmanaged).

Realized P&L and quantities come from `PortfolioService.all_holdings` (the average-cost replay
the portfolio views use); prices from one look at the broker's positions.

Today's P&L of a portfolio = its value now - its value at the previous close - the net cash it
paid for today's fills (today: the New York trading date). The previous close is the broker
position's `lastday_price` (for a symbol closed today, which the broker no longer holds, the last
daily bar before today); what it held then is what it holds now less today's fills.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import select

from oms_api.broker.models import Account, Position
from oms_api.db.engine import new_session
from oms_api.db.types import utcnow
from oms_api.errors import ServiceError
from oms_api.market.service import MarketService
from oms_api.portfolios.book import priced_position, unmanaged_positions
from oms_api.portfolios.ledger import LedgerFill, portfolio_fills
from oms_api.portfolios.service import CENT, HeldPosition, PortfolioService
from oms_api.risk.models import PortfolioLimits

NEW_YORK = ZoneInfo("America/New_York")
ZERO = Decimal(0)
DAILY = "1Day"
# Daily bars looked at for a previous close: enough to span a long weekend and holidays.
CLOSE_LOOKBACK = timedelta(days=10)


def trading_day_start(now: datetime) -> datetime:
    """Midnight in New York of `now`'s New York date (aware, in New York's zone)."""
    local = now.astimezone(NEW_YORK)
    return datetime(local.year, local.month, local.day, tzinfo=NEW_YORK)


@dataclass(frozen=True)
class PortfolioPnl:
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None  # None: a held symbol has no current price
    today_pnl: Decimal | None  # None: a price it needs is unknown


@dataclass(frozen=True)
class PortfolioLimitsSummary:
    allowed_symbols: list[str] | None = None
    denied_symbols: list[str] | None = None
    max_order_notional: Decimal | None = None
    max_position_value: Decimal | None = None


@dataclass(frozen=True)
class PortfolioSummary:
    """A portfolio, its P&L and its pre-trade limits (None fields: that limit is not set)."""

    id: int
    name: str
    allocated_capital: Decimal
    status: str
    created_at: datetime
    updated_at: datetime
    daily_loss_limit: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None
    today_pnl: Decimal | None
    limits: PortfolioLimitsSummary


@dataclass(frozen=True)
class AccountFigures:
    allocated_capital: Decimal  # every portfolio's capital, paused ones included
    available_capital: Decimal  # buying power - allocated capital (may be negative)
    total_realized_pnl: Decimal
    daily_pnl: Decimal | None  # equity - last_equity; None when the broker does not say


@dataclass(frozen=True)
class PositionRow:
    """A (portfolio, symbol) the portfolios hold, or (portfolio None) what the broker holds of
    a symbol beyond the portfolios' sum."""

    symbol: str
    qty: Decimal
    side: str
    avg_entry_price: Decimal
    current_price: Decimal | None
    market_value: Decimal | None
    cost_basis: Decimal
    unrealized_pl: Decimal | None
    unrealized_plpc: Decimal | None
    portfolio: str | None
    managed: bool


def unrealized_pnl(
    held: Iterable[HeldPosition], at_broker: dict[str, Position] | None
) -> Decimal | None:
    """Value at the broker's current prices less cost; None when a held symbol has no price."""
    total = ZERO
    for position in held:
        if position.qty == 0:
            continue
        broker = at_broker.get(position.symbol) if at_broker is not None else None
        price = broker.current_price if broker is not None else None
        if price is None:
            return None
        total += position.qty * price - position.cost_basis
    return total.quantize(CENT)


def day_quantities(
    held: Iterable[HeldPosition], todays_fills: Iterable[LedgerFill]
) -> tuple[dict[str, tuple[Decimal, Decimal]], Decimal]:
    """Per symbol (quantity now, quantity at the previous close), and the net cash paid for
    today's fills: what was held at the close is what is held now less today's fills."""
    qty_now = {position.symbol: position.qty for position in held}
    bought_today: dict[str, Decimal] = {}
    paid = ZERO
    for fill in todays_fills:
        bought_today[fill.symbol] = bought_today.get(fill.symbol, ZERO) + fill.delta
        paid += fill.delta * fill.price  # a buy pays cash, a sell brings it in
    quantities = {
        symbol: (
            qty_now.get(symbol, ZERO),
            qty_now.get(symbol, ZERO) - bought_today.get(symbol, ZERO),
        )
        for symbol in qty_now.keys() | bought_today.keys()
    }
    return quantities, paid


def today_pnl(
    held: Iterable[HeldPosition],
    todays_fills: Iterable[LedgerFill],
    at_broker: dict[str, Position] | None,
    closes: dict[str, Decimal],
) -> Decimal | None:
    """Value now - value at the previous close - net cash paid for today's fills. None when
    a price is unknown: a symbol held now without a current price, or one held at the
    previous close without its close (`closes`, by symbol)."""
    if at_broker is None:
        return None
    quantities, paid = day_quantities(held, todays_fills)
    total = -paid
    for symbol, (now_qty, close_qty) in quantities.items():
        if now_qty != 0:
            broker = at_broker.get(symbol)
            price = broker.current_price if broker is not None else None
            if price is None:
                return None
            total += now_qty * price
        if close_qty != 0:
            if symbol not in closes:
                return None
            total -= close_qty * closes[symbol]
    return total.quantize(CENT)


class PnlService:
    def __init__(
        self,
        engine: Engine,
        portfolios: PortfolioService,
        market: MarketService,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.portfolios = portfolios
        self.market = market
        self.now = now  # replaced in tests: "today" is New York's date of this

    def broker_positions(self) -> dict[str, Position] | None:
        """The broker's positions by symbol (one request); None when it cannot be asked."""
        try:
            return {p.symbol: p for p in self.market.positions()}
        except ServiceError:
            return None

    def by_portfolio(
        self, at_broker: dict[str, Position] | None, now: datetime | None = None
    ) -> dict[int, PortfolioPnl]:
        """Every portfolio's realized, unrealized and today's P&L (a portfolio without fills
        is absent: all zero). `at_broker`: the broker's positions (None: unknown)."""
        holdings = self.portfolios.all_holdings()
        start = trading_day_start(now or self.now())
        todays: dict[int, list[LedgerFill]] = {}
        for fill in portfolio_fills(self.engine, since=start):
            todays.setdefault(fill.portfolio_id, []).append(fill)
        owners = holdings.keys() | todays.keys()
        closes = {}
        if at_broker is not None:
            held_at_close = {
                symbol
                for owner in owners
                for symbol, (_, close_qty) in day_quantities(
                    holdings.get(owner, []), todays.get(owner, [])
                )[0].items()
                if close_qty != 0
            }
            closes = self.previous_closes(held_at_close, at_broker, start)
        result = {}
        for portfolio_id in owners:
            held = holdings.get(portfolio_id, [])
            result[portfolio_id] = PortfolioPnl(
                realized_pnl=sum((h.realized_pl for h in held), ZERO).quantize(CENT),
                unrealized_pnl=unrealized_pnl(held, at_broker),
                today_pnl=today_pnl(held, todays.get(portfolio_id, []), at_broker, closes),
            )
        return result

    def previous_closes(
        self, symbols: set[str], at_broker: dict[str, Position], day_start: datetime
    ) -> dict[str, Decimal]:
        """Each symbol's previous close: the broker position's `lastday_price`; for a symbol
        the broker no longer holds (closed today) or without one, its last daily bar before
        today (one more request, only then). A symbol whose close cannot be found is left out."""
        closes = {}
        for symbol in symbols:
            position = at_broker.get(symbol)
            if position is not None and position.lastday_price is not None:
                closes[symbol] = position.lastday_price
        missing = sorted(symbols - closes.keys())
        if missing:
            try:
                bars = self.market.bars(
                    missing, DAILY, day_start - CLOSE_LOOKBACK, day_start.astimezone(UTC)
                )
            except ServiceError:
                return closes
            for symbol, rows in bars.items():
                before = [bar for bar in rows if bar.at < day_start]
                if before:
                    closes[symbol] = max(before, key=lambda bar: bar.at).close
        return closes

    def summaries(self) -> list[PortfolioSummary]:
        """Every portfolio by name with its P&L (one broker request for the prices; when it
        cannot be made, unrealized and today's P&L are null) and its limits."""
        portfolios = self.portfolios.list()
        with new_session(self.engine) as session:
            limits = {row.portfolio_id: row for row in session.exec(select(PortfolioLimits))}
        figures = self.by_portfolio(self.broker_positions()) if portfolios else {}
        rows = []
        for portfolio in portfolios:
            assert portfolio.id is not None
            figure = figures.get(portfolio.id, PortfolioPnl(ZERO, ZERO, ZERO))
            limit = limits.get(portfolio.id)
            rows.append(
                PortfolioSummary(
                    id=portfolio.id,
                    name=portfolio.name,
                    allocated_capital=portfolio.allocated_capital,
                    status=portfolio.status,
                    created_at=portfolio.created_at,
                    updated_at=portfolio.updated_at,
                    daily_loss_limit=portfolio.daily_loss_limit,
                    realized_pnl=figure.realized_pnl,
                    unrealized_pnl=figure.unrealized_pnl,
                    today_pnl=figure.today_pnl,
                    limits=PortfolioLimitsSummary(
                        allowed_symbols=limit.allowed_symbols,
                        denied_symbols=limit.denied_symbols,
                        max_order_notional=limit.max_order_notional,
                        max_position_value=limit.max_position_value,
                    )
                    if limit is not None
                    else PortfolioLimitsSummary(),
                )
            )
        return rows

    def total_realized(self) -> Decimal:
        """The sum of every portfolio's realized P&L from its own fills."""
        held = (h for book in self.portfolios.all_holdings().values() for h in book)
        return sum((h.realized_pl for h in held), ZERO).quantize(CENT)

    def account_figures(self, account: Account) -> AccountFigures:
        allocated = sum((p.allocated_capital for p in self.portfolios.list()), ZERO)
        daily = account.equity - account.last_equity if account.last_equity is not None else None
        return AccountFigures(
            allocated_capital=allocated,
            available_capital=account.buying_power - allocated,
            total_realized_pnl=self.total_realized(),
            daily_pnl=daily,
        )

    def positions(self) -> list[PositionRow]:
        """One row per (portfolio, symbol) held, priced from the broker's positions, and per
        symbol what the broker holds beyond the portfolios' sum (unmanaged). One broker
        request; when it cannot be made the ServiceError (503) goes to the caller."""
        at_broker = {p.symbol: p for p in self.market.positions()}
        names = {p.id: p.name for p in self.portfolios.list()}
        rows: list[PositionRow] = []
        in_books: dict[str, Decimal] = {}
        for portfolio_id, held in self.portfolios.all_holdings().items():
            for position in held:
                if position.qty == 0:
                    continue
                in_books[position.symbol] = in_books.get(position.symbol, ZERO) + position.qty
                priced = priced_position(position, at_broker.get(position.symbol), True)
                rows.append(
                    PositionRow(
                        symbol=priced.symbol,
                        qty=priced.qty,
                        side=priced.side,
                        avg_entry_price=priced.avg_entry_price,
                        current_price=priced.current_price,
                        market_value=priced.market_value,
                        cost_basis=priced.cost_basis,
                        unrealized_pl=priced.unrealized_pl,
                        unrealized_plpc=priced.unrealized_plpc,
                        portfolio=names.get(portfolio_id),
                        managed=True,
                    )
                )
        for outside in unmanaged_positions(at_broker, in_books):
            rows.append(
                PositionRow(
                    symbol=outside.symbol,
                    qty=outside.qty,
                    side=outside.side,
                    avg_entry_price=outside.avg_entry_price,
                    current_price=outside.current_price,
                    market_value=outside.market_value,
                    cost_basis=outside.cost_basis,
                    unrealized_pl=outside.unrealized_pl,
                    unrealized_plpc=outside.unrealized_plpc,
                    portfolio=None,
                    managed=False,
                )
            )
        # By symbol; a symbol's portfolios by name, then what is beyond them.
        rows.sort(key=lambda r: (r.symbol, not r.managed, r.portfolio or ""))
        return rows
