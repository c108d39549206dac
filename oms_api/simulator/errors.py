"""Errors the simulator answers with, in Alpaca's codes and body shapes."""

from __future__ import annotations

from typing import Any


class SimAPIError(Exception):
    """An HTTP error with an Alpaca-shaped JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


def invalid(message: str) -> SimAPIError:
    """422 / 42210000: Alpaca's answer to a bad parameter or an unknown symbol."""
    return SimAPIError(422, {"code": 42210000, "message": message})


def malformed(message: str = "request body format is invalid") -> SimAPIError:
    return SimAPIError(400, {"code": 40010000, "message": message})


def not_found(message: str) -> SimAPIError:
    return SimAPIError(404, {"code": 40410000, "message": message})


def forbidden(message: str, **extra: Any) -> SimAPIError:
    """403 / 40310000: insufficient buying power or quantity."""
    return SimAPIError(403, {"code": 40310000, "message": message, **extra})


def duplicate_client_order_id() -> SimAPIError:
    return SimAPIError(422, {"code": 40010001, "message": "client_order_id must be unique"})
