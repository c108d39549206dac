"""Portfolios: list, create, update, and one portfolio valued from its fills."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter

from oms_api.api.deps import MarketDep, PortfoliosDep
from oms_api.api.schemas import PortfolioPositionView, PortfolioView
from oms_api.errors import ServiceError
from oms_api.portfolios.models import PortfolioCreate, PortfolioPublic, PortfolioUpdate
from oms_api.portfolios.service import broker_position_map

router = APIRouter(tags=["portfolios"])


@router.get("/portfolios", response_model=list[PortfolioPublic])
def list_portfolios(portfolios: PortfoliosDep) -> list[PortfolioPublic]:
    return [PortfolioPublic.model_validate(p.model_dump()) for p in portfolios.list()]


@router.post("/portfolios", response_model=PortfolioPublic, status_code=201)
def create_portfolio(data: PortfolioCreate, portfolios: PortfoliosDep) -> PortfolioPublic:
    return PortfolioPublic.model_validate(portfolios.create(data).model_dump())


@router.patch("/portfolios/{name}", response_model=PortfolioPublic)
def update_portfolio(
    name: str, data: PortfolioUpdate, portfolios: PortfoliosDep
) -> PortfolioPublic:
    return PortfolioPublic.model_validate(portfolios.update(name, data).model_dump())


@router.get("/portfolio/{name}", response_model=PortfolioView)
def portfolio_view(name: str, portfolios: PortfoliosDep, market: MarketDep) -> PortfolioView:
    portfolio = portfolios.get(name)
    assert portfolio.id is not None
    held = portfolios.holdings(portfolio.id)
    try:
        broker_positions = broker_position_map(market.positions())
    except ServiceError:
        broker_positions = {}  # still show the book when the broker is unreachable
    rows = []
    total_value = total_unrealized = total_realized = Decimal(0)
    for position in held:
        broker = broker_positions.get(position.symbol)
        price = broker.current_price if broker else None
        if price is None and position.qty != 0:
            try:
                price = market.quote(position.symbol).price
            except ServiceError:
                price = None
        value = position.qty * price if price is not None else None
        unrealized = value - position.cost_basis if value is not None else None
        total_value += value or 0
        total_unrealized += unrealized or 0
        total_realized += position.realized_pl
        rows.append(
            PortfolioPositionView(
                symbol=position.symbol,
                qty=position.qty,
                avg_entry_price=position.avg_entry_price,
                cost_basis=position.cost_basis,
                current_price=price,
                market_value=value.quantize(Decimal("0.01")) if value is not None else None,
                unrealized_pl=unrealized.quantize(Decimal("0.01"))
                if unrealized is not None
                else None,
                realized_pl=position.realized_pl,
                broker_qty=broker.qty if broker else Decimal(0),
            )
        )
    return PortfolioView(
        name=portfolio.name,
        status=portfolio.status,
        allocated_capital=portfolio.allocated_capital,
        positions=rows,
        market_value=total_value.quantize(Decimal("0.01")),
        unrealized_pl=total_unrealized.quantize(Decimal("0.01")),
        realized_pl=total_realized,
    )
