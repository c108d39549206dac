"""broker mirror, history sync and reconciliation reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 10:08:26

Written with autogenerate, then reviewed:
- broker_orders (the broker's orders and their legs, as last reported), broker_positions
  (the last snapshot), broker_sync_state (the sync's cursor);
- reconcile_reports and reconcile_discrepancies.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import oms_api.db.types

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broker_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broker_order_id", sa.String(length=64), nullable=False),
        sa.Column("client_order_id", sa.String(length=128), nullable=False),
        sa.Column("parent_broker_order_id", sa.String(length=64), nullable=True),
        sa.Column("leg_number", sa.Integer(), nullable=True),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("underlying", sa.String(length=16), nullable=False),
        sa.Column("asset_class", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=True),
        sa.Column("position_intent", sa.String(length=16), nullable=True),
        sa.Column("qty", oms_api.db.types.ExactDecimal(20, 9), nullable=True),
        sa.Column("notional", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("ratio_qty", oms_api.db.types.ExactDecimal(20, 9), nullable=True),
        sa.Column("filled_qty", oms_api.db.types.ExactDecimal(20, 9), nullable=False),
        sa.Column("filled_avg_price", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("limit_price", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("stop_price", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("order_type", sa.String(length=16), nullable=False),
        sa.Column("order_class", sa.String(length=16), nullable=False),
        sa.Column("time_in_force", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("extended_hours", sa.Boolean(), nullable=False),
        sa.Column("option_expiry", sa.Date(), nullable=True),
        sa.Column("option_strike", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("option_type", sa.String(length=4), nullable=True),
        sa.Column("trade_id", sa.String(length=40), nullable=True),
        sa.Column("strategy", sa.String(length=20), nullable=True),
        sa.Column("broker_created_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("broker_updated_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("submitted_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("filled_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("expired_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("canceled_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("failed_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "option_type IS NULL OR option_type IN ('call', 'put')",
            name="ck_broker_orders_option_type",
        ),
        sa.CheckConstraint("side IS NULL OR side IN ('buy', 'sell')", name="ck_broker_orders_side"),
        sa.CheckConstraint(
            (
                "status IN ('new', 'partially_filled', 'filled', 'done_for_day', "
                "'canceled', 'expired', 'replaced', 'pending_cancel', "
                "'pending_replace', 'pending_review', 'accepted', 'pending_new', "
                "'accepted_for_bidding', 'stopped', 'rejected', 'suspended', "
                "'calculated', 'held')"
            ),
            name="ck_broker_orders_status",
        ),
        sa.CheckConstraint(
            (
                "strategy IS NULL OR strategy IN ('equity', 'single_leg', "
                "'vertical_spread', 'straddle', 'strangle', 'iron_condor', 'options')"
            ),
            name="ck_broker_orders_strategy",
        ),
        sa.CheckConstraint(
            "(leg_number IS NULL) = (parent_broker_order_id IS NULL)",
            name="ck_broker_orders_leg_has_parent",
        ),
        sa.CheckConstraint("CAST(filled_qty AS REAL) >= 0", name="ck_broker_orders_filled_nonneg"),
        sa.CheckConstraint("leg_number IS NULL OR leg_number >= 1", name="ck_broker_orders_leg"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broker_orders")),
        sa.UniqueConstraint("broker_order_id", name=op.f("uq_broker_orders_broker_order_id")),
    )
    with op.batch_alter_table("broker_orders", schema=None) as batch_op:
        batch_op.create_index("ix_broker_orders_client_order_id", ["client_order_id"], unique=False)
        batch_op.create_index("ix_broker_orders_parent", ["parent_broker_order_id"], unique=False)
        batch_op.create_index(
            "ix_broker_orders_status_submitted", ["status", "submitted_at"], unique=False
        )
        batch_op.create_index(
            "ix_broker_orders_strategy_submitted", ["strategy", "submitted_at"], unique=False
        )
        batch_op.create_index("ix_broker_orders_submitted", ["submitted_at", "id"], unique=False)
        batch_op.create_index(
            "ix_broker_orders_symbol_submitted", ["symbol", "submitted_at"], unique=False
        )
        batch_op.create_index("ix_broker_orders_trade", ["trade_id"], unique=False)
        batch_op.create_index(
            "ix_broker_orders_underlying_submitted", ["underlying", "submitted_at"], unique=False
        )

    op.create_table(
        "broker_positions",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=True),
        sa.Column("asset_class", sa.String(length=16), nullable=False),
        sa.Column("underlying", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=5), nullable=False),
        sa.Column("qty", oms_api.db.types.ExactDecimal(20, 9), nullable=False),
        sa.Column("avg_entry_price", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("market_value", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("cost_basis", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("unrealized_pl", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("current_price", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("option_expiry", sa.Date(), nullable=True),
        sa.Column("option_strike", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("option_type", sa.String(length=4), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.Column("synced_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "option_type IS NULL OR option_type IN ('call', 'put')",
            name="ck_broker_positions_option_type",
        ),
        sa.CheckConstraint("side IN ('long', 'short')", name="ck_broker_positions_side"),
        sa.PrimaryKeyConstraint("symbol", name=op.f("pk_broker_positions")),
    )
    with op.batch_alter_table("broker_positions", schema=None) as batch_op:
        batch_op.create_index("ix_broker_positions_underlying", ["underlying"], unique=False)

    op.create_table(
        "broker_sync_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("cursor_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("full_synced_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_run_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_success_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("last_broker_calls", sa.Integer(), nullable=False),
        sa.Column("updated_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_broker_sync_state")),
    )
    op.create_table(
        "reconcile_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=True),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("in_sync", sa.Integer(), nullable=False),
        sa.Column("discrepancy_count", sa.Integer(), nullable=False),
        sa.Column("broker_calls", sa.Integer(), nullable=False),
        sa.Column("window_start", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("alert", sa.String(length=8), nullable=True),
        sa.Column("checked_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "alert IS NULL OR alert IN ('off', 'cleared')", name="ck_reconcile_reports_alert"
        ),
        sa.CheckConstraint(
            "trigger IN ('startup', 'schedule', 'manual')", name="ck_reconcile_reports_trigger"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_reports")),
    )
    with op.batch_alter_table("reconcile_reports", schema=None) as batch_op:
        batch_op.create_index("ix_reconcile_reports_trigger_id", ["trigger", "id"], unique=False)

    op.create_table(
        "reconcile_discrepancies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("broker_order_id", sa.String(length=64), nullable=True),
        sa.Column("client_order_id", sa.String(length=128), nullable=True),
        sa.Column("portfolio_id", sa.Integer(), nullable=True),
        sa.Column("oms_value", sa.String(length=100), nullable=True),
        sa.Column("broker_value", sa.String(length=100), nullable=True),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("repair", sa.String(length=16), nullable=True),
        sa.Column("repair_state", sa.String(length=16), nullable=False),
        sa.Column("repaired_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("repaired_by", sa.String(length=100), nullable=True),
        sa.Column("repair_note", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            (
                "kind IN ('missing_in_oms', 'missing_at_broker', 'status_mismatch', "
                "'filled_qty_mismatch', 'price_mismatch', 'position_mismatch')"
            ),
            name="ck_reconcile_discrepancies_kind",
        ),
        sa.CheckConstraint(
            "repair IS NULL OR repair IN ('adopt', 'refresh')",
            name="ck_reconcile_discrepancies_repair",
        ),
        sa.CheckConstraint(
            "repair_state IN ('open', 'repaired', 'failed')",
            name="ck_reconcile_discrepancies_repair_state",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reconcile_reports.id"],
            name=op.f("fk_reconcile_discrepancies_report_id_reconcile_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_discrepancies")),
    )
    with op.batch_alter_table("reconcile_discrepancies", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reconcile_discrepancies_report", ["report_id", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("reconcile_discrepancies", schema=None) as batch_op:
        batch_op.drop_index("ix_reconcile_discrepancies_report")

    op.drop_table("reconcile_discrepancies")
    with op.batch_alter_table("reconcile_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reconcile_reports_trigger_id")

    op.drop_table("reconcile_reports")
    op.drop_table("broker_sync_state")
    with op.batch_alter_table("broker_positions", schema=None) as batch_op:
        batch_op.drop_index("ix_broker_positions_underlying")

    op.drop_table("broker_positions")
    with op.batch_alter_table("broker_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_broker_orders_underlying_submitted")
        batch_op.drop_index("ix_broker_orders_trade")
        batch_op.drop_index("ix_broker_orders_symbol_submitted")
        batch_op.drop_index("ix_broker_orders_submitted")
        batch_op.drop_index("ix_broker_orders_strategy_submitted")
        batch_op.drop_index("ix_broker_orders_status_submitted")
        batch_op.drop_index("ix_broker_orders_parent")
        batch_op.drop_index("ix_broker_orders_client_order_id")

    op.drop_table("broker_orders")
