"""Account, positions, quotes and market hours."""

from __future__ import annotations

from fastapi import APIRouter

from oms_api.api.deps import MarketDep, SettingsDep
from oms_api.api.openapi import error_responses
from oms_api.api.params import Symbol
from oms_api.api.routes.pnl import PnlDep
from oms_api.api.schemas import AccountView, MarketStatusView, PositionView, QuoteView

router = APIRouter(tags=["account and market"])


@router.get("/account", response_model=AccountView, responses=error_responses(502, 503))
def account(market: MarketDep, settings: SettingsDep, pnl: PnlDep) -> AccountView:
    """The broker's account, and the portfolios' capital and P&L beside it."""
    a = market.account()
    figures = pnl.account_figures(a)
    return AccountView(
        account_number=a.account_number,
        status=a.status,
        currency=a.currency,
        equity=a.equity,
        cash=a.cash,
        buying_power=a.buying_power,
        portfolio_value=a.portfolio_value,
        mode=settings.mode.value,
        allocated_capital=figures.allocated_capital,
        available_capital=figures.available_capital,
        total_realized_pnl=figures.total_realized_pnl,
        daily_pnl=figures.daily_pnl,
    )


@router.get("/positions", response_model=list[PositionView], responses=error_responses(502, 503))
def positions(pnl: PnlDep) -> list[PositionView]:
    """Every position: one row per (portfolio, symbol) the portfolios hold, priced from the
    broker, and per symbol what the broker holds beyond the portfolios' sum (`managed:
    false`). By symbol. One broker request; 503 when the broker cannot be asked."""
    return [PositionView.model_validate(p, from_attributes=True) for p in pnl.positions()]


@router.get(
    "/quote/{symbol}", response_model=QuoteView, responses=error_responses(400, 422, 502, 503)
)
def quote(symbol: Symbol, market: MarketDep) -> QuoteView:
    return QuoteView.model_validate(market.quote(symbol), from_attributes=True)


@router.get("/market-status", response_model=MarketStatusView, responses=error_responses(502, 503))
def market_status(market: MarketDep) -> MarketStatusView:
    return MarketStatusView.model_validate(market.clock(), from_attributes=True)
