"""Response shapes of the API (requests live with their domains)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from oms_api.orders.models import FillPublic, OrderEventPublic, PublicDecimal, TradePublic


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable and machine-readable, e.g. `invalid_symbol`.")
    message: str = Field(description="One sentence for a person; names the field at fault.")
    details: dict[str, Any] = Field(
        description="More about the error, e.g. `field`, `problems` or the `trade` it concerns."
    )


class ErrorResponse(BaseModel):
    """Every error the API answers with: `{"error": {"code", "message", "details"}}`."""

    error: ErrorInfo


class TradeResult(TradePublic):
    """POST /trade and GET /trades/{id}: the trade, its fills and the market's state."""

    fills: list[FillPublic]
    market_open: bool | None
    next_open: datetime | None
    mode: str
    replayed: bool = False


class TradeDetail(TradeResult):
    events: list[OrderEventPublic]


class TradePage(BaseModel):
    trades: list[TradePublic]
    next_cursor: str | None


class AccountView(BaseModel):
    account_number: str
    status: str
    currency: str
    equity: Decimal
    cash: Decimal
    buying_power: Decimal
    portfolio_value: Decimal
    mode: str
    allocated_capital: PublicDecimal = Field(
        description="Every portfolio's capital added up, paused ones included."
    )
    available_capital: PublicDecimal = Field(
        description="buying_power - allocated_capital: what a new or larger portfolio may "
        "take; negative when the portfolios are promised more than the account can buy."
    )
    total_realized_pnl: PublicDecimal = Field(
        description="Every portfolio's realized P&L from its own fills (average cost), summed."
    )
    daily_pnl: PublicDecimal | None = Field(
        description="equity - last_equity (the previous close), as Alpaca's dashboard shows "
        "today's P&L; null when the broker does not say."
    )


class PositionView(BaseModel):
    """One (portfolio, symbol) the portfolios hold, or what the broker holds of a symbol
    beyond the portfolios' sum (`managed: false`, `portfolio: null`)."""

    symbol: str
    qty: Decimal
    side: str
    avg_entry_price: Decimal
    current_price: Decimal | None
    market_value: Decimal | None
    cost_basis: Decimal
    unrealized_pl: Decimal | None
    unrealized_plpc: Decimal | None
    portfolio: str | None = Field(description="The portfolio holding it; null when unmanaged.")
    managed: bool = Field(
        description="False for what the broker holds beyond the portfolios' books (e.g. a "
        "trade made in Alpaca's dashboard, a transfer in)."
    )


class PortfolioPositionView(BaseModel):
    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    cost_basis: Decimal
    current_price: Decimal | None
    market_value: Decimal | None
    unrealized_pl: Decimal | None
    realized_pl: Decimal
    broker_qty: Decimal | None = Field(
        description="What the broker holds in the whole account (0: none); null when the "
        "broker's positions could not be read."
    )


class PortfolioView(BaseModel):
    name: str
    status: str
    allocated_capital: Decimal
    positions: list[PortfolioPositionView]
    market_value: Decimal
    unrealized_pl: Decimal
    realized_pl: Decimal
    broker_positions_available: bool = Field(
        description="False when the broker's positions could not be read: every `broker_qty` "
        "is then null (unknown), not 0."
    )
    warnings: list[str] = Field(
        description="What is missing from this view and why (broker unreachable, no price)."
    )


class QuoteView(BaseModel):
    symbol: str
    price: Decimal
    bid: Decimal | None
    ask: Decimal | None
    timestamp: datetime


class MarketStatusView(BaseModel):
    is_open: bool
    timestamp: datetime
    next_open: datetime
    next_close: datetime


class HealthView(BaseModel):
    status: str
    database: str
    alpaca_connected: bool  # the broker answered well, recently
    stream_connected: bool  # the trade stream, in whichever worker runs it
    mode: str
    version: str
    broker_host: str
    # True when the broker host is not Alpaca's nor this machine but ALPACA_ALLOWED_HOST's.
    broker_allowed_by_setting: bool
    broker_last_ok_at: datetime | None
    broker_problem: str | None  # the latest failure since the last good answer


class BookPositionView(BaseModel):
    symbol: str
    qty: PublicDecimal
    side: str
    avg_entry_price: PublicDecimal
    cost_basis: PublicDecimal
    current_price: PublicDecimal | None
    market_value: PublicDecimal | None
    unrealized_pl: PublicDecimal | None
    unrealized_plpc: PublicDecimal | None = Field(
        description="Unrealized P&L as a fraction of the cost: 0.021 is +2.1 %"
    )
    realized_pl: PublicDecimal
    broker_qty: PublicDecimal | None = Field(
        description="What the broker holds in the whole account; null when it could not be asked"
    )


class PortfolioBookView(BaseModel):
    name: str
    status: str
    allocated_capital: PublicDecimal
    market_value: PublicDecimal
    cost_basis: PublicDecimal
    unrealized_pl: PublicDecimal
    unrealized_plpc: PublicDecimal | None
    realized_pl: PublicDecimal
    positions: list[BookPositionView] = Field(
        description="Largest market value first (unknown values last)"
    )


class OutsidePositionView(BaseModel):
    symbol: str
    qty: PublicDecimal
    side: str
    avg_entry_price: PublicDecimal
    cost_basis: PublicDecimal
    current_price: PublicDecimal | None
    market_value: PublicDecimal | None
    unrealized_pl: PublicDecimal | None
    unrealized_plpc: PublicDecimal | None


class PositionsByPortfolioView(BaseModel):
    portfolios: list[PortfolioBookView] = Field(description="By name")
    outside_portfolios: list[OutsidePositionView] = Field(
        description="What the broker holds beyond every portfolio's book (e.g. trades made in "
        "Alpaca's dashboard), largest market value first"
    )
    broker_positions_available: bool
    warnings: list[str]
    as_of: datetime


class PortfolioLimitsView(BaseModel):
    allowed_symbols: list[str] | None = Field(description="Only these may be traded; null: any")
    denied_symbols: list[str] | None = Field(description="These may not be traded; null: none")
    max_order_notional: PublicDecimal | None
    max_position_value: PublicDecimal | None


class PortfolioSummaryView(BaseModel):
    """GET /portfolios: a portfolio with its P&L and limits."""

    id: int
    name: str
    allocated_capital: PublicDecimal
    status: str
    created_at: datetime
    updated_at: datetime
    daily_loss_limit: PublicDecimal | None = Field(
        description="Reaching minus this today pauses the portfolio; null: no limit."
    )
    realized_pnl: PublicDecimal = Field(description="From its own fills (average cost).")
    unrealized_pnl: PublicDecimal | None = Field(
        description="Its positions at the broker's current prices less their cost; null "
        "when a price is unknown (the broker could not be asked, or does not hold a symbol)."
    )
    today_pnl: PublicDecimal | None = Field(
        description="Value now - value at the previous close - net cash paid for today's "
        "fills (New York's trading date); null when a price it needs is unknown."
    )
    limits: PortfolioLimitsView


class PnlPointView(BaseModel):
    at: datetime
    realized_pnl: PublicDecimal
    total_pnl: PublicDecimal = Field(description="realized + unrealized at this point's prices")


class PnlSeriesView(BaseModel):
    portfolio: str | None = Field(description="null: the whole desk (every portfolio summed)")
    period: str
    since: datetime
    points: list[PnlPointView] = Field(description="Oldest first; the last one is now")
    realized_pnl: PublicDecimal
    unrealized_pnl: PublicDecimal
    total_pnl: PublicDecimal
