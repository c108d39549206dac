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


def _without_none(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


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

    def cancel_trade(
        self,
        trade_id: int,
        requested_by: str | None = None,
        requested_by_name: str | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """POST /trades/{id}/cancel; `requested_by` (the Slack user id) and its name are who
        the OMS records as asking."""
        body = {
            "requested_by": requested_by,
            "requested_by_name": requested_by_name,
            "reason": reason,
        }
        # Cancelling waits for the broker too, so it gets the trade timeout.
        return self._request(
            "POST",
            f"/api/v1/trades/{int(trade_id)}/cancel",
            body={key: value for key, value in body.items() if value is not None},
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

    # --- audit trail ------------------------------------------------------------------------

    def record_refusal(
        self,
        actor: str,
        action: str,
        reason: str,
        *,
        actor_name: str | None = None,
        target: str | None = None,
        channel_id: str | None = None,
    ) -> dict[str, Any]:
        """POST /audit/refusals: the bot refused `actor` (a Slack user id) the command or
        button `action` for `reason`; returns the audit entry."""
        body = {
            "actor": actor,
            "actor_name": actor_name,
            "action": action,
            "target": target,
            "reason": reason,
            "channel_id": channel_id,
        }
        return self._request(
            "POST",
            "/api/v1/audit/refusals",
            body={key: value for key, value in body.items() if value is not None},
        )

    def audit(
        self,
        limit: int = 20,
        *,
        actor: str | None = None,
        action: str | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """GET /audit: {"entries": [...] newest first, "next_cursor": str | None}."""
        filters = {"limit": limit, "actor": actor, "action": action, "cursor": cursor}
        params = {key: _query_value(value) for key, value in filters.items() if value is not None}
        return self._request("GET", "/api/v1/audit", params=params)

    # --- trading controls -------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """GET /status: trading state, mode, today's P&L against the loss limit, open orders,
        broker and stream connectivity, the running stop."""
        return self._request("GET", "/api/v1/status")

    def trading_state(self) -> dict[str, Any]:
        """GET /trading-state: {state: active | halted, reason, changed_by, since, ...}."""
        return self._request("GET", "/api/v1/trading-state")

    def halt(
        self, reason: str, requested_by: str | None = None, requested_by_name: str | None = None
    ) -> dict[str, Any]:
        """POST /halt: refuse every new order from now on; returns the trading state."""
        return self._control("/api/v1/halt", reason, requested_by, requested_by_name)

    def resume(
        self, reason: str, requested_by: str | None = None, requested_by_name: str | None = None
    ) -> dict[str, Any]:
        """POST /resume; 409 `stop_running` while an emergency stop still runs."""
        return self._control("/api/v1/resume", reason, requested_by, requested_by_name)

    def emergency_stop(
        self,
        reason: str,
        requested_by: str | None = None,
        requested_by_name: str | None = None,
        channel_id: str | None = None,
    ) -> dict[str, Any]:
        """POST /emergency-stop: halt, cancel every open order, close every position. Answers
        at once with the stop (`already_running: true` when one was running: that one)."""
        body = _without_none(
            {
                "reason": reason,
                "requested_by": requested_by,
                "requested_by_name": requested_by_name,
                "channel_id": channel_id,
            }
        )
        return self._request("POST", "/api/v1/emergency-stop", body=body, changes_state=True)

    def get_stop(self, stop_id: int) -> dict[str, Any]:
        return self._request("GET", f"/api/v1/emergency-stops/{int(stop_id)}")

    def list_stops(self, limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
        """GET /emergency-stops: {"stops": [...] newest first, "next_cursor"}."""
        params = {"limit": str(int(limit)), **({"cursor": cursor} if cursor else {})}
        return self._request("GET", "/api/v1/emergency-stops", params=params)

    def close_position(
        self,
        symbol: str,
        reason: str,
        *,
        portfolio: str | None = None,
        whole_account: bool = False,
        unmanaged: bool = False,
        pause_portfolio: bool = True,
        requested_by: str | None = None,
        requested_by_name: str | None = None,
    ) -> dict[str, Any]:
        """POST /positions/{symbol}/close: emergency sell of one portfolio's holding at market
        (pausing the portfolio), or with `whole_account` all the account holds of the symbol
        at the broker, or with `unmanaged` only what no portfolio holds. Returns the trade
        result (201); 409 `nothing_to_close`."""
        body: dict[str, Any] = {"reason": reason}
        if whole_account:
            body["whole_account"] = True
        elif unmanaged:
            body["unmanaged"] = True
        else:
            body["portfolio"] = portfolio
            body["pause_portfolio"] = pause_portfolio
        body.update(
            _without_none({"requested_by": requested_by, "requested_by_name": requested_by_name})
        )
        return self._request(
            "POST",
            f"/api/v1/positions/{quote(symbol, safe='')}/close",
            body=body,
            timeout=self._trade_timeout,
            changes_state=True,
        )

    def stop_portfolio(
        self,
        name: str,
        reason: str,
        requested_by: str | None = None,
        requested_by_name: str | None = None,
    ) -> dict[str, Any]:
        """POST /portfolios/{name}/stop: pause it, cancel its working orders, close its
        holdings at market → {portfolio, paused, canceled_trade_ids, closing_trade_ids,
        problems}."""
        body = _without_none(
            {"reason": reason, "requested_by": requested_by, "requested_by_name": requested_by_name}
        )
        return self._request(
            "POST",
            f"/api/v1/portfolios/{quote(name, safe='')}/stop",
            body=body,
            timeout=self._trade_timeout,
            changes_state=True,
        )

    def set_portfolio_status(
        self,
        name: str,
        status: str,
        requested_by: str | None = None,
        requested_by_name: str | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """PATCH /portfolios/{name} with `status` "paused" or "active" (and why); returns the
        portfolio."""
        body = _without_none(
            {
                "status": status,
                "reason": reason or None,
                "requested_by": requested_by,
                "requested_by_name": requested_by_name,
            }
        )
        return self._request(
            "PATCH", f"/api/v1/portfolios/{quote(name, safe='')}", body=body, changes_state=True
        )

    def _control(
        self, path: str, reason: str, requested_by: str | None, requested_by_name: str | None
    ) -> dict[str, Any]:
        body = _without_none(
            {"reason": reason, "requested_by": requested_by, "requested_by_name": requested_by_name}
        )
        return self._request("POST", path, body=body, changes_state=True)

    # --- reconciliation and broker history ---------------------------------------------------

    def reconcile(
        self, requested_by: str | None = None, requested_by_name: str | None = None
    ) -> dict[str, Any]:
        """POST /reconcile: compare the OMS with the broker now → the report, with the first
        page of its discrepancies and `next_cursor`."""
        body = _without_none({"requested_by": requested_by, "requested_by_name": requested_by_name})
        # It reads the broker (several calls): the longer timeout.
        return self._request("POST", "/api/v1/reconcile", body=body, timeout=self._trade_timeout)

    def reconcile_report(
        self,
        report_id: int | str = "latest",
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """GET /reconcile/reports/{id} (or /latest): the report with one page of its
        discrepancies (`limit` 1-200, the OMS's 50 unless told); 404 `report_not_found`."""
        which = "latest" if report_id == "latest" else str(int(report_id))
        wanted = {"limit": limit, "cursor": cursor}
        params = {key: _query_value(value) for key, value in wanted.items() if value is not None}
        return self._request("GET", f"/api/v1/reconcile/reports/{which}", params=params)

    def repair_reconcile(
        self,
        report_id: int,
        action: str,
        *,
        discrepancy_ids: list[int] | None = None,
        requested_by: str | None = None,
        requested_by_name: str | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """POST /reconcile/reports/{id}/repair with `action` "adopt" or "refresh" (every open
        discrepancy it repairs unless `discrepancy_ids`) → {report, repaired, failed, results};
        404 `report_not_found`, 422 `not_repairable`, 409 `nothing_to_repair`."""
        body = _without_none(
            {
                "action": action,
                "discrepancy_ids": discrepancy_ids,
                "requested_by": requested_by,
                "requested_by_name": requested_by_name,
                "reason": reason,
            }
        )
        return self._request(
            "POST",
            f"/api/v1/reconcile/reports/{int(report_id)}/repair",
            body=body,
            timeout=self._trade_timeout,
            changes_state=True,
        )

    def history(self, **filters: object) -> dict[str, Any]:
        """GET /history with view (trades | orders), symbol, strategy, status, since, until,
        limit (1-100), cursor; None values are left out. The trades view returns
        {"trades": [...] newest first, "next_cursor": str | None}."""
        params = {key: _query_value(value) for key, value in filters.items() if value is not None}
        return self._request("GET", "/api/v1/history", params=params)

    def history_trade(self, trade_id: str) -> dict[str, Any]:
        """GET /history/trades/{trade_id}: the trade with its member orders ("members", legs
        in leg order); 404 `trade_not_found`."""
        return self._request("GET", f"/api/v1/history/trades/{quote(trade_id, safe='')}")

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

    def pnl(self, period: str, portfolio: str | None = None) -> dict[str, Any]:
        """GET /pnl: realized and total P&L over `period` (day | week | month | all) of one
        portfolio, or of the whole desk without one → {portfolio, period, since, points
        [{at, realized_pnl, total_pnl}] oldest first, realized_pnl, unrealized_pnl,
        total_pnl}."""
        params = _without_none({"period": period, "portfolio": portfolio})
        # It reads the broker's price bars (several calls): the longer timeout.
        return self._request("GET", "/api/v1/pnl", params=params, timeout=self._trade_timeout)

    def portfolio(self, name: str) -> dict[str, Any]:
        return self._request("GET", f"/api/v1/portfolio/{quote(name, safe='')}")

    def create_portfolio(
        self,
        name: str,
        allocated_capital: Decimal,
        daily_loss_limit: Decimal | None = None,
        requested_by: str | None = None,
        requested_by_name: str | None = None,
    ) -> dict[str, Any]:
        """POST /portfolios → the portfolio (201); 409 `portfolio_exists` or
        `capital_exceeds_available` (details: capital, available_capital, buying_power,
        allocated_capital)."""
        body = _without_none(
            {
                "name": name,
                "allocated_capital": allocated_capital,
                "daily_loss_limit": daily_loss_limit,
                "requested_by": requested_by,
                "requested_by_name": requested_by_name,
            }
        )
        return self._request("POST", "/api/v1/portfolios", body=body, changes_state=True)

    def set_portfolio_limits(
        self,
        name: str,
        changes: dict[str, Any],
        requested_by: str | None = None,
        requested_by_name: str | None = None,
    ) -> dict[str, Any]:
        """PUT /portfolios/{name}/limits with the limits in `changes` (allowed_symbols,
        denied_symbols, max_order_notional, max_position_value; None clears one, a limit left
        out stays) → the portfolio's limits."""
        body = {
            **changes,
            **_without_none({"requested_by": requested_by, "requested_by_name": requested_by_name}),
        }
        return self._request(
            "PUT",
            f"/api/v1/portfolios/{quote(name, safe='')}/limits",
            body=body,
            changes_state=True,
        )

    def alerts(self, limit: int = 5) -> dict[str, Any]:
        """GET /alerts: {"alerts": [...] newest first, "next_cursor", "delivery"}."""
        return self._request("GET", "/api/v1/alerts", params={"limit": str(int(limit))})

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
