"""Per-portfolio pre-trade limits (every one optional)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from oms_api.db.types import ExactDecimal, UTCDateTime, utcnow


class PortfolioLimits(SQLModel, table=True):
    """One portfolio's pre-trade limits; no row (or a null field): that limit is not set."""

    __tablename__ = "portfolio_limits"
    __table_args__ = (
        CheckConstraint(
            "max_order_notional IS NULL OR CAST(max_order_notional AS REAL) > 0",
            name="ck_portfolio_limits_max_order_notional_positive",
        ),
        CheckConstraint(
            "max_position_value IS NULL OR CAST(max_position_value AS REAL) > 0",
            name="ck_portfolio_limits_max_position_value_positive",
        ),
    )

    portfolio_id: int = Field(
        sa_column=Column(Integer, ForeignKey("portfolios.id", ondelete="CASCADE"), primary_key=True)
    )
    # Symbols this portfolio may trade (null: any) and symbols it may not (null: none).
    allowed_symbols: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    denied_symbols: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The largest single order, in dollars (qty x price, or its notional).
    max_order_notional: Decimal | None = Field(
        default=None, sa_column=Column(ExactDecimal(18, 2), nullable=True)
    )
    # The largest position in any one symbol, in dollars at the current price, long or short.
    max_position_value: Decimal | None = Field(
        default=None, sa_column=Column(ExactDecimal(18, 2), nullable=True)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class PortfolioLimitsPublic(SQLModel):
    """A portfolio's limits as the API shows them (null: not set)."""

    portfolio: str
    allowed_symbols: list[str] | None = None
    denied_symbols: list[str] | None = None
    max_order_notional: Decimal | None = None
    max_position_value: Decimal | None = None
    updated_at: datetime | None = None  # null: never set
