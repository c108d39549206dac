"""What a trade request may contain, and the checks it must pass before anything is written
or sent. Shape errors (wrong types, unknown fields) are 422s from pydantic; the rules below
raise `TradeRejected` (400) with a message that names the field."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from oms_api.orders.enums import OrderClass, OrderType, Side, TimeInForce

SYMBOL_PATTERN = re.compile(r"^[A-Z]{1,5}(\.[A-Z]{1,2})?$")
QTY_PLACES = 9
PRICE_PLACES_ABOVE_DOLLAR = 2
PRICE_PLACES_BELOW_DOLLAR = 4
MAX_QTY = Decimal("1000000")
MAX_NOTIONAL = Decimal("10000000")
MAX_PRICE = Decimal("1000000")
SYMBOL_RULE = "1-5 letters A-Z, optionally a class like BRK.B"


def normalise_symbol(raw: str) -> str | None:
    """`raw` as an upper-case ticker, or None when it is not one. ASCII is checked before
    upper-casing: str.upper() turns U+017F (long s) into "S" and U+0131 (dotless i) into "I",
    so "m\u017fft" would otherwise become MSFT."""
    text = raw.strip()
    if not text.isascii():
        return None
    symbol = text.upper()
    return symbol if SYMBOL_PATTERN.fullmatch(symbol) else None


def _storable(value: str) -> str:
    # JSON and URLs can carry NUL (\u0000, %00) and PostgreSQL refuses it in text, even to
    # compare: refuse it here, naming the field, not when the database is asked.
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "must not contain a NUL character (\\u0000)")
    return value


StorableText = Annotated[str, AfterValidator(_storable)]
"""Text a database can hold (pydantic itself refuses lone surrogates)."""


class TakeProfit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit_price: Decimal


class StopLoss(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stop_price: Decimal
    limit_price: Decimal | None = None


class TradeRequest(BaseModel):
    """POST /api/v1/trade."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    portfolio: StorableText = Field(min_length=1, max_length=40)
    symbol: StorableText = Field(min_length=1, max_length=21)
    side: Side
    qty: Decimal | None = None
    notional: Decimal | None = None
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    take_profit: TakeProfit | None = None
    stop_loss: StopLoss | None = None
    extended_hours: bool = False
    reason: StorableText | None = Field(default=None, max_length=500)
    requested_by: StorableText | None = Field(default=None, max_length=100)
    # Who that is, for people (a Slack display name); the audit trail keeps both.
    requested_by_name: StorableText | None = Field(default=None, max_length=100)

    @field_validator("symbol", "portfolio", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("portfolio")
    @classmethod
    def _ascii_portfolio(cls, value: str) -> str:
        # Looked up lower-cased, and str.lower() maps U+212A (Kelvin sign) to "k": portfolio
        # names are ASCII, so anything else is refused before it can alias one.
        if not value.isascii():
            raise PydanticCustomError(
                "portfolio_name", "portfolio names are ASCII letters, digits, '-' and '_'"
            )
        return value

    def fingerprint(self) -> str:
        """A stable hash of what was asked for, to spot an Idempotency-Key reused for
        a different trade."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


class TradeRejected(Exception):
    """A request that breaks a trading rule: nothing is written, nothing is sent."""

    def __init__(self, code: str, message: str, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status


@dataclass(frozen=True)
class ValidTrade:
    request: TradeRequest
    symbol: str
    order_class: OrderClass
    fractional: bool


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _check_price(value: Decimal | None, field: str) -> None:
    if value is None:
        return
    if not value.is_finite() or value <= 0:
        raise TradeRejected("invalid_price", f"{field} must be a positive number", field)
    if value > MAX_PRICE:
        raise TradeRejected("invalid_price", f"{field} must be at most {MAX_PRICE}", field)
    places = PRICE_PLACES_ABOVE_DOLLAR if value >= 1 else PRICE_PLACES_BELOW_DOLLAR
    if _places(value.normalize()) > places:
        raise TradeRejected(
            "invalid_price",
            f"{field} {value} has too many decimals: at most {places} for prices "
            f"{'at or above' if value >= 1 else 'below'} $1",
            field,
        )


def validate_trade(request: TradeRequest) -> ValidTrade:
    """Every rule that needs neither the database nor the broker."""
    symbol = normalise_symbol(request.symbol)
    if symbol is None:
        raise TradeRejected(
            "invalid_symbol", f"invalid symbol: {request.symbol!r} ({SYMBOL_RULE})", "symbol"
        )

    qty, notional = request.qty, request.notional
    if (qty is None) == (notional is None):
        raise TradeRejected(
            "invalid_quantity", "give exactly one of qty or notional", "qty" if qty else None
        )
    if qty is not None:
        if not qty.is_finite() or qty <= 0:
            raise TradeRejected("invalid_quantity", "qty must be a positive number", "qty")
        if _places(qty.normalize()) > QTY_PLACES:
            raise TradeRejected(
                "invalid_quantity", f"qty has more than {QTY_PLACES} decimal places", "qty"
            )
        if qty > MAX_QTY:
            raise TradeRejected("invalid_quantity", f"qty must be at most {MAX_QTY}", "qty")
    if notional is not None:
        if not notional.is_finite() or notional <= 0:
            raise TradeRejected(
                "invalid_notional", "notional must be a positive dollar amount", "notional"
            )
        if _places(notional.normalize()) > 2:
            raise TradeRejected(
                "invalid_notional", "notional must be in whole cents (2 decimals)", "notional"
            )
        if notional < 1:
            raise TradeRejected("invalid_notional", "notional must be at least $1", "notional")
        if notional > MAX_NOTIONAL:
            raise TradeRejected(
                "invalid_notional", f"notional must be at most ${MAX_NOTIONAL}", "notional"
            )

    order_type = request.order_type
    needs_limit = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    if needs_limit and request.limit_price is None:
        raise TradeRejected(
            "missing_price", f"limit_price is required for {order_type} orders", "limit_price"
        )
    if not needs_limit and request.limit_price is not None:
        raise TradeRejected(
            "unexpected_price",
            f"limit_price is not allowed for {order_type} orders",
            "limit_price",
        )
    if needs_stop and request.stop_price is None:
        raise TradeRejected(
            "missing_price", f"stop_price is required for {order_type} orders", "stop_price"
        )
    if not needs_stop and request.stop_price is not None:
        raise TradeRejected(
            "unexpected_price", f"stop_price is not allowed for {order_type} orders", "stop_price"
        )
    _check_price(request.limit_price, "limit_price")
    _check_price(request.stop_price, "stop_price")

    fractional = notional is not None or (qty is not None and qty != qty.to_integral_value())
    tif = request.time_in_force
    if fractional:
        if tif is not TimeInForce.DAY:
            raise TradeRejected(
                "invalid_time_in_force",
                "fractional and notional orders must be day orders",
                "time_in_force",
            )
        if order_type not in (OrderType.MARKET, OrderType.LIMIT):
            raise TradeRejected(
                "invalid_order_type",
                "fractional and notional orders must be market or limit orders",
                "order_type",
            )
    if request.extended_hours and not (order_type is OrderType.LIMIT and tif is TimeInForce.DAY):
        raise TradeRejected(
            "invalid_extended_hours",
            "extended-hours orders must be day limit orders",
            "extended_hours",
        )
    if tif in (TimeInForce.OPG, TimeInForce.CLS) and order_type not in (
        OrderType.MARKET,
        OrderType.LIMIT,
    ):
        raise TradeRejected(
            "invalid_time_in_force", f"{tif} orders must be market or limit orders", "time_in_force"
        )

    take_profit, stop_loss = request.take_profit, request.stop_loss
    order_class = OrderClass.SIMPLE
    if take_profit is not None or stop_loss is not None:
        order_class = OrderClass.BRACKET
        if take_profit is None or stop_loss is None:
            raise TradeRejected(
                "invalid_bracket",
                "a bracket needs both take_profit and stop_loss",
                "take_profit" if take_profit is None else "stop_loss",
            )
        if fractional:
            raise TradeRejected(
                "invalid_bracket", "brackets need a whole-share qty (no notional)", "qty"
            )
        if order_type not in (OrderType.MARKET, OrderType.LIMIT):
            raise TradeRejected(
                "invalid_bracket", "bracket entries must be market or limit orders", "order_type"
            )
        if tif not in (TimeInForce.DAY, TimeInForce.GTC):
            raise TradeRejected(
                "invalid_bracket", "bracket orders must be day or gtc", "time_in_force"
            )
        if request.extended_hours:
            raise TradeRejected(
                "invalid_bracket", "bracket orders cannot trade extended hours", "extended_hours"
            )
        _check_price(take_profit.limit_price, "take_profit.limit_price")
        _check_price(stop_loss.stop_price, "stop_loss.stop_price")
        _check_price(stop_loss.limit_price, "stop_loss.limit_price")
        tp, sl = take_profit.limit_price, stop_loss.stop_price
        if request.side is Side.BUY and tp <= sl:
            raise TradeRejected(
                "invalid_bracket",
                "for a buy, take_profit.limit_price must be above stop_loss.stop_price",
                "take_profit",
            )
        if request.side is Side.SELL and tp >= sl:
            raise TradeRejected(
                "invalid_bracket",
                "for a sell, take_profit.limit_price must be below stop_loss.stop_price",
                "take_profit",
            )
        entry = request.limit_price
        if entry is not None:
            if request.side is Side.BUY and not (sl < entry < tp):
                raise TradeRejected(
                    "invalid_bracket",
                    "for a buy, stop_loss.stop_price < limit_price < take_profit.limit_price",
                    "limit_price",
                )
            if request.side is Side.SELL and not (tp < entry < sl):
                raise TradeRejected(
                    "invalid_bracket",
                    "for a sell, take_profit.limit_price < limit_price < stop_loss.stop_price",
                    "limit_price",
                )
        sl_limit = stop_loss.limit_price
        if sl_limit is not None and (
            (request.side is Side.BUY and sl_limit > sl)
            or (request.side is Side.SELL and sl_limit < sl)
        ):
            raise TradeRejected(
                "invalid_bracket",
                "stop_loss.limit_price must not be beyond stop_loss.stop_price",
                "stop_loss",
            )
    return ValidTrade(request, symbol, order_class, fractional)
