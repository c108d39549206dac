"""Migrations build exactly the schema the models describe, and the database enforces it.

Runs on SQLite by default and on PostgreSQL when OMS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, MetaData, Table, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from oms_api.cli import main
from oms_api.db import migrate
from oms_api.db.engine import make_engine
from oms_api.db.metadata import load_all_tables
from oms_api.db.migrate import (
    check_up_to_date,
    compare_type,
    current,
    downgrade,
    head_revision,
    render_item,
    upgrade,
)
from oms_api.db.types import ExactDecimal
from oms_api.orders.models import Fill, Order
from oms_api.portfolios.models import Portfolio
from tests.db import temporary_postgres_database

APP_TABLES = {
    "portfolios",
    "orders",
    "fills",
    "order_events",
    "broker_budget",
    "trading_state",
    "emergency_stops",
    "stop_symbols",
    "order_allocations",
    "audit_log",
    "alerts",
    "broker_orders",
    "broker_positions",
    "broker_sync_state",
    "reconcile_reports",
    "reconcile_discrepancies",
    "portfolio_limits",
}


def _schema_differences(engine: Engine, metadata: MetaData) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": compare_type, "render_item": render_item}
        )
        return compare_metadata(context, metadata)


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def _order(**overrides: Any) -> Order:
    values: dict[str, Any] = {
        "client_order_id": "oms-1",
        "symbol": "AAPL",
        "side": "buy",
        "qty": Decimal("1"),
        "order_type": "market",
        "time_in_force": "day",
    }
    values.update(overrides)
    return Order(**values)


def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(fresh_database_url: str):
    url = fresh_database_url
    assert not check_up_to_date(url)
    assert current(url) is None

    upgrade(url)
    assert current(url) == head_revision()
    assert check_up_to_date(url)

    engine = make_engine(url)
    try:
        assert _schema_differences(engine, load_all_tables()) == []
        assert _tables(engine) == APP_TABLES | {"alembic_version"}

        downgrade(url, "base")
        engine.dispose()  # forget cached metadata of the dropped tables
        assert _tables(engine) <= {"alembic_version"}
        assert current(url) is None
        assert not check_up_to_date(url)

        upgrade(url)
        assert check_up_to_date(url)
        assert _tables(engine) == APP_TABLES | {"alembic_version"}
    finally:
        engine.dispose()


def test_checking_a_missing_sqlite_file_does_not_create_it(tmp_path: Path):
    path = tmp_path / "never-made.db"
    assert not check_up_to_date(f"sqlite:///{path}")
    assert current(f"sqlite:///{path}") is None
    assert not path.exists()


def test_a_changed_column_type_is_reported_by_autogenerate(database_url: str):
    # Guards compare_type: our TypeDecorators must not hide a real change of precision.
    changed = MetaData()
    Table("fills", changed, Column("qty", ExactDecimal(30, 9), nullable=False))
    engine = make_engine(database_url)
    try:
        differences = _schema_differences(engine, changed)
    finally:
        engine.dispose()
    modified = [d[0] for d in differences if isinstance(d, list)]
    assert any(d[0] == "modify_type" and d[3] == "qty" for d in modified), differences


def test_a_failing_migration_leaves_the_database_as_it_was(
    fresh_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    scripts = tmp_path / "alembic"
    shutil.copytree(migrate.find_alembic_dir(), scripts)
    # A broken migration on top of the real ones: everything before it must be undone too.
    (scripts / "versions" / "9999_broken.py").write_text(
        '"""broken"""\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        f'revision = "9999"\ndown_revision = "{head_revision()}"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade():\n"
        '    op.create_table("scratch", sa.Column("id", sa.Integer, primary_key=True))\n'
        '    op.add_column("orders", sa.Column("note", sa.String(10)))\n'
        '    op.execute("SELECT * FROM no_such_table")\n\n\n'
        "def downgrade():\n    pass\n"
    )
    monkeypatch.setattr(migrate, "find_alembic_dir", lambda: scripts)

    with pytest.raises(Exception, match="no_such_table"):
        upgrade(fresh_database_url)

    assert current(fresh_database_url) is None
    engine = make_engine(fresh_database_url)
    try:
        assert _tables(engine) <= {"alembic_version"}
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"status": "bogus"}, "ck_orders_status"),
        ({"qty": Decimal("-1")}, "ck_orders_qty_positive"),
        ({"qty": Decimal("1"), "notional": Decimal("100")}, "ck_orders_qty_xor_notional"),
        ({"qty": None, "notional": None}, "ck_orders_qty_xor_notional"),
        ({"side": "long"}, "ck_orders_side"),
        ({"time_in_force": "forever"}, "ck_orders_tif"),
    ],
)
def test_the_database_rejects_impossible_orders(
    db_engine: Engine, overrides: dict[str, Any], constraint: str
):
    with Session(db_engine) as session:
        session.add(_order(**overrides))
        with pytest.raises(IntegrityError) as caught:
            session.commit()
    if db_engine.dialect.name == "postgresql":  # SQLite names the constraint only sometimes
        assert constraint in str(caught.value)


def test_a_fill_needs_a_positive_price_and_an_existing_order(db_engine: Engine):
    with Session(db_engine) as session:
        order = _order()
        session.add(order)
        session.commit()
        fill = {"qty": Decimal("1"), "filled_at": datetime.now(UTC), "source": "stream"}
        session.add(Fill(execution_id="x1", order_id=order.id, price=Decimal("0"), **fill))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        session.add(Fill(execution_id="x2", order_id=order.id + 99, price=Decimal("1"), **fill))
        with pytest.raises(IntegrityError):
            session.commit()


def test_decimals_and_times_come_back_exactly(db_engine: Engine):
    placed = datetime(2026, 11, 18, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-5)))
    with Session(db_engine) as session:
        session.add(
            _order(
                qty=Decimal("0.123456789"),
                order_type="limit",
                limit_price=Decimal("123456.123456"),
                created_at=placed,
            )
        )
        session.commit()

    with Session(db_engine) as session:
        order = session.exec(select(Order)).one()
    assert order.qty == Decimal("0.123456789")
    assert str(order.qty).rstrip("0") == "0.123456789"
    assert order.limit_price == Decimal("123456.123456")
    assert order.filled_qty == Decimal(0)
    assert order.created_at == placed
    assert order.created_at.tzinfo == UTC
    assert order.created_at.hour == 15


def test_client_order_ids_and_execution_ids_are_unique(db_engine: Engine):
    with Session(db_engine) as session:
        first = _order(client_order_id="same")
        session.add(first)
        session.commit()
        session.add(_order(client_order_id="same"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()

        fill = {"qty": Decimal("1"), "price": Decimal("10"), "source": "stream"}
        filled_at = datetime.now(UTC)
        session.add(Fill(execution_id="e1", order_id=first.id, filled_at=filled_at, **fill))
        session.commit()
        session.add(Fill(execution_id="e1", order_id=first.id, filled_at=filled_at, **fill))
        with pytest.raises(IntegrityError):
            session.commit()


def test_updating_a_row_moves_updated_at(db_engine: Engine):
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    with Session(db_engine) as session:
        portfolio = Portfolio(name="growth", created_at=long_ago, updated_at=long_ago)
        order = _order(created_at=long_ago, updated_at=long_ago)
        session.add_all([portfolio, order])
        session.commit()

        before = datetime.now(UTC)
        portfolio.status = "paused"
        order.status = "submitted"
        session.add_all([portfolio, order])
        session.commit()

    with Session(db_engine) as session:
        stored_portfolio = session.exec(select(Portfolio)).one()
        stored_order = session.exec(select(Order)).one()
    assert stored_portfolio.updated_at >= before
    assert stored_order.updated_at >= before
    assert stored_order.created_at == long_ago


def test_oms_migrate_brings_the_database_to_head(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    assert main(["migrate"]) == 0
    assert head_revision() in capsys.readouterr().out
    assert check_up_to_date(fresh_database_url)


@pytest.mark.postgres
def test_two_concurrent_upgrades_on_postgres_both_succeed(postgres_url: str):
    with temporary_postgres_database(postgres_url) as url:
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                start.wait(timeout=10)
                upgrade(url)
            except BaseException as error:  # reported below, from the test's thread
                errors.append(error)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert not any(thread.is_alive() for thread in threads), "an upgrade hung"
        assert errors == []
        assert check_up_to_date(url)


def test_revision_0002_allows_not_sent_and_downgrading_folds_it_into_rejected(
    fresh_database_url: str,
):
    from sqlalchemy import text

    url = fresh_database_url
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            session.add(Portfolio(name="p"))
            session.commit()
            session.add(_order(status="not_sent", portfolio_id=1))
            session.commit()
        downgrade(url, "0001")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT status FROM orders")).scalar() == "rejected"
            assert "broker_budget" not in set(inspect(engine).get_table_names())
        engine.dispose()
        upgrade(url)
        assert check_up_to_date(url)
    finally:
        engine.dispose()
