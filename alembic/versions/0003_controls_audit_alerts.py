"""trading controls, the audit trail and the alert outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 06:20:42

Written with autogenerate, then reviewed:
- trading_state (one row, created here: active), emergency_stops (at most one running, by a
  partial unique index), stop_symbols;
- audit_log; alerts (the outbox);
- orders.origin (existing rows are trades) and orders.stop_id; order_allocations;
- order events may come from the stop.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import oms_api.db.types

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("channel_id", sa.String(length=40), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("delivered_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("slack_ts", sa.String(length=40), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("dedupe_key", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "severity IN ('info', 'warning', 'critical')", name="ck_alerts_severity"
        ),
        sa.CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="ck_alerts_state"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_alerts_dedupe_key")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_state_id", ["state", "id"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_name", sa.String(length=100), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "actor_kind IN ('slack_user', 'api', 'system')", name="ck_audit_log_actor_kind"
        ),
        sa.CheckConstraint("result IN ('ok', 'refused', 'failed')", name="ck_audit_log_result"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_action", ["action"], unique=False)
        batch_op.create_index("ix_audit_log_actor", ["actor"], unique=False)
        batch_op.create_index("ix_audit_log_created", ["created_at", "id"], unique=False)

    op.create_table(
        "emergency_stops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_by_name", sa.String(length=100), nullable=True),
        sa.Column("channel_id", sa.String(length=40), nullable=True),
        sa.Column("started_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", oms_api.db.types.UTCDateTime(), nullable=True),
        sa.Column("orders_canceled", sa.Integer(), nullable=False),
        sa.Column("broker_write_calls", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'flat', 'incomplete', 'queued_for_open')",
            name="ck_emergency_stops_status",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_stops")),
    )
    with op.batch_alter_table("emergency_stops", schema=None) as batch_op:
        batch_op.create_index("ix_emergency_stops_started", ["started_at", "id"], unique=False)
    op.create_index(
        "ix_emergency_stops_one_running",
        "emergency_stops",
        ["status"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
        sqlite_where=sa.text("status = 'running'"),
    )

    op.create_table(
        "trading_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("changed_by", sa.String(length=100), nullable=True),
        sa.Column("changed_by_name", sa.String(length=100), nullable=True),
        sa.Column("changed_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.Column("stop_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("state IN ('active', 'halted')", name="ck_trading_state_state"),
        sa.ForeignKeyConstraint(
            ["stop_id"],
            ["emergency_stops.id"],
            name=op.f("fk_trading_state_stop_id_emergency_stops"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_state")),
    )
    op.execute(
        "INSERT INTO trading_state (id, state, changed_by, changed_at) "
        "VALUES (1, 'active', 'system', CURRENT_TIMESTAMP)"
    )
    op.create_table(
        "order_allocations",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("qty", oms_api.db.types.ExactDecimal(20, 9), nullable=False),
        sa.CheckConstraint("CAST(qty AS REAL) > 0", name="ck_order_allocations_qty_positive"),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_allocations_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolios.id"],
            name=op.f("fk_order_allocations_portfolio_id_portfolios"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("order_id", "portfolio_id", name=op.f("pk_order_allocations")),
    )
    op.create_table(
        "stop_symbols",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stop_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=21), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("qty_before", oms_api.db.types.ExactDecimal(20, 9), nullable=False),
        sa.Column("close_order_id", sa.Integer(), nullable=True),
        sa.Column("close_broker_order_id", sa.String(length=64), nullable=True),
        sa.Column("close_client_order_id", sa.String(length=64), nullable=True),
        sa.Column("filled_qty", oms_api.db.types.ExactDecimal(20, 9), nullable=False),
        sa.Column("fill_price", oms_api.db.types.ExactDecimal(18, 6), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("updated_at", oms_api.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('pending', 'closed', 'queued', 'open', 'failed')",
            name="ck_stop_symbols_outcome",
        ),
        sa.ForeignKeyConstraint(
            ["close_order_id"],
            ["orders.id"],
            name=op.f("fk_stop_symbols_close_order_id_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["stop_id"],
            ["emergency_stops.id"],
            name=op.f("fk_stop_symbols_stop_id_emergency_stops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stop_symbols")),
        sa.UniqueConstraint("stop_id", "symbol", name="uq_stop_symbols_stop_symbol"),
    )
    with op.batch_alter_table("stop_symbols", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stop_symbols_stop_id"), ["stop_id"], unique=False)

    with op.batch_alter_table("orders", schema=None) as batch_op:
        # Every order so far was a trade.
        batch_op.add_column(
            sa.Column("origin", sa.String(length=20), nullable=False, server_default="trade")
        )
        batch_op.add_column(sa.Column("stop_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_orders_stop_id_emergency_stops"),
            "emergency_stops",
            ["stop_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_check_constraint(
            "ck_orders_origin", "origin IN ('trade', 'emergency_sell', 'stop', 'external')"
        )
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.drop_constraint("ck_order_events_source", type_="check")
        batch_op.create_check_constraint(
            "ck_order_events_source",
            "source IN ('api', 'stream', 'poll', 'recovery', 'reconcile', 'stop')",
        )


def downgrade() -> None:
    op.execute("UPDATE order_events SET source = 'api' WHERE source = 'stop'")
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.drop_constraint("ck_order_events_source", type_="check")
        batch_op.create_check_constraint(
            "ck_order_events_source",
            "source IN ('api', 'stream', 'poll', 'recovery', 'reconcile')",
        )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint("ck_orders_origin", type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_orders_stop_id_emergency_stops"), type_="foreignkey"
        )
        batch_op.drop_column("stop_id")
        batch_op.drop_column("origin")

    with op.batch_alter_table("stop_symbols", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stop_symbols_stop_id"))

    op.drop_table("stop_symbols")
    op.drop_table("order_allocations")
    op.drop_table("trading_state")
    op.drop_index("ix_emergency_stops_one_running", table_name="emergency_stops")
    with op.batch_alter_table("emergency_stops", schema=None) as batch_op:
        batch_op.drop_index("ix_emergency_stops_started")

    op.drop_table("emergency_stops")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_created")
        batch_op.drop_index("ix_audit_log_actor")
        batch_op.drop_index("ix_audit_log_action")

    op.drop_table("audit_log")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_state_id")

    op.drop_table("alerts")
