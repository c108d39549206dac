"""What the reconciliation routes accept (unknown fields are refused, text is storable)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from oms_api.orders.requests import StorableText

MAX_ID = 2**31 - 1
# Strict: `true` or "3" is not an id.
DiscrepancyId = Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    requested_by: StorableText | None = Field(default=None, max_length=100)
    requested_by_name: StorableText | None = Field(default=None, max_length=100)


class ReconcileRequest(_Request):
    """POST /reconcile (the body is optional)."""


class RepairRequest(_Request):
    """POST /reconcile/reports/{id}/repair."""

    action: Literal["adopt", "refresh"]
    # Default: every open discrepancy of the report that the action repairs.
    discrepancy_ids: list[DiscrepancyId] | None = Field(default=None, min_length=1, max_length=500)
    reason: StorableText | None = Field(default=None, max_length=500)
