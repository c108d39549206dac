"""initial: portfolios, orders, fills, order_events

Revision ID: 0001
Revises:
Create Date: 2026-11-21 19:48:30

Written with autogenerate, then reviewed: every CHECK, unique, index and foreign key of the
models is here, named as the models / naming convention name them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import oms_api.db.types

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the allowed values as of this revision; later changes get their own migration.
ORDER_STATUSES = (
    "'pending_submit', 'submitted', 'unknown', 'accepted', 'partially_filled', 'filled', "
    "'pending_cancel', 'canceled', 'expired', 'rejected', 'replaced'"
)


def upgrade() -> None:
    op.create_table(
        "portfolios",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("allocated_capital", oms_api.db.types.ExactDecimal(18, 2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("status IN ('active', 'paused')", name="ck_portfolios_status"),
        sa.CheckConstraint(
            "CAST(allocated_capital AS REAL) >= 0", name="ck_portfolios_capital_nonneg"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolios")),
    )
    op.create_index(op.f("ix_portfolios_name"), "portfolios", ["name"], unique=True)

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_order_id", sa.String(length=48), nullable=False),
        sa.Column("broker_order_id", sa.String(length=64), nullable=True),
        sa.Column("portfolio_id", sa.Integer(), nullable=True),
        sa.Column("symbol", sa.String(length=21), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("qty", oms_api.db.types.ExactDecimal(20, 9), nullable=True),
        sa.Column("notional", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("order_type", sa.String(length=16), nullable=False),
        sa.Column("time_in_force", sa.String(length=8), nullable=False),
        sa.Column("limit_price", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("stop_price", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("order_class", sa.String(length=16), nullable=False),
        sa.Column("take_profit_limit_price", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("stop_loss_stop_price", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("stop_loss_limit_price", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("extended_hours", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("broker_status", sa.String(length=32), nullable=True),
        sa.Column("filled_qty", oms_api.db.types.ExactDecimal(20, 9), nullable=False),
        sa.Column("filled_avg_price", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("requested_by", sa.String(length=100), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("external", sa.Boolean(), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.String(length=500), nullable=True),
        sa.Column("send_attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.Column("submitted_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("filled_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("canceled_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("cancel_requested_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_broker_check_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("updated_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(f"status IN ({ORDER_STATUSES})", name="ck_orders_status"),
        sa.CheckConstraint("side IN ('buy', 'sell')", name="ck_orders_side"),
        sa.CheckConstraint(
            "order_type IN ('market', 'limit', 'stop', 'stop_limit')", name="ck_orders_type"
        ),
        sa.CheckConstraint(
            "time_in_force IN ('day', 'gtc', 'opg', 'cls', 'ioc', 'fok')", name="ck_orders_tif"
        ),
        sa.CheckConstraint("order_class IN ('simple', 'bracket')", name="ck_orders_class"),
        sa.CheckConstraint(
            "(qty IS NULL) <> (notional IS NULL)", name="ck_orders_qty_xor_notional"
        ),
        sa.CheckConstraint("qty IS NULL OR CAST(qty AS REAL) > 0", name="ck_orders_qty_positive"),
        sa.CheckConstraint(
            "notional IS NULL OR CAST(notional AS REAL) > 0", name="ck_orders_notional_positive"
        ),
        sa.CheckConstraint("CAST(filled_qty AS REAL) >= 0", name="ck_orders_filled_nonneg"),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolios.id"],
            name=op.f("fk_orders_portfolio_id_portfolios"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_orders_client_order_id")),
        sa.UniqueConstraint("broker_order_id", name=op.f("uq_orders_broker_order_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_orders_idempotency_key")),
    )
    op.create_index("ix_orders_portfolio_created", "orders", ["portfolio_id", "created_at"])
    op.create_index("ix_orders_symbol_created", "orders", ["symbol", "created_at"])
    op.create_index("ix_orders_status", "orders", ["status"])
    op.create_index("ix_orders_created", "orders", ["created_at", "id"])

    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("qty", oms_api.db.types.ExactDecimal(20, 9), nullable=False),
        sa.Column("price", oms_api.db.types.ExactDecimal(18, 6), nullable=False),
        sa.Column("filled_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("CAST(qty AS REAL) > 0", name="ck_fills_qty_positive"),
        sa.CheckConstraint("CAST(price AS REAL) > 0", name="ck_fills_price_positive"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_fills_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint("execution_id", name=op.f("uq_fills_execution_id")),
    )
    op.create_index(op.f("ix_fills_order_id"), "fills", ["order_id"])

    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("broker_status", sa.String(length=32), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("created_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "source IN ('api', 'stream', 'poll', 'recovery', 'reconcile')",
            name="ck_order_events_source",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_events_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
    )
    op.create_index(op.f("ix_order_events_order_id"), "order_events", ["order_id"])


def downgrade() -> None:
    # Dropping a table drops its indexes and constraints with it.
    op.drop_table("order_events")
    op.drop_table("fills")
    op.drop_table("orders")
    op.drop_table("portfolios")
