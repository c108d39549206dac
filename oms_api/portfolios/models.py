"""Portfolio tables and API shapes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import ConfigDict, field_validator
from sqlalchemy import CheckConstraint, Column
from sqlmodel import Field, SQLModel

from oms_api.db.types import ExactDecimal, UTCDateTime, utcnow
from oms_api.orders.enums import PortfolioStatus
from oms_api.orders.requests import StorableText

# Who asks (for the audit trail): see oms_api.audit.service.Actor.of.
REQUESTED_BY_HELP = "A Slack user id (U… or W…) when a person asks from Slack; else left out."
REQUESTED_BY_NAME_HELP = "The Slack user's name, shown next to the id in the audit trail."

PORTFOLIO_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
DAILY_LOSS_LIMIT_HELP = (
    "The most the portfolio may lose in one trading day, in dollars (positive, 2 decimals): "
    "reaching it pauses the portfolio. null: no limit."
)


def portfolio_key(name: str) -> str:
    """A portfolio name as it is stored and looked up: trimmed and lower-cased, but only when
    ASCII: str.lower() maps U+212A (Kelvin sign) to "k"; a name left non-ASCII matches none."""
    text = name.strip()
    return text.lower() if text.isascii() else text


class PortfolioBase(SQLModel):
    # SQLModel's `regex=` is silently dropped under pydantic v2; `pattern` is enforced.
    name: str = Field(max_length=40, schema_extra={"pattern": PORTFOLIO_NAME_PATTERN})
    allocated_capital: Decimal = Field(default=Decimal(0), ge=0, max_digits=18, decimal_places=2)


class PortfolioCreate(PortfolioBase):
    model_config = ConfigDict(extra="forbid")

    daily_loss_limit: Decimal | None = Field(
        default=None, gt=0, max_digits=18, decimal_places=2, description=DAILY_LOSS_LIMIT_HELP
    )

    requested_by: StorableText | None = Field(
        default=None, max_length=100, description=REQUESTED_BY_HELP
    )
    requested_by_name: StorableText | None = Field(
        default=None, max_length=100, description=REQUESTED_BY_NAME_HELP
    )

    @field_validator("name", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return portfolio_key(value) if isinstance(value, str) else value


class PortfolioUpdate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    allocated_capital: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=2)
    status: PortfolioStatus | None = None
    # Left out: unchanged; null given explicitly: the limit is removed (see model_fields_set).
    daily_loss_limit: Decimal | None = Field(
        default=None, gt=0, max_digits=18, decimal_places=2, description=DAILY_LOSS_LIMIT_HELP
    )
    reason: StorableText | None = Field(
        default=None, max_length=500, description="Why (kept in the audit trail)."
    )
    requested_by: StorableText | None = Field(
        default=None, max_length=100, description=REQUESTED_BY_HELP
    )
    requested_by_name: StorableText | None = Field(
        default=None, max_length=100, description=REQUESTED_BY_NAME_HELP
    )


class Portfolio(SQLModel, table=True):
    __tablename__ = "portfolios"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'paused')", name="ck_portfolios_status"),
        CheckConstraint(
            "CAST(allocated_capital AS REAL) >= 0", name="ck_portfolios_capital_nonneg"
        ),
        CheckConstraint(
            "daily_loss_limit IS NULL OR CAST(daily_loss_limit AS REAL) > 0",
            name="ck_portfolios_daily_loss_limit_positive",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=40, unique=True, index=True)
    allocated_capital: Decimal = Field(
        default=Decimal(0), sa_column=Column(ExactDecimal(18, 2), nullable=False)
    )
    status: str = Field(default=PortfolioStatus.ACTIVE.value, max_length=16)
    # The most this portfolio may lose in one trading day (a positive amount; null: no limit):
    # reaching it pauses the portfolio and alerts; nothing is closed.
    daily_loss_limit: Decimal | None = Field(
        default=None, sa_column=Column(ExactDecimal(18, 2), nullable=True)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(UTCDateTime(), nullable=False, onupdate=utcnow),
    )


class PortfolioPublic(PortfolioBase):
    id: int
    status: PortfolioStatus
    daily_loss_limit: Decimal | None = None
    created_at: datetime
    updated_at: datetime
