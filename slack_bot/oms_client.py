"""A small synchronous client of the OMS API, the only way the bot touches orders.

One pooled httpx.Client with the bearer token. Failures become two exceptions:
`OmsError` when the OMS answered with its error shape, `OmsUnavailable` when it could not be
reached or answered something else (a proxy's HTML 502, a timeout). For the calls that change
state (placing and cancelling a trade) `OmsUnavailable.maybe_sent` says whether the OMS may
have acted anyway, so the bot can tell the user to check /orders instead of "nothing happened".
"""

from __future__ import annotations

import json
import logging
import time
from datetime import date, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from slack_bot.config import BotSettings

log = logging.getLogger(__name__)

USER_AGENT = "alpaca-oms-slack-bot"
# Errors raised before any byte of the request left this process: the OMS cannot have acted.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class OmsError(Exception):
    """The OMS answered with {"error": {"code", "message", "details"}}."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{code}: {message} (HTTP {status})")
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details or {}

    @property
    def field(self) -> str | None:
        """The request field the OMS blamed, when it named one."""
        field = self.details.get("field")
        return field if isinstance(field, str) else None

    @property
    def trade(self) -> dict[str, Any] | None:
        """The TradeResult a rejected or unknown-outcome trade came back with."""
        trade = self.details.get("trade")
        return trade if isinstance(trade, dict) else None


class OmsUnavailable(Exception):
    """The OMS could not be reached, timed out, or answered without its error shape."""

    def __init__(self, message: str, maybe_sent: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.maybe_sent = maybe_sent
        self.status = status


def _json_default(value: object) -> str:
    # Money goes to the OMS as strings so no digit is lost to a float on the way.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} to the OMS")


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


class OmsClient:
    def __init__(
        self,
        base_url: str,
        token: str | SecretStr | None,
        timeout: float | Decimal = 10,
        trade_timeout: float | Decimal = 30,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`base_url` is the OMS root (e.g. http://127.0.0.1:8000), without /api/v1."""
        self.base_url = base_url.rstrip("/").removesuffix("/api/v1")
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        self._timeout = float(timeout)
        self._trade_timeout = float(trade_timeout)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=self._timeout,
            transport=transport,
            follow_redirects=False,
        )

    @classmethod
    def from_settings(
        cls, settings: BotSettings, transport: httpx.BaseTransport | None = None
    ) -> OmsClient:
        return cls(
            settings.oms_url,
            settings.oms_api_token,
            timeout=settings.oms_timeout_seconds,
            trade_timeout=settings.oms_trade_timeout_seconds,
            transport=transport,
        )

    # --- trades -----------------------------------------------------------------------------

    def place_trade(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """POST /trade. The same key always means the same trade: resending after a timeout
        is safe and returns the first result (with "replayed": true)."""
        if not idempotency_key or len(idempotency_key) > 200:
            raise ValueError("idempotency_key must be 1 to 200 characters")
        return self._request(
            "POST",
            "/api/v1/trade",
            body=body,
            headers={"Idempotency-Key": idempotency_key},
            timeout=self._trade_timeout,
            changes_state=True,
        )

    def cancel_trade(self, trade_id: int) -> dict[str, Any]:
        # Cancelling waits for the broker too, so it gets the trade timeout.
        return self._request(
            "POST",
            f"/api/v1/trades/{int(trade_id)}/cancel",
            timeout=self._trade_timeout,
            changes_state=True,
        )

    def list_trades(self, **filters: object) -> dict[str, Any]:
        """GET /trades with portfolio, symbol, status, open (only trades not final yet),
        side, since, until, limit (1-200), cursor; None values are left out. Returns
        {"trades": [...] newest first, "next_cursor": str | None}."""
        params = {key: _query_value(value) for key, value in filters.items() if value is not None}
        return self._request("GET", "/api/v1/trades", params=params)

    def get_trade(self, trade_id: int) -> dict[str, Any]:
        return self._request("GET", f"/api/v1/trades/{int(trade_id)}")

    # --- account and market -----------------------------------------------------------------

    def account(self) -> dict[str, Any]:
        return self._request("GET", "/api/v1/account")

    def positions(self) -> list[dict[str, Any]]:
        return self._request("GET", "/api/v1/positions")

    def positions_by_portfolio(self) -> dict[str, Any]:
        """GET /positions/by-portfolio: every portfolio's positions valued at the broker's
        prices, and what the broker holds beyond them, in one call (one broker call)."""
        return self._request("GET", "/api/v1/positions/by-portfolio")

    def portfolios(self) -> list[dict[str, Any]]:
        return self._request("GET", "/api/v1/portfolios")

    def portfolio(self, name: str) -> dict[str, Any]:
        return self._request("GET", f"/api/v1/portfolio/{quote(name, safe='')}")

    def quote(self, symbol: str) -> dict[str, Any]:
        return self._request("GET", f"/api/v1/quote/{quote(symbol, safe='')}")

    def market_status(self) -> dict[str, Any]:
        return self._request("GET", "/api/v1/market-status")

    def health(self) -> dict[str, Any]:
        """GET /health (no token needed). A degraded OMS answers 503 with the health body,
        which is returned rather than raised so the caller can show what is wrong."""
        return self._request("GET", "/health", health=True)

    # --- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OmsClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        changes_state: bool = False,
        health: bool = False,
    ) -> Any:
        request_headers = dict(headers or {})
        content: bytes | None = None
        if body is not None:
            content = json.dumps(body, default=_json_default).encode()
            request_headers["Content-Type"] = "application/json"
        started = time.monotonic()
        try:
            response = self._http.request(
                method,
                path,
                params=params,
                content=content,
                headers=request_headers,
                timeout=timeout if timeout is not None else self._timeout,
            )
        except httpx.TimeoutException as error:
            maybe_sent = changes_state and not isinstance(error, _NOT_SENT)
            self._log_failure(method, path, type(error).__name__, started, maybe_sent)
            what = "connecting to" if isinstance(error, _NOT_SENT) else "waiting for"
            raise OmsUnavailable(
                f"timed out {what} the OMS at {self.base_url} ({method} {path})",
                maybe_sent=maybe_sent,
            ) from None
        except httpx.HTTPError as error:
            maybe_sent = changes_state and not isinstance(error, _NOT_SENT)
            self._log_failure(method, path, type(error).__name__, started, maybe_sent)
            if isinstance(error, _NOT_SENT):
                message = f"cannot reach the OMS at {self.base_url} ({method} {path})"
            else:
                message = f"the connection to the OMS dropped during {method} {path}"
            raise OmsUnavailable(message, maybe_sent=maybe_sent) from None
        elapsed_ms = (time.monotonic() - started) * 1000
        log.debug("OMS %s %s -> %s in %.0f ms", method, path, response.status_code, elapsed_ms)
        return self._parse(method, path, response, changes_state, health)

    def _parse(
        self,
        method: str,
        path: str,
        response: httpx.Response,
        changes_state: bool,
        health: bool,
    ) -> Any:
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if 200 <= status < 300 or (health and status == 503 and isinstance(payload, dict)):
            if payload is None:
                log.warning("OMS %s %s -> HTTP %s without a JSON body", method, path, status)
                raise OmsUnavailable(
                    f"the OMS answered {method} {path} with HTTP {status} but no JSON body",
                    maybe_sent=changes_state,
                    status=status,
                )
            return payload
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            details = error.get("details")
            log.info(
                "OMS %s %s -> HTTP %s %s: %s",
                method,
                path,
                status,
                error["code"],
                error.get("message"),
            )
            raise OmsError(
                status,
                error["code"],
                str(error.get("message") or error["code"]),
                details if isinstance(details, dict) else {},
            )
        # No error shape: something between us and the OMS answered (a proxy 502/504, a
        # platform page while the service restarts). For a trade a gateway error may come
        # after the OMS received it, so the outcome is unknown unless the status says otherwise.
        maybe_sent = changes_state and status >= 500
        log.warning(
            "OMS %s %s -> HTTP %s without the OMS error shape (maybe_sent=%s)",
            method,
            path,
            status,
            maybe_sent,
        )
        raise OmsUnavailable(
            f"the OMS at {self.base_url} answered {method} {path} with HTTP {status} "
            "instead of its JSON",
            maybe_sent=maybe_sent,
            status=status,
        )

    def _log_failure(
        self, method: str, path: str, kind: str, started: float, maybe_sent: bool
    ) -> None:
        elapsed_ms = (time.monotonic() - started) * 1000
        log.warning(
            "OMS %s %s failed after %.0f ms: %s (maybe_sent=%s)",
            method,
            path,
            elapsed_ms,
            kind,
            maybe_sent,
        )
