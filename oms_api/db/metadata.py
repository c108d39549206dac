"""The one MetaData every table lives on, with deterministic constraint names.

The naming convention must be on `SQLModel.metadata` before any table class is defined, because
names are assigned when a table is built. `oms_api.db` imports this module first thing, and every
models module imports `oms_api.db.types`, so the convention is always in place in time.
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData
from sqlmodel import SQLModel

# Named constraints let Alembic (and SQLite batch mode, which recreates tables) find and alter
# them later. CHECK constraints are not listed: the models name each one explicitly, and a "ck"
# pattern would wrap those names a second time.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Every module that defines tables; migrations and `create_all` must see all of them.
TABLE_MODULES: tuple[str, ...] = (
    "oms_api.portfolios.models",
    "oms_api.orders.models",
    "oms_api.broker.budget",
    "oms_api.controls.models",
    "oms_api.audit.models",
    "oms_api.alerts.models",
    "oms_api.history.models",
    "oms_api.reconcile.models",
    "oms_api.risk.models",
)

SQLModel.metadata.naming_convention = NAMING_CONVENTION


def load_all_tables() -> MetaData:
    """Import every table module and return the metadata they registered on."""
    for module in TABLE_MODULES:
        importlib.import_module(module)
    return SQLModel.metadata
