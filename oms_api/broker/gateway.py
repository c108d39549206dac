"""The Alpaca gateway: the only place in the OMS that calls alpaca-py's REST clients.

It turns alpaca-py's behaviour into promises the order service can rely on:
- every HTTP call has a timeout, and takes a slot of the shared, prioritised broker request
  budget (`oms_api.broker.budget`) before it goes out;
- nothing is retried here (alpaca-py's blind 429/504 retries are switched off): the order
  service owns retry policy, because only it knows whether a re-send is safe;
- every submit is classified: ACCEPTED, REJECTED (the broker said no), UNKNOWN (maybe placed)
  or NOT_SENT (certainly never reached the broker);
- money and quantities come back as Decimal, orders as broker-neutral dataclasses.
"""

from __future__ import annotations

import contextlib
import http
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest, StockSnapshotRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass, OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetOrdersRequest,
    GetPortfolioHistoryRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
)
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from oms_api.broker.budget import (
    BrokerBudget,
    BudgetExhausted,
    Priority,
    make_budget,
)
from oms_api.broker.models import (
    Account,
    Asset,
    Bar,
    BrokerBusy,
    BrokerContact,
    BrokerError,
    BrokerOrder,
    BrokerRejected,
    BrokerUnavailable,
    BulkCancel,
    CancelOutcome,
    MarketClock,
    OrderSubmission,
    Outcome,
    PortfolioHistory,
    PortfolioHistoryPoint,
    Position,
    PositionClose,
    Quote,
    SubmitResult,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

ASSET_TTL_SECONDS = 60.0
ASSET_MISS_TTL_SECONDS = 10.0
# The market clock only changes at the next open or close, which it names: it is kept until
# then (bounded, so a changed calendar or a halt shows up within this long).
CLOCK_MAX_AGE_SECONDS = 300.0
# Connections kept per host: at least as many as threads that may call the broker at once
# (the API's thread pool is 40), so no request waits for, or reopens, a connection.
CONNECTIONS_PER_HOST = 64

DUPLICATE_CLIENT_ORDER_ID_CODE = 40010001
KEYS_REFUSED_MESSAGE = (
    "the broker refused the API keys (check ALPACA_API_KEY_ID / ALPACA_SECRET_KEY, and that "
    "paper keys go with the paper endpoint and live keys with the live one)"
)
# 4xx answers that do not settle anything: the request may be fine a moment later.
_AMBIGUOUS_4XX = {408, 425, 429}
# Bars: Alpaca's largest page, and how many pages one call follows before it gives up (a
# broker that keeps handing out page tokens must not keep a thread forever).
BARS_PAGE_SIZE = 10_000
BARS_MAX_PAGES = 50
_BAR_UNITS = {
    "Min": TimeFrameUnit.Minute,
    "T": TimeFrameUnit.Minute,
    "Hour": TimeFrameUnit.Hour,
    "H": TimeFrameUnit.Hour,
    "Day": TimeFrameUnit.Day,
    "D": TimeFrameUnit.Day,
    "Week": TimeFrameUnit.Week,
    "W": TimeFrameUnit.Week,
    "Month": TimeFrameUnit.Month,
    "M": TimeFrameUnit.Month,
}


# ---------------------------------------------------------------------------- transport
class _TimeoutAndBudgetAdapter(HTTPAdapter):
    """Applies the gateway's timeout to every request, charges it to the request budget and
    tells the gateway how the broker answered.

    Mounted on alpaca-py's private `_session` (a plain requests.Session): alpaca-py exposes no
    timeout option and sends with none, so a hung broker would hang the caller forever.
    """

    def __init__(
        self,
        timeout: float,
        before_send: Callable[[], None],
        after_send: Callable[[requests.Response | None, Exception | None], None],
    ) -> None:
        super().__init__(pool_connections=4, pool_maxsize=CONNECTIONS_PER_HOST)
        self._timeout = timeout
        self._before_send = before_send
        self._after_send = after_send

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | None = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        self._before_send()  # may sleep, or raise BudgetExhausted: then nothing is sent
        try:
            response = super().send(
                request,
                stream=stream,
                timeout=self._timeout if timeout is None else timeout,
                verify=verify,
                cert=cert,
                proxies=proxies,
            )
        except Exception as error:
            self._after_send(None, error)
            raise
        self._after_send(response, None)
        return response


def _harden(client: Any, adapter: HTTPAdapter) -> None:
    """Give an alpaca-py REST client our transport and switch off its own retries."""
    # alpaca-py keeps its requests.Session in the private `_session`; mounting an adapter on it
    # is the only way to add a timeout and the request budget to every call it makes.
    client._session.mount("https://", adapter)
    client._session.mount("http://", adapter)
    # No proxy, netrc or CA-bundle look-ups in the environment on every request (0.4-0.7 ms
    # each): the broker is reached directly, as configured.
    client._session.trust_env = False
    # alpaca-py retries every method, POST /v2/orders included, 3 more times on 429/504 with
    # blocking 3 s sleeps; a retried submit whose first try was accepted comes back as
    # "client_order_id must be unique". The order service owns retries, so: none here.
    client._retry = 0
    client._retry_codes = []


# ---------------------------------------------------------------------- error reading
def _api_error_details(error: APIError) -> BrokerError:
    """Status, code and message of an APIError, read without trusting the body.

    APIError.code / .message json-parse the body and raise on an empty or code-less one, so the
    body (`str(error)`) is parsed here, falling back to the HTTP reason phrase.
    """
    status = error.status_code
    text = str(error).strip()
    code: int | None = None
    message = ""
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        raw_code = body.get("code")
        if isinstance(raw_code, int) or (isinstance(raw_code, str) and raw_code.isdigit()):
            code = int(raw_code)
        raw_message = body.get("message")
        if isinstance(raw_message, str):
            message = raw_message
    if not message:
        message = text[:200] if text and body is None else _reason(status)
    return BrokerError(http_status=status, code=code, message=message)


def _reason(status: int | None) -> str:
    if status is None:
        return "broker error"
    try:
        return f"HTTP {status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _keys_refused(error: BrokerError) -> bool:
    # 401, or a 403 without Alpaca's 8-digit code (`{"message": "forbidden."}`): bad keys or a
    # paper/live mix-up. A 403 *with* a code is a business refusal (e.g. buying power).
    return error.http_status == 401 or (error.http_status == 403 and error.code is None)


def _keys_refused_error(error: BrokerError) -> BrokerError:
    return BrokerError(http_status=error.http_status, code=error.code, message=KEYS_REFUSED_MESSAGE)


def _is_definitive(error: BrokerError) -> bool:
    status = error.http_status
    return status is not None and 400 <= status < 500 and status not in _AMBIGUOUS_4XX


def _is_duplicate_client_order_id(error: BrokerError) -> bool:
    if error.code == DUPLICATE_CLIENT_ORDER_ID_CODE:
        return True
    return "client_order_id must be unique" in error.message.lower()


def _transport_error(error: Exception, timeout: float) -> tuple[bool, BrokerError]:
    """(certainly_not_sent, details) for a requests-level failure."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True, BrokerError(None, None, f"could not connect to the broker within {timeout} s")
    if isinstance(error, requests.exceptions.ReadTimeout):
        return False, BrokerError(None, None, f"the broker did not answer within {timeout} s")
    if isinstance(error, requests.exceptions.ConnectionError) and _caused_by_connect(error):
        # Refused, unreachable or DNS failure: the TCP connection never opened.
        return True, BrokerError(None, None, "could not connect to the broker")
    if isinstance(error, requests.exceptions.ConnectionError):
        return False, BrokerError(None, None, "the connection to the broker broke mid-request")
    if isinstance(error, requests.exceptions.ChunkedEncodingError):
        return False, BrokerError(None, None, "the broker's reply was cut off")
    return False, BrokerError(None, None, f"broker request failed: {type(error).__name__}")


def _caused_by_connect(error: requests.exceptions.ConnectionError) -> bool:
    # requests wraps urllib3's MaxRetryError, whose `reason` says what failed; only a failure
    # to open the connection (NewConnectionError, incl. NameResolutionError) proves not sent.
    seen: set[int] = set()
    pending: list[Any] = [error]
    while pending:
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, NewConnectionError):
            return True
        pending.append(getattr(item, "reason", None))
        pending.extend(a for a in getattr(item, "args", ()) if isinstance(a, BaseException))
    return False


# -------------------------------------------------------------------------- mapping
def _dec(value: Any) -> Decimal | None:
    # alpaca-py models hold strings (or floats): str() first so a float's shortest repr is kept.
    if value is None or value == "":
        return None
    return Decimal(str(value))


def _enum_text(value: Any) -> str:
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def broker_order_from_alpaca(order: AlpacaOrder, raw: dict[str, Any] | None = None) -> BrokerOrder:
    """Map an alpaca-py Order (and its legs) to a BrokerOrder; `raw` defaults to its JSON dump."""
    dump = raw if raw is not None else order.model_dump(mode="json")
    raw_legs = dump.get("legs") or []
    legs = tuple(
        broker_order_from_alpaca(leg, raw_legs[i] if i < len(raw_legs) else None)
        for i, leg in enumerate(order.legs or [])
    )
    return BrokerOrder(
        id=str(order.id),
        client_order_id=order.client_order_id,
        symbol=order.symbol or "",
        side=_enum_text(order.side),
        status=_enum_text(order.status),
        order_type=_enum_text(order.type or order.order_type),
        time_in_force=_enum_text(order.time_in_force),
        qty=_dec(order.qty),
        notional=_dec(order.notional),
        filled_qty=_dec(order.filled_qty) or Decimal(0),
        filled_avg_price=_dec(order.filled_avg_price),
        limit_price=_dec(order.limit_price),
        stop_price=_dec(order.stop_price),
        order_class=_enum_text(order.order_class) or "simple",
        extended_hours=bool(order.extended_hours),
        submitted_at=_utc(order.submitted_at),
        filled_at=_utc(order.filled_at),
        canceled_at=_utc(order.canceled_at),
        updated_at=_utc(order.updated_at),
        legs=legs,
        raw=dump,
    )


def _float(value: Decimal | None) -> float | None:
    # alpaca-py's request models declare qty/prices as float and send JSON numbers; this is the
    # one place a Decimal becomes a float. float() of a decimal string round-trips exactly.
    return None if value is None else float(value)


def build_order_request(s: OrderSubmission) -> OrderRequest:
    """The alpaca-py request for a submission; raises ValueError when it cannot be built."""
    common: dict[str, Any] = {
        "symbol": s.symbol,
        "side": OrderSide(s.side.lower()),
        "time_in_force": TimeInForce(s.time_in_force.lower()),
        "client_order_id": s.client_order_id,
        "extended_hours": s.extended_hours or None,
        "qty": _float(s.qty),
        "notional": _float(s.notional),
    }
    if s.is_bracket:
        if s.stop_loss_stop_price is None:
            raise ValueError("a bracket order needs a stop-loss stop price")
        common["order_class"] = OrderClass.BRACKET
        common["take_profit"] = TakeProfitRequest(
            limit_price=_float(s.take_profit_limit_price)  # type: ignore[arg-type]
        )
        common["stop_loss"] = StopLossRequest(
            stop_price=_float(s.stop_loss_stop_price),  # type: ignore[arg-type]
            limit_price=_float(s.stop_loss_limit_price),
        )
    order_type = s.order_type.lower()
    if order_type == "market":
        return MarketOrderRequest(**common)
    if order_type == "limit":
        return LimitOrderRequest(**common, limit_price=_float(s.limit_price))
    if order_type == "stop":
        return StopOrderRequest(**common, stop_price=_float(s.stop_price))
    if order_type == "stop_limit":
        return StopLimitOrderRequest(
            **common, stop_price=_float(s.stop_price), limit_price=_float(s.limit_price)
        )
    raise ValueError(f"unsupported order type {s.order_type!r}")


# -------------------------------------------------------------------------- gateway
class AlpacaGateway:
    """Sync access to Alpaca's Trading and Market Data REST APIs (callers run it in threads)."""

    def __init__(
        self,
        *,
        key_id: str,
        secret_key: str,
        base_url: str,
        data_url: str,
        stream_url: str,
        timeout: float,
        requests_per_minute: int = 180,
        burst: int = 10,
        budget: BrokerBudget | None = None,
        paper: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_rate_wait: float | None = None,
    ) -> None:
        if not key_id or not secret_key:
            # alpaca-py's own complaint does not say which setting is missing
            raise ValueError("the Alpaca gateway needs both an API key id and a secret key")
        self.base_url = base_url
        self.data_url = data_url
        self.stream_url = stream_url
        self.paper = paper
        self.timeout = float(timeout)
        # How long a call may queue for the request budget before it is refused unsent.
        self.max_rate_wait = self.timeout if max_rate_wait is None else float(max_rate_wait)
        self._monotonic = monotonic
        self.budget = budget or make_budget(
            None, requests_per_minute, burst, monotonic=monotonic, sleep=sleep
        )
        # The priority of the call this thread is making, and a slot it already holds.
        self._local = threading.local()
        self._count = 0
        self._count_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._clock_refresh = threading.Lock()
        self._assets: dict[str, tuple[float, Asset | None]] = {}
        # (expires at, fetched at, clock) on the monotonic clock
        self._clock: tuple[float, float, MarketClock] | None = None
        self._contact = BrokerContact()

        adapter = _TimeoutAndBudgetAdapter(self.timeout, self._before_send, self._after_send)
        self._trading = TradingClient(key_id, secret_key, paper=paper, url_override=base_url)
        self._data = StockHistoricalDataClient(key_id, secret_key, url_override=data_url)
        _harden(self._trading, adapter)
        _harden(self._data, adapter)

    def __repr__(self) -> str:  # never the keys
        return f"AlpacaGateway(base_url={self.base_url!r}, paper={self.paper})"

    @property
    def request_count(self) -> int:
        """REST requests handed to the network (after the budget let them through)."""
        return self._count

    # ------------------------------------------------------------------ budget
    @contextlib.contextmanager
    def _priority(self, priority: Priority) -> Iterator[None]:
        previous = getattr(self._local, "priority", None)
        self._local.priority = priority
        try:
            yield
        finally:
            self._local.priority = previous

    @contextlib.contextmanager
    def reserved(self, priority: Priority = Priority.SUBMIT) -> Iterator[None]:
        """Take a budget slot now, for the next broker call this thread makes inside the block.

        Raises BudgetExhausted before anything is written or sent, so a caller can refuse
        cleanly instead of recording an order it then cannot send. An unused slot is dropped.
        """
        self.budget.acquire(priority, self._max_wait(priority))
        self._local.prepaid = True
        try:
            yield
        finally:
            self._local.prepaid = False

    def _max_wait(self, priority: Priority) -> float:
        # The health probe never queues: it only runs when a slot is free.
        return 0.0 if priority is Priority.HEALTH else self.max_rate_wait

    def _before_send(self) -> None:
        if getattr(self._local, "prepaid", False):
            self._local.prepaid = False
        else:
            priority = getattr(self._local, "priority", None)
            if priority is None:  # a call made outside the gateway's methods
                priority = Priority.READ
            self.budget.acquire(priority, self._max_wait(priority))
        with self._count_lock:
            self._count += 1

    def _after_send(self, response: requests.Response | None, error: Exception | None) -> None:
        """Remember when the broker last answered sensibly (for /health, without asking it)."""
        if response is None:
            problem = _transport_error(error, self.timeout)[1].message if error else "no answer"
            self._contact = self._contact.failed(problem)
            return
        status = response.status_code
        if status == 429:
            # The budget keeps the OMS under the limit: someone else spends this key's too.
            log.warning("the broker answered 429: another program may be using these API keys")
            self._contact = self._contact.failed("the broker says too many requests (429)")
        elif status >= 500:
            self._contact = self._contact.failed(f"the broker answered {_reason(status)}")
        elif status == 401 or (status == 403 and b'"code"' not in (response.content or b"")):
            self._contact = self._contact.failed(KEYS_REFUSED_MESSAGE)
        else:
            self._contact = self._contact.answered(self._monotonic())

    @property
    def contact(self) -> BrokerContact:
        """How the broker last answered this process."""
        return self._contact

    # ------------------------------------------------------------------ orders
    def submit_order(self, s: OrderSubmission) -> SubmitResult:
        try:
            request = build_order_request(s)
        except (ValueError, TypeError) as error:  # pydantic's ValidationError is a ValueError
            return SubmitResult(
                Outcome.NOT_SENT, error=BrokerError(None, None, f"invalid order: {error}")
            )
        try:
            with self._priority(Priority.SUBMIT):
                placed = self._trading.submit_order(request)
        except BudgetExhausted as error:
            return SubmitResult(Outcome.NOT_SENT, error=BrokerError(None, None, str(error)))
        except APIError as api_error:
            return self._classify_submit_error(s, _api_error_details(api_error))
        except requests.exceptions.RequestException as error:
            not_sent, details = _transport_error(error, self.timeout)
            log.warning("submit %s: %s", s.client_order_id, details.message)
            return SubmitResult(Outcome.NOT_SENT if not_sent else Outcome.UNKNOWN, error=details)
        except Exception as error:  # a 2xx we could not read: it may well have been placed
            log.exception("submit %s: unreadable reply", s.client_order_id)
            details = BrokerError(None, None, f"unreadable reply from the broker: {error}")
            return SubmitResult(Outcome.UNKNOWN, error=details)
        return SubmitResult(Outcome.ACCEPTED, order=broker_order_from_alpaca(placed))

    def _classify_submit_error(self, s: OrderSubmission, error: BrokerError) -> SubmitResult:
        if _is_duplicate_client_order_id(error):
            # The broker already holds an order with this id (an earlier attempt got through):
            # adopt it instead of reporting a rejection.
            try:
                existing = self.get_order_by_client_id(s.client_order_id, Priority.SUBMIT)
            except (BrokerUnavailable, BrokerRejected) as lookup:
                log.warning("submit %s: duplicate id, look-up failed", s.client_order_id)
                return SubmitResult(Outcome.UNKNOWN, error=lookup.error)
            if existing is None:
                return SubmitResult(Outcome.UNKNOWN, error=error)
            return SubmitResult(Outcome.ACCEPTED, order=existing)
        if _keys_refused(error):
            return SubmitResult(Outcome.REJECTED, error=_keys_refused_error(error))
        if _is_definitive(error):
            return SubmitResult(Outcome.REJECTED, error=error)
        return SubmitResult(Outcome.UNKNOWN, error=error)

    def get_order_by_client_id(
        self, client_order_id: str, priority: Priority = Priority.POLL
    ) -> BrokerOrder | None:
        order = self._call(
            lambda: self._trading.get_order_by_client_id(client_order_id), priority, True
        )
        return None if order is None else broker_order_from_alpaca(order)

    def get_order(
        self, broker_order_id: str, priority: Priority = Priority.POLL
    ) -> BrokerOrder | None:
        if not _is_uuid(broker_order_id):
            return None  # Alpaca order ids are UUIDs; alpaca-py refuses anything else
        order = self._call(lambda: self._trading.get_order_by_id(broker_order_id), priority, True)
        return None if order is None else broker_order_from_alpaca(order)

    def list_orders(
        self,
        *,
        status: str = "all",
        after: datetime | None = None,
        until: datetime | None = None,
        limit: int = 500,
        nested: bool = True,
        priority: Priority = Priority.POLL,
    ) -> list[BrokerOrder]:
        """Orders by submission time, newest first (Alpaca's `after`/`until` are exclusive)."""
        request = GetOrdersRequest(
            status=QueryOrderStatus(status),
            after=after,
            until=until,
            limit=min(max(limit, 1), 500),
            nested=nested,
        )
        orders = self._call(lambda: self._trading.get_orders(request), priority)
        return [broker_order_from_alpaca(order) for order in orders]

    def list_open_orders(
        self, max_pages: int = 20, priority: Priority = Priority.POLL
    ) -> list[BrokerOrder]:
        """Every open order (parents with their legs): one request per 500 orders."""
        found: dict[str, BrokerOrder] = {}
        until: datetime | None = None
        for _ in range(max_pages):
            page = self.list_orders(status="open", until=until, limit=500, priority=priority)
            new = [order for order in page if order.id not in found]
            found.update((order.id, order) for order in new)
            if len(page) < 500 or not new:
                break
            # Newest first: the next page ends where this one did. `until` is exclusive, so it
            # goes a microsecond past the oldest seen; the overlap is dropped above.
            oldest = min(o.submitted_at for o in page if o.submitted_at is not None)
            until = oldest + timedelta(microseconds=1)
        else:
            log.warning("open orders: stopped after %d pages", max_pages)
        return list(found.values())

    # ------------------------------------------------------------------ raw reads (history)
    # The history sync reads thousands of orders: alpaca-py's REST `get` returns the JSON as is,
    # skipping its pydantic models (several times the cost of the request itself). Each of
    # these is one broker request, through the same budget, timeout and error translation.
    def list_orders_json(
        self,
        *,
        status: str = "all",
        after: datetime | None = None,
        until: datetime | None = None,
        direction: str = "asc",
        limit: int = 500,
        nested: bool = True,
        priority: Priority = Priority.READ,
    ) -> list[dict[str, Any]]:
        """`GET /v2/orders` as Alpaca's JSON (`after`/`until` are exclusive submission times)."""
        if status not in ("open", "closed", "all"):
            raise ValueError(f"invalid order status filter {status!r}")
        if direction not in ("asc", "desc"):
            raise ValueError(f"invalid direction {direction!r}")
        params: dict[str, Any] = {
            "status": status,
            "direction": direction,
            "limit": min(max(int(limit), 1), 500),
            "nested": "true" if nested else "false",
        }
        if after is not None:
            params["after"] = _rfc3339(after)
        if until is not None:
            params["until"] = _rfc3339(until)
        body = self._call(lambda: self._trading.get("/orders", params), priority)
        if not isinstance(body, list):
            raise BrokerUnavailable(
                BrokerError(None, None, "the broker's order list is not a list")
            )
        return [order for order in body if isinstance(order, dict)]

    def get_order_json(
        self, broker_order_id: str, priority: Priority = Priority.READ
    ) -> dict[str, Any] | None:
        """`GET /v2/orders/{id}` as Alpaca's JSON (legs nested); None when the broker has none."""
        if not _is_uuid(broker_order_id):
            return None
        body = self._call(lambda: self._trading.get(f"/orders/{broker_order_id}"), priority, True)
        return body if isinstance(body, dict) else None

    def get_positions_json(self, priority: Priority = Priority.READ) -> list[dict[str, Any]]:
        """`GET /v2/positions` as Alpaca's JSON."""
        body = self._call(lambda: self._trading.get("/positions"), priority)
        if not isinstance(body, list):
            raise BrokerUnavailable(
                BrokerError(None, None, "the broker's positions are not a list")
            )
        return [position for position in body if isinstance(position, dict)]

    def cancel_order(self, broker_order_id: str) -> CancelOutcome:
        if not _is_uuid(broker_order_id):
            return CancelOutcome.NOT_FOUND
        try:
            with self._priority(Priority.CRITICAL):
                self._trading.cancel_order_by_id(broker_order_id)
        except APIError as api_error:
            error = _api_error_details(api_error)
            if error.http_status == 404:
                return CancelOutcome.NOT_FOUND
            if error.http_status == 422:
                return CancelOutcome.NOT_CANCELABLE
            log.warning("cancel %s: %s %s", broker_order_id, error.http_status, error.message)
            return CancelOutcome.UNKNOWN
        except Exception as error:  # transport, budget: the cancel may or may not have landed
            log.warning("cancel %s: %s", broker_order_id, _describe(error, self.timeout))
            return CancelOutcome.UNKNOWN
        return CancelOutcome.REQUESTED

    # ------------------------------------------------------------------ emergency stop
    # Write calls of a stop go first in the budget (CRITICAL); failures raise BrokerUnavailable
    # (maybe done: verify) or BrokerRejected (refused).
    def cancel_all_orders(self) -> list[BulkCancel]:
        """`DELETE /v2/orders`: every open order, one request."""
        answers = self._call(self._trading.cancel_orders, Priority.CRITICAL) or []
        return [
            BulkCancel(str(a.id), int(a.status), _short_body(a.body) if a.status != 200 else None)
            for a in answers
        ]

    def close_all_positions(self, cancel_orders: bool = True) -> list[PositionClose]:
        """`DELETE /v2/positions?cancel_orders=true`: one closing market order per position."""
        answers = (
            self._call(
                lambda: self._trading.close_all_positions(cancel_orders=cancel_orders),
                Priority.CRITICAL,
            )
            or []
        )
        closes = []
        for answer in answers:
            symbol, body = str(answer.symbol), answer.body
            if isinstance(body, AlpacaOrder):
                order = broker_order_from_alpaca(body)
                closes.append(PositionClose(symbol, int(answer.status or 200), order=order))
            else:
                error = _short_body(body)
                closes.append(PositionClose(symbol, int(answer.status or 0), error=error))
        return closes

    def close_position(self, symbol: str, qty: Decimal | None = None) -> BrokerOrder | None:
        """`DELETE /v2/positions/{symbol}`: close all of it (or `qty` of it); None when there
        is none."""
        options = None if qty is None else ClosePositionRequest(qty=format(qty, "f"))
        order = self._call(
            lambda: self._trading.close_position(symbol.upper(), options), Priority.CRITICAL, True
        )
        return None if order is None else broker_order_from_alpaca(order)

    # ------------------------------------------------------------------ account
    def get_account(self) -> Account:
        a = self._call(self._trading.get_account)
        return Account(
            account_number=a.account_number,
            status=_enum_text(a.status),
            equity=_dec(a.equity) or Decimal(0),
            cash=_dec(a.cash) or Decimal(0),
            buying_power=_dec(a.buying_power) or Decimal(0),
            portfolio_value=_dec(a.portfolio_value) or _dec(a.equity) or Decimal(0),
            currency=a.currency or "USD",
            last_equity=_dec(a.last_equity),
        )

    def get_positions(self, priority: Priority = Priority.READ) -> list[Position]:
        return [_position(p) for p in self._call(self._trading.get_all_positions, priority)]

    def get_position(self, symbol: str) -> Position | None:
        p = self._call(lambda: self._trading.get_open_position(symbol.upper()), none_on_404=True)
        return None if p is None else _position(p)

    # ------------------------------------------------------------------ reference data
    def get_asset(self, symbol: str) -> Asset | None:
        """The asset, or None for a symbol Alpaca does not know; cached (60 s, misses 10 s)."""
        key = symbol.upper()
        now = self._monotonic()
        with self._cache_lock:
            cached = self._assets.get(key)
            if cached is not None and cached[0] > now:
                return cached[1]
        a = self._call(lambda: self._trading.get_asset(key), none_on_404=True)
        asset = None
        if a is not None:
            asset = Asset(
                symbol=a.symbol,
                name=a.name,
                tradable=bool(a.tradable),
                fractionable=bool(a.fractionable),
                shortable=bool(a.shortable),
                status=_enum_text(a.status),
            )
        ttl = ASSET_TTL_SECONDS if asset is not None else ASSET_MISS_TTL_SECONDS
        with self._cache_lock:
            self._assets[key] = (self._monotonic() + ttl, asset)
        return asset

    def get_clock(self) -> MarketClock:
        """Alpaca's market clock, kept until the next open or close it names (at most 5 min).

        One thread refreshes it while the others wait for that answer (no stampede)."""
        cached = self._cached_clock()
        if cached is not None:
            return cached
        with self._clock_refresh:
            cached = self._cached_clock()  # another thread may have refreshed it meanwhile
            if cached is not None:
                return cached
            return self._fetch_clock()

    def _cached_clock(self) -> MarketClock | None:
        with self._cache_lock:
            entry = self._clock
        if entry is None:
            return None
        expires, fetched, clock = entry
        now = self._monotonic()
        if now >= expires:
            return None
        # The broker's own time, moved on by what passed here since it was read.
        return MarketClock(
            timestamp=clock.timestamp + timedelta(seconds=now - fetched),
            is_open=clock.is_open,
            next_open=clock.next_open,
            next_close=clock.next_close,
        )

    def _fetch_clock(self) -> MarketClock:
        c = self._call(self._trading.get_clock)
        clock = MarketClock(
            timestamp=_utc(c.timestamp),  # type: ignore[arg-type]
            is_open=bool(c.is_open),
            next_open=_utc(c.next_open),  # type: ignore[arg-type]
            next_close=_utc(c.next_close),  # type: ignore[arg-type]
        )
        # Valid until the market changes state (by the broker's own clock, so this machine's
        # clock being off does not matter), and never longer than the bound.
        change = clock.next_close if clock.is_open else clock.next_open
        until_change = (change - clock.timestamp).total_seconds()
        fetched = self._monotonic()
        lifetime = max(0.0, min(CLOCK_MAX_AGE_SECONDS, until_change))
        with self._cache_lock:
            self._clock = (fetched + lifetime, fetched, clock)
        return clock

    def forget_clock(self) -> None:
        """Drop the cached clock (the next look-up asks the broker)."""
        with self._cache_lock:
            self._clock = None

    def get_quote(self, symbol: str) -> Quote:
        """Latest trade price and bid/ask, from one market-data snapshot request."""
        key = symbol.upper()
        snapshots = self._call(
            lambda: self._data.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=key))
        )
        snapshot = snapshots.get(key) if isinstance(snapshots, dict) else None
        trade = getattr(snapshot, "latest_trade", None)
        if trade is None or trade.price is None:
            raise BrokerRejected(BrokerError(None, None, f"no market data for {key}"))
        quote = getattr(snapshot, "latest_quote", None)
        return Quote(
            symbol=key,
            price=Decimal(str(trade.price)),
            bid=_positive(quote.bid_price) if quote is not None else None,
            ask=_positive(quote.ask_price) if quote is not None else None,
            timestamp=_utc(trade.timestamp),  # type: ignore[arg-type]
        )

    # ------------------------------------------------------------------ history for charts
    def get_portfolio_history(
        self,
        period: str,
        timeframe: str,
        *,
        end: datetime | None = None,
        intraday_reporting: str | None = None,
        pnl_reset: str | None = None,
        priority: Priority = Priority.READ,
    ) -> PortfolioHistory:
        """`GET /v2/account/portfolio/history`: the account's equity and P/L over `period`
        (1D, 1W, 1M, 3M, 1A, all, ...) in `timeframe` windows (1Min, 5Min, 15Min, 1H, 1D),
        ending at `end` (default: now). Alpaca's defaults otherwise: market hours only, and
        intraday P/L from the previous close, day by day (`pnl_reset="no_reset"` to not)."""
        request = GetPortfolioHistoryRequest(
            period=period,
            timeframe=timeframe,
            end=_utc(end),
            intraday_reporting=intraday_reporting,
            pnl_reset=pnl_reset,
        )
        params = request.to_request_fields()
        # The raw JSON: alpaca-py's model refuses the nulls Alpaca sends for windows it has no
        # value for, and drops base_value_asof.
        body = self._call(lambda: self._trading.get("/account/portfolio/history", params), priority)
        try:
            return _portfolio_history(body)
        except (ValueError, TypeError, ArithmeticError, OSError) as error:
            raise _unreadable("portfolio history", error) from None

    def get_stock_bars(
        self,
        symbols: list[str],
        timeframe: str,
        start: datetime,
        end: datetime | None = None,
        *,
        priority: Priority = Priority.READ,
    ) -> dict[str, list[Bar]]:
        """`GET /v2/stocks/bars`: each symbol's bars (oldest first) from `start` to `end`
        (default: now), following every page; every symbol asked for is a key. `timeframe` as
        Alpaca writes it: 1Min, 5Min, 15Min, 1Hour, 1Day (ValueError for one it does not know,
        before anything is sent)."""
        keys = sorted({s.strip().upper() for s in symbols if s and s.strip()})
        if not keys:
            return {}
        request = StockBarsRequest(
            symbol_or_symbols=keys,
            timeframe=_bars_timeframe(timeframe),
            start=_utc(start),
            end=_utc(end),
            limit=BARS_PAGE_SIZE,
        )
        params = request.to_request_fields()
        found: dict[str, list[Bar]] = {key: [] for key in keys}
        tokens_seen: set[str] = set()
        token: str | None = None
        for _ in range(BARS_MAX_PAGES):
            page = params if token is None else {**params, "page_token": token}
            body = self._call(lambda page=page: self._data.get("/stocks/bars", page), priority)
            try:
                token = _bars_page(body, found)
            except (ValueError, TypeError, ArithmeticError, OSError) as error:
                raise _unreadable("bars", error) from None
            if token is None:
                return found
            if token in tokens_seen:
                raise _unreadable("bars", ValueError("a page token came back twice"))
            tokens_seen.add(token)
        raise BrokerUnavailable(
            BrokerError(None, None, f"the broker's bars ran past {BARS_MAX_PAGES} pages")
        )

    def ping(self) -> bool:
        """Can we reach the broker with these keys right now? Never raises, never waits for
        the budget (the lowest priority: it only runs when a slot is free)."""
        try:
            self._call(self._trading.get_clock, Priority.HEALTH)
        except Exception as error:
            log.info("broker ping failed: %s", _describe(error, self.timeout))
            return False
        return True

    def probe_if_quiet(self, quiet_seconds: float) -> bool | None:
        """Ping the broker when nothing succeeded for `quiet_seconds`; None when not needed."""
        last = self._contact.last_ok_monotonic
        if last is not None and self._monotonic() - last < quiet_seconds:
            return None
        return self.ping()

    # ------------------------------------------------------------------ plumbing
    def _call(
        self, fn: Callable[[], T], priority: Priority = Priority.READ, none_on_404: bool = False
    ) -> T:
        """Run one alpaca-py call; translate every failure into BrokerUnavailable/Rejected."""
        try:
            with self._priority(priority):
                return fn()
        except BudgetExhausted as error:
            raise BrokerBusy(BrokerError(None, None, str(error)), error.wait_needed) from None
        except APIError as api_error:
            error = _api_error_details(api_error)
            if error.http_status == 404 and none_on_404:
                return None  # type: ignore[return-value]
            if _keys_refused(error):
                raise BrokerRejected(_keys_refused_error(error)) from None
            if _is_definitive(error):
                raise BrokerRejected(error) from None
            raise BrokerUnavailable(error) from None
        except requests.exceptions.RequestException as error:
            raise BrokerUnavailable(_transport_error(error, self.timeout)[1]) from None
        except Exception as error:  # a reply alpaca-py could not parse
            log.exception("unreadable broker reply")
            raise BrokerUnavailable(
                BrokerError(None, None, f"unreadable reply from the broker: {type(error).__name__}")
            ) from None


def _describe(error: Exception, timeout: float) -> str:
    if isinstance(error, requests.exceptions.RequestException):
        return _transport_error(error, timeout)[1].message
    if isinstance(error, APIError):
        details = _api_error_details(error)
        return f"{details.http_status} {details.message}"
    return str(error) or type(error).__name__


def _rfc3339(when: datetime) -> str:
    moment = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _is_uuid(value: str) -> bool:
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True


def _short_body(body: Any) -> str:
    """A broker error body as one short line (never a whole payload)."""
    if body is None:
        return "no details"
    message = getattr(body, "message", None)
    if message is None and isinstance(body, dict):
        message = body.get("message")
    return str(message or body)[:200]


def _positive(value: Any) -> Decimal | None:
    # A missing side of the book comes back as 0.
    number = _dec(value)
    return number if number is not None and number > 0 else None


def _unreadable(what: str, error: Exception) -> BrokerUnavailable:
    log.warning("unreadable %s from the broker: %s", what, error)
    return BrokerUnavailable(BrokerError(None, None, f"unreadable {what} from the broker: {error}"))


def _number(value: Any) -> Decimal:
    """A JSON number (or numeric string) as Decimal; ValueError for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"not a number: {value!r}")
    number = Decimal(str(value))  # str(): a float's shortest repr, so 100012.35 stays that
    if not number.is_finite():
        raise ValueError(f"not a number: {value!r}")
    return number


def _list_of(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key} is not a list")
    return value


def _portfolio_history(body: Any) -> PortfolioHistory:
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    stamps = _list_of(body, "timestamp")
    equities = _list_of(body, "equity")
    gains = _list_of(body, "profit_loss")
    ratios = _list_of(body, "profit_loss_pct")
    if not len(stamps) == len(equities) == len(gains) == len(ratios):
        raise ValueError("its series have different lengths")
    points = []
    for stamp, equity, gain, ratio in zip(stamps, equities, gains, ratios, strict=True):
        if equity is None or gain is None:
            continue  # Alpaca sends null for a window it has no value for
        if isinstance(stamp, bool) or not isinstance(stamp, int | float):
            raise ValueError(f"not a timestamp: {stamp!r}")
        points.append(
            PortfolioHistoryPoint(
                at=datetime.fromtimestamp(stamp, UTC),
                equity=_number(equity),
                profit_loss=_number(gain),
                profit_loss_pct=None if ratio is None else _number(ratio),
            )
        )
    timeframe = body.get("timeframe")
    if not isinstance(timeframe, str):
        raise ValueError("no timeframe")
    base = body.get("base_value")
    return PortfolioHistory(
        points=points,
        base_value=None if base is None else _number(base),
        timeframe=timeframe,
        base_value_asof=_date_or_none(body.get("base_value_asof")),
    )


def _date_or_none(value: Any) -> date | None:
    # Alpaca once sent "0000-00-00" here for days: no date is no base date, not a broken reply.
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _bars_timeframe(text: str) -> TimeFrame:
    amount = "".join(itertools.takewhile(str.isdigit, text.strip()))
    unit = _BAR_UNITS.get(text.strip()[len(amount) :])
    if not amount or unit is None:
        raise ValueError(f"unsupported bars timeframe {text!r} (e.g. 1Min, 15Min, 1Hour, 1Day)")
    return TimeFrame(int(amount), unit)  # ValueError for an amount Alpaca does not take


def _bars_page(body: Any, found: dict[str, list[Bar]]) -> str | None:
    """Add one page's bars to `found` (symbols not asked for are ignored); the next token."""
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    by_symbol = body.get("bars")
    if by_symbol is None:
        by_symbol = {}
    if not isinstance(by_symbol, dict):
        raise ValueError("bars is not an object")
    for symbol, bars in by_symbol.items():
        if symbol not in found or bars is None:
            continue
        if not isinstance(bars, list):
            raise ValueError(f"the bars of {symbol} are not a list")
        for raw in bars:
            if not isinstance(raw, dict):
                raise ValueError(f"a bar of {symbol} is not an object")
            found[symbol].append(
                Bar(
                    at=_bar_time(raw.get("t")),
                    open=_number(raw.get("o")),
                    high=_number(raw.get("h")),
                    low=_number(raw.get("l")),
                    close=_number(raw.get("c")),
                    volume=_number(raw.get("v", 0)),
                )
            )
    token = body.get("next_page_token")
    if token is not None and not isinstance(token, str):
        raise ValueError("next_page_token is not a string")
    return token or None


def _bar_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"not a bar time: {value!r}")
    moment = datetime.fromisoformat(value)  # Python 3.11 reads "Z" and nanoseconds
    if moment.tzinfo is None:
        raise ValueError(f"a bar time without a zone: {value!r}")
    return moment.astimezone(UTC)


def _position(p: Any) -> Position:
    return Position(
        symbol=p.symbol,
        qty=_dec(p.qty) or Decimal(0),
        side=_enum_text(p.side),
        avg_entry_price=_dec(p.avg_entry_price) or Decimal(0),
        current_price=_dec(p.current_price),
        market_value=_dec(p.market_value),
        cost_basis=_dec(p.cost_basis) or Decimal(0),
        unrealized_pl=_dec(p.unrealized_pl),
        unrealized_plpc=_dec(p.unrealized_plpc),
        lastday_price=_dec(getattr(p, "lastday_price", None)),
    )
