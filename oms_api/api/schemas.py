"""Response shapes of the API (requests live with their domains)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel

from oms_api.orders.models import FillPublic, OrderEventPublic, TradePublic


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


class PositionView(BaseModel):
    symbol: str
    qty: Decimal
    side: str
    avg_entry_price: Decimal
    current_price: Decimal | None
    market_value: Decimal | None
    cost_basis: Decimal
    unrealized_pl: Decimal | None
    unrealized_plpc: Decimal | None


class PortfolioPositionView(BaseModel):
    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    cost_basis: Decimal
    current_price: Decimal | None
    market_value: Decimal | None
    unrealized_pl: Decimal | None
    realized_pl: Decimal
    broker_qty: Decimal | None  # what the broker holds in the whole account


class PortfolioView(BaseModel):
    name: str
    status: str
    allocated_capital: Decimal
    positions: list[PortfolioPositionView]
    market_value: Decimal
    unrealized_pl: Decimal
    realized_pl: Decimal


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
    alpaca_connected: bool
    stream_connected: bool
    mode: str
    version: str
