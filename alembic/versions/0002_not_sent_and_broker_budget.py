"""orders may be `not_sent`; the shared broker request budget

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 04:00:00

- `not_sent`: an order that certainly never reached the broker (only the broker rejects).
- `broker_budget`: the token bucket every worker draws its broker requests from. UNLOGGED on
  PostgreSQL: its level is worthless after a crash (a missing row starts full), and skipping the
  write-ahead log keeps the one update per broker request cheap.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the allowed values, before and after this revision.
OLD_STATUSES = (
    "'pending_submit', 'submitted', 'unknown', 'accepted', 'partially_filled', 'filled', "
    "'pending_cancel', 'canceled', 'expired', 'rejected', 'replaced'"
)
NEW_STATUSES = OLD_STATUSES + ", 'not_sent'"


def _order_statuses(allowed: str) -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint("ck_orders_status", type_="check")
        batch.create_check_constraint("ck_orders_status", f"status IN ({allowed})")


def upgrade() -> None:
    _order_statuses(NEW_STATUSES)
    op.create_table(
        "broker_budget",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_broker_budget")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE broker_budget SET UNLOGGED")


def downgrade() -> None:
    op.drop_table("broker_budget")
    op.execute("UPDATE orders SET status = 'rejected' WHERE status = 'not_sent'")
    _order_statuses(OLD_STATUSES)
