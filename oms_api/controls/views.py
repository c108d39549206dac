"""What the trading-control routes answer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from oms_api.orders.models import PublicDecimal


class TradingStateOut(BaseModel):
    state: str = Field(description="active | halted")
    reason: str | None
    changed_by: str | None
    changed_by_name: str | None
    since: datetime
    stop_id: int | None
    stop_running: bool


class StopSymbolOut(BaseModel):
    symbol: str
    side: str
    qty_before: PublicDecimal
    close_trade_id: int | None
    close_broker_order_id: str | None
    close_client_order_id: str | None
    filled_qty: PublicDecimal
    fill_price: PublicDecimal | None
    outcome: str = Field(description="pending | closed | queued | open | failed")
    attempts: int
    note: str | None


class StopOut(BaseModel):
    id: int
    status: str = Field(description="running | flat | incomplete | queued_for_open")
    phase: str = Field(
        description="halting | cancelling | closing | verifying | waiting_for_open | done"
    )
    reason: str
    requested_by: str
    requested_by_name: str | None
    channel_id: str | None
    started_at: datetime
    finished_at: datetime | None
    orders_canceled: int
    broker_write_calls: int
    error: str | None
    symbols: list[StopSymbolOut]
    already_running: bool = Field(
        default=False, description="true: a stop was already running; this is that stop"
    )


class StopPage(BaseModel):
    stops: list[StopOut]
    next_cursor: str | None


class PortfolioStopOut(BaseModel):
    portfolio: str
    paused: bool
    canceled_trade_ids: list[int]
    closing_trade_ids: list[int]
    problems: list[str]


class StatusOut(BaseModel):
    """What `/status` in Slack shows."""

    mode: str
    trading: TradingStateOut
    daily_pl: PublicDecimal | None = Field(description="equity - last_equity; null: unknown")
    daily_loss_limit: PublicDecimal | None
    open_orders: int
    broker_connected: bool
    stream_connected: bool
    running_stop_id: int | None
