"""Broker history: the mirror's sync (POST /sync) and its orders and trades (GET /history)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["broker history"])
