"""portfolio limits, per-portfolio daily loss limit, orders' estimated price

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 12:50:00

- portfolio_limits: each portfolio's optional pre-trade limits (allowed / denied symbols, the
  largest order, the largest position per symbol);
- portfolios.daily_loss_limit: reaching it pauses the portfolio;
- orders.estimated_price: what the pre-trade checks valued an order at (a working buy's
  reservation of its portfolio's capital).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import oms_api.db.types

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portfolio_limits",
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("allowed_symbols", sa.JSON(), nullable=True),
        sa.Column("denied_symbols", sa.JSON(), nullable=True),
        sa.Column("max_order_notional", oms_api.db.types.ExactDecimal(18, 2), nullable=True),
        sa.Column("max_position_value", oms_api.db.types.ExactDecimal(18, 2), nullable=True),
        sa.Column("updated_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "max_order_notional IS NULL OR CAST(max_order_notional AS REAL) > 0",
            name="ck_portfolio_limits_max_order_notional_positive",
        ),
        sa.CheckConstraint(
            "max_position_value IS NULL OR CAST(max_position_value AS REAL) > 0",
            name="ck_portfolio_limits_max_position_value_positive",
        ),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolios.id"],
            name=op.f("fk_portfolio_limits_portfolio_id_portfolios"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("portfolio_id", name=op.f("pk_portfolio_limits")),
    )
    with op.batch_alter_table("portfolios", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("daily_loss_limit", oms_api.db.types.ExactDecimal(18, 2), nullable=True)
        )
        batch_op.create_check_constraint(
            "ck_portfolios_daily_loss_limit_positive",
            "daily_loss_limit IS NULL OR CAST(daily_loss_limit AS REAL) > 0",
        )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("estimated_price", oms_api.db.types.ExactDecimal(18, 6), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("estimated_price")
    with op.batch_alter_table("portfolios", schema=None) as batch_op:
        batch_op.drop_constraint("ck_portfolios_daily_loss_limit_positive", type_="check")
        batch_op.drop_column("daily_loss_limit")
    op.drop_table("portfolio_limits")
