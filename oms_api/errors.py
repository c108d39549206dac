"""Errors shared by the services, and how the API shows them.

Every refusal a client can meet is a `ServiceError`: an HTTP status, a stable code, one clear
sentence and details. The API turns it into the one error shape,
`{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

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
