"""Portfolios: list, create, update, one portfolio valued from its fills, and every
portfolio's positions at once."""

from __future__ import annotations

from fastapi import APIRouter

from oms_api.api.deps import (
    LimitsDep,
    MarketDep,
    PortfolioCreateBody,
    PortfolioLimitsBody,
    PortfoliosDep,
    PortfolioUpdateBody,
)
from oms_api.api.openapi import error_responses
from oms_api.api.params import PortfolioName
from oms_api.api.routes.pnl import PnlDep
from oms_api.api.schemas import PortfolioSummaryView, PortfolioView, PositionsByPortfolioView
from oms_api.audit.service import Actor
from oms_api.portfolios.book import value_books
from oms_api.portfolios.models import PortfolioPublic
from oms_api.risk.models import PortfolioLimitsPublic

router = APIRouter(tags=["portfolios"])


@router.get("/portfolios", response_model=list[PortfolioSummaryView])
def list_portfolios(pnl: PnlDep) -> list[PortfolioSummaryView]:
    """Every portfolio by name, with its realized, unrealized and today's P&L and its limits
    (one broker request for the prices: when it fails, unrealized and today's P&L are null)."""
    return [PortfolioSummaryView.model_validate(p, from_attributes=True) for p in pnl.summaries()]


@router.post(
    "/portfolios",
    response_model=PortfolioPublic,
    status_code=201,
    responses=error_responses(409, 413, 415, 422, 502, 503),
)
def create_portfolio(
    data: PortfolioCreateBody, portfolios: PortfoliosDep, market: MarketDep
) -> PortfolioPublic:
    """A new portfolio. A capital above 0 must fit in the account's available capital (buying
    power minus every portfolio's capital; one broker request): else 409
    `capital_exceeds_available`; a broker that cannot be read: 503, nothing created."""
    actor = Actor.of(data.requested_by, data.requested_by_name)
    return PortfolioPublic.model_validate(portfolios.create(data, actor, market).model_dump())


@router.patch(
    "/portfolios/{name}",
    response_model=PortfolioPublic,
    responses=error_responses(404, 409, 413, 415, 422, 502, 503),
)
def update_portfolio(
    name: PortfolioName, data: PortfolioUpdateBody, portfolios: PortfoliosDep, market: MarketDep
) -> PortfolioPublic:
    """Change the capital or the daily loss limit (null removes it), or pause / resume the
    portfolio (`status`). Raising the capital or resuming must fit in the available capital
    (buying power minus the other portfolios' capital; one broker request): else 409
    `capital_exceeds_available`; lowering it or pausing never asks the broker."""
    actor = Actor.of(data.requested_by, data.requested_by_name)
    updated = portfolios.update(name, data, actor, market)
    return PortfolioPublic.model_validate(updated.model_dump())


@router.get(
    "/portfolios/{name}/limits",
    response_model=PortfolioLimitsPublic,
    responses=error_responses(404, 422),
)
def get_portfolio_limits(name: PortfolioName, limits: LimitsDep) -> PortfolioLimitsPublic:
    """The portfolio's pre-trade limits (each null when not set)."""
    return limits.get(name)


@router.put(
    "/portfolios/{name}/limits",
    response_model=PortfolioLimitsPublic,
    responses=error_responses(404, 413, 415, 422),
)
def put_portfolio_limits(
    name: PortfolioName, data: PortfolioLimitsBody, limits: LimitsDep
) -> PortfolioLimitsPublic:
    """Set the portfolio's pre-trade limits: each field given is set, null clears it, fields
    left out stay. Orders breaking one are refused with a 403 before anything is written or
    sent. Audited (`portfolio_limits`, before and after)."""
    actor = Actor.of(data.requested_by, data.requested_by_name)
    return limits.update(name, data, actor)


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
