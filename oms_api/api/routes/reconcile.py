"""Reconciliation: run it, read its reports, repair what it found (only when asked)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["reconciliation"])
