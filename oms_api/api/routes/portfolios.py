"""Portfolios: list, create, update, one portfolio valued from its fills, and every
portfolio's positions at once."""

from __future__ import annotations

from fastapi import APIRouter

from oms_api.api.deps import (
    MarketDep,
    PortfolioCreateBody,
    PortfoliosDep,
    PortfolioUpdateBody,
)
from oms_api.api.openapi import error_responses
from oms_api.api.params import PortfolioName
from oms_api.api.schemas import PortfolioView, PositionsByPortfolioView
from oms_api.audit.service import Actor
from oms_api.portfolios.book import value_books
from oms_api.portfolios.models import PortfolioPublic

router = APIRouter(tags=["portfolios"])


@router.get("/portfolios", response_model=list[PortfolioPublic])
def list_portfolios(portfolios: PortfoliosDep) -> list[PortfolioPublic]:
    return [PortfolioPublic.model_validate(p.model_dump()) for p in portfolios.list()]


@router.post(
    "/portfolios",
    response_model=PortfolioPublic,
    status_code=201,
    responses=error_responses(409, 413, 415, 422),
)
def create_portfolio(data: PortfolioCreateBody, portfolios: PortfoliosDep) -> PortfolioPublic:
    actor = Actor.of(data.requested_by, data.requested_by_name)
    return PortfolioPublic.model_validate(portfolios.create(data, actor).model_dump())


@router.patch(
    "/portfolios/{name}",
    response_model=PortfolioPublic,
    responses=error_responses(404, 413, 415, 422),
)
def update_portfolio(
    name: PortfolioName, data: PortfolioUpdateBody, portfolios: PortfoliosDep
) -> PortfolioPublic:
    """Change the capital, or pause / resume the portfolio (`status`)."""
    actor = Actor.of(data.requested_by, data.requested_by_name)
    return PortfolioPublic.model_validate(portfolios.update(name, data, actor).model_dump())


@router.get("/portfolio/{name}", response_model=PortfolioView, responses=error_responses(404, 422))
def portfolio_view(
    name: PortfolioName, portfolios: PortfoliosDep, market: MarketDep
) -> PortfolioView:
    return PortfolioView.model_validate(portfolios.value(name, market), from_attributes=True)


@router.get(
    "/positions/by-portfolio",
    response_model=PositionsByPortfolioView,
    responses=error_responses(503),
)
def positions_by_portfolio(
    portfolios: PortfoliosDep, market: MarketDep
) -> PositionsByPortfolioView:
    """Every portfolio's positions priced from one look at the broker's positions, P&L in
    dollars and percent, largest first; and what the broker holds beyond the books. When the
    broker cannot be asked the books are still shown, unpriced, with a warning."""
    return PositionsByPortfolioView.model_validate(
        value_books(portfolios, market), from_attributes=True
    )
