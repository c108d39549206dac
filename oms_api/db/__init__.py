"""Database engine, sessions and column types."""

# Sets the constraint naming convention before any models module defines its tables.
from oms_api.db import metadata as _metadata  # noqa: F401
