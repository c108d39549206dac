"""The broker history's public JSON shapes (decimals as strings without trailing zeros)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, StrictBool

from oms_api.orders.models import PublicDecimal


class SyncRequest(BaseModel):
    """POST /sync: `full` walks the whole history again instead of going on from the cursor."""

    model_config = ConfigDict(extra="forbid")

    full: StrictBool = False


class SyncResultOut(BaseModel):
    full: bool
    pages: int
    orders_seen: int
    inserted: int
    updated: int
    unchanged: int
    positions: int
    broker_calls: int
    cursor_at: datetime | None
    started_at: datetime
    finished_at: datetime


class SyncStateOut(BaseModel):
    cursor_at: datetime | None
    full_synced_at: datetime | None
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    orders_mirrored: int
    positions_mirrored: int


class OptionOut(BaseModel):
    expiry: date
    strike: PublicDecimal
    type: str


class MirrorOrderOut(BaseModel):
    broker_order_id: str
    client_order_id: str
    parent_broker_order_id: str | None
    leg_number: int | None
    trade_id: str | None
    strategy: str | None
    symbol: str
    underlying: str
    asset_class: str
    side: str | None
    position_intent: str | None
    qty: PublicDecimal | None
    filled_qty: PublicDecimal
    filled_avg_price: PublicDecimal | None
    order_type: str
    order_class: str
    time_in_force: str
    limit_price: PublicDecimal | None
    stop_price: PublicDecimal | None
    status: str
    option: OptionOut | None
    submitted_at: datetime | None
    filled_at: datetime | None
    canceled_at: datetime | None
    expired_at: datetime | None
    updated_at: datetime


class NetOut(BaseModel):
    kind: str  # "credit" | "debit" | "even"
    price: PublicDecimal | None  # per unit of the strategy
    amount: PublicDecimal | None  # dollars


class TradeOut(BaseModel):
    trade_id: str
    underlying: str
    strategy: str
    expiry: date | None
    legs: int
    orders: int
    state: str
    opened_at: datetime | None
    closed_at: datetime | None
    net: NetOut | None
    realized_pnl: PublicDecimal | None


class TradeDetailOut(TradeOut):
    members: list[MirrorOrderOut]


class TradePage(BaseModel):
    trades: list[TradeOut]
    next_cursor: str | None


class MirrorOrderPage(BaseModel):
    orders: list[MirrorOrderOut]
    next_cursor: str | None
