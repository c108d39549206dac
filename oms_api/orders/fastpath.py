"""PostgreSQL statements for a trade's hot path, each one statement run in autocommit.

A transaction costs three round trips before its first statement does any work (BEGIN, the
statement, COMMIT); a single statement in autocommit is its own transaction, one round trip.
Data-modifying CTEs let one statement do what several did:
- recording an order: the order row and its first event, only while its portfolio is active;
- applying broker news to an order this process wrote last: the order row (guarded by the
  `updated_at` it had then, so a change by anyone else makes it touch nothing), its fill and
  its event, the NOTIFY to the other workers, and an asynchronous commit (broker news can be
  asked for again; see writer.py).
A guard that does not hold touches nothing, and the writer falls back to its locking path.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.schema import Table

_DIALECT = postgresql.dialect()


def _sql_type(table: Table, column: str) -> str:
    return str(table.c[column].type.compile(dialect=_DIALECT))


def _typed(table: Table, columns: list[str], prefix: str = "") -> list[Any]:
    """Bind parameters carrying the columns' types, so their value processors run."""
    return [bindparam(prefix + c, type_=table.c[c].type) for c in columns]


def _values(table: Table, columns: list[str], prefix: str = "") -> str:
    # Explicit casts: in a SELECT list PostgreSQL cannot infer a parameter's type (a NULL
    # would be text, and text does not go into numeric or json columns).
    return ", ".join(f"CAST(:{prefix}{c} AS {_sql_type(table, c)})" for c in columns)


EVENT_COLUMNS = [
    "from_status",
    "to_status",
    "source",
    "broker_status",
    "note",
    "payload",
    "created_at",
]
FILL_COLUMNS = ["execution_id", "qty", "price", "filled_at", "source", "created_at"]
AUDIT_COLUMNS = ["created_at", "actor_kind", "actor", "actor_name", "action", "details", "result"]

# Whether an order may be recorded now: its portfolio is active and trading is not halted (an
# emergency sell may pass either). Shared by both databases' statements.
MAY_RECORD = (
    "(CAST(:allow_paused AS boolean) OR EXISTS "
    "(SELECT 1 FROM portfolios WHERE id = :portfolio_id AND status = 'active')) "
    "AND (CAST(:allow_halted AS boolean) OR NOT EXISTS "
    "(SELECT 1 FROM trading_state WHERE state = 'halted'))"
)


def record_statement(orders: Table, events: Table, audit: Table) -> TextClause:
    """Insert the order, its first event and its audit row if it may be recorded now; returns
    the new id (no row: refused)."""
    columns = [c.name for c in orders.columns if c.name != "id"]
    sql = (
        f"WITH new_order AS (INSERT INTO orders ({', '.join(columns)}) "
        f"SELECT {_values(orders, columns)} WHERE {MAY_RECORD} RETURNING id), "
        f"first_event AS (INSERT INTO order_events (order_id, {', '.join(EVENT_COLUMNS)}) "
        f"SELECT new_order.id, {_values(events, EVENT_COLUMNS, 'e_')} FROM new_order), "
        f"audited AS (INSERT INTO audit_log (target, {', '.join(AUDIT_COLUMNS)}) "
        f"SELECT 'trade ' || new_order.id, {_values(audit, AUDIT_COLUMNS, 'a_')} FROM new_order) "
        "SELECT id FROM new_order"
    )
    return text(sql).bindparams(
        *_typed(orders, columns),
        *_typed(events, EVENT_COLUMNS, "e_"),
        *_typed(audit, AUDIT_COLUMNS, "a_"),
    )


def apply_statement(
    orders: Table, fills: Table, events: Table, mutable: tuple[str, ...]
) -> TextClause:
    """Update the order if it is as this process last wrote it; with it, a fill (when
    `has_fill`), its event and the NOTIFY; the commit does not wait for the disk."""
    assignments = ", ".join(f"{c} = :{c}" for c in mutable)
    sql = (
        f"WITH changed AS (UPDATE orders SET {assignments} "
        "WHERE id = :order_id AND updated_at = :expected_updated_at RETURNING id), "
        f"new_fill AS (INSERT INTO fills (order_id, {', '.join(FILL_COLUMNS)}) "
        f"SELECT changed.id, {_values(fills, FILL_COLUMNS, 'f_')} FROM changed "
        "WHERE CAST(:has_fill AS boolean)), "
        f"new_event AS (INSERT INTO order_events (order_id, {', '.join(EVENT_COLUMNS)}) "
        f"SELECT changed.id, {_values(events, EVENT_COLUMNS, 'e_')} FROM changed) "
        "SELECT count(*), "
        "bool_or(pg_notify(:channel, :payload) IS NULL), "
        "bool_or(set_config('synchronous_commit', 'off', true) IS NULL) FROM changed"
    )
    return text(sql).bindparams(
        *_typed(orders, list(mutable)),
        bindparam("expected_updated_at", type_=orders.c.updated_at.type),
        *_typed(fills, FILL_COLUMNS, "f_"),
        *_typed(events, EVENT_COLUMNS, "e_"),
    )
