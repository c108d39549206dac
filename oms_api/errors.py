"""Errors shared by the services, and how the API shows them.

Every refusal a client can meet is a `ServiceError`: an HTTP status, a stable code, one clear
sentence and details. The API turns it into the one error shape,
`{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import math
from typing import Any


class ServiceError(Exception):
    """An answer for the API: HTTP status, stable code, one clear sentence, details."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


def broker_busy(retry_after: float) -> ServiceError:
    """The OMS paces its own broker requests (Alpaca allows 200 a minute per API key): the
    request was not sent, and may be tried again in `retry_after` seconds."""
    seconds = max(1, math.ceil(retry_after))
    return ServiceError(
        503,
        "broker_busy",
        "the OMS is pacing its requests to the broker (Alpaca allows 200 a minute) — "
        f"nothing was sent; try again in {seconds} s",
        {"retry_after_seconds": seconds},
    )
