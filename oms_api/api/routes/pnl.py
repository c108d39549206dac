"""P&L over time, for one portfolio or the whole desk."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from oms_api.api.deps import RuntimeDep
from oms_api.api.openapi import error_responses
from oms_api.api.schemas import PnlSeriesView
from oms_api.orders.requests import StorableText
from oms_api.pnl.series import Period, pnl_series
from oms_api.pnl.service import PnlService

router = APIRouter(tags=["P&L"])


async def get_pnl(runtime: RuntimeDep) -> PnlService:
    return runtime.pnl


PnlDep = Annotated[PnlService, Depends(get_pnl)]


@router.get("/pnl", response_model=PnlSeriesView, responses=error_responses(404, 422, 502, 503))
def pnl(
    service: PnlDep,
    portfolio: Annotated[
        StorableText | None,
        Query(min_length=1, max_length=40, description="A portfolio's name; left out: the desk"),
    ] = None,
    period: Annotated[
        Period,
        Query(
            description="day: hourly points for today (New York's date); week / month: the "
            "close of each weekday of the last 7 / 30 days; all: daily, from the first fill"
        ),
    ] = Period.DAY,
) -> PnlSeriesView:
    """Realized and total (realized + unrealized) P&L over time, oldest first: realized from
    the fills up to each point, unrealized from the quantities then held at that point's close
    price (the broker's bars); the last point is now, at current prices. The whole desk is
    every portfolio's book summed (what the broker holds beyond them is not in it)."""
    series = pnl_series(service, portfolio, period)
    return PnlSeriesView.model_validate(series, from_attributes=True)
