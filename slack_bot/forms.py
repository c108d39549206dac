"""Read modal submissions into a validated `TradeDraft`, or into field errors for Slack.

The OMS validates again (it is the authority); checking here lets the modal point at the
field to fix before anything is sent."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from slack_bot.blocks import ids

SYMBOL_PATTERN = re.compile(r"^[A-Z][A-Z./]{0,9}$")
QTY_PLACES = 9
NOTIONAL_PLACES = 2
PRICE_PLACES_ABOVE_DOLLAR = 2
PRICE_PLACES_BELOW_DOLLAR = 4
MAX_QTY = Decimal("1000000")
MIN_NOTIONAL = Decimal("1")
MAX_NOTIONAL = Decimal("10000000")
MAX_PRICE = Decimal("1000000")
MAX_REASON_CHARS = 500
METADATA_LIMIT = 3000
FLOWS = ("trade", "sell")
TRADE_USAGE = "/trade [SYMBOL] [buy|sell] [QTY]"


@dataclass(frozen=True)
class TradeDraft:
    """What the user asked for, validated locally."""

    portfolio: str
    symbol: str
    side: str  # "buy" | "sell"
    qty: Decimal | None
    notional: Decimal | None
    order_type: str
    time_in_force: str
    limit_price: Decimal | None
    stop_price: Decimal | None
    take_profit: Decimal | None
    stop_loss: Decimal | None
    extended_hours: bool
    reason: str | None

    @property
    def is_bracket(self) -> bool:
        return self.take_profit is not None or self.stop_loss is not None

    def to_oms_body(self, requested_by: str) -> dict[str, Any]:
        """The JSON body of POST /api/v1/trade (decimals as strings, as the OMS expects)."""
        body: dict[str, Any] = {
            "portfolio": self.portfolio,
            "symbol": self.symbol,
            "side": self.side,
            "order_type": self.order_type,
            "time_in_force": self.time_in_force,
            "extended_hours": self.extended_hours,
            "requested_by": requested_by,
        }
        if self.qty is not None:
            body["qty"] = str(self.qty)
        if self.notional is not None:
            body["notional"] = str(self.notional)
        if self.limit_price is not None:
            body["limit_price"] = str(self.limit_price)
        if self.stop_price is not None:
            body["stop_price"] = str(self.stop_price)
        if self.take_profit is not None:
            body["take_profit"] = {"limit_price": str(self.take_profit)}
        if self.stop_loss is not None:
            body["stop_loss"] = {"stop_price": str(self.stop_loss)}
        if self.reason:
            body["reason"] = self.reason
        return body

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (decimals as strings) for private_metadata."""
        return {
            key: (str(value) if isinstance(value, Decimal) else value)
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_json(cls, data: Any) -> TradeDraft:
        """The inverse of `to_json`, re-checked by the same rules as the form (ValueError)."""
        if not isinstance(data, dict) or set(data) != set(cls.__dataclass_fields__):
            raise ValueError("draft has unexpected fields")
        text_fields = ("portfolio", "symbol", "side", "order_type", "time_in_force")
        decimal_fields = (
            "qty",
            "notional",
            "limit_price",
            "stop_price",
            "take_profit",
            "stop_loss",
        )
        if not all(isinstance(data[name], str) for name in text_fields):
            raise ValueError("draft text fields must be strings")
        if not isinstance(data["extended_hours"], bool):
            raise ValueError("extended_hours must be a boolean")
        if data["reason"] is not None and not isinstance(data["reason"], str):
            raise ValueError("reason must be a string")
        decimals: dict[str, Decimal | None] = {}
        for name in decimal_fields:
            raw = data[name]
            if raw is None:
                decimals[name] = None
                continue
            if not isinstance(raw, str):
                raise ValueError(f"{name} must be a decimal string")
            try:
                decimals[name] = Decimal(raw)
            except InvalidOperation as exc:
                raise ValueError(f"{name} is not a number") from exc
        draft = cls(
            portfolio=data["portfolio"],
            symbol=data["symbol"],
            side=data["side"],
            order_type=data["order_type"],
            time_in_force=data["time_in_force"],
            extended_hours=data["extended_hours"],
            reason=data["reason"],
            **decimals,
        )
        errors = validate_draft(draft)
        if errors:
            raise ValueError("draft breaks a rule: " + "; ".join(errors.values()))
        return draft


@dataclass(frozen=True)
class ConfirmMetadata:
    """private_metadata of a confirmation view."""

    token: str  # Idempotency-Key of the trade
    draft: TradeDraft
    channel_id: str
    user_id: str
    flow: str  # "trade" | "sell"
    issued_at: int  # seconds since the epoch when the confirmation was shown

    def age_seconds(self, now: float) -> float:
        return now - self.issued_at


# ---------------------------------------------------------------------------- reading values


def _text(values: dict[str, Any], block_id: str) -> str:
    field = values.get(block_id, {}).get(block_id, {}) or {}
    value = field.get("value")
    return value.strip() if isinstance(value, str) else ""


def _selected(values: dict[str, Any], block_id: str) -> str:
    field = values.get(block_id, {}).get(block_id, {}) or {}
    option = field.get("selected_option") or {}
    value = option.get("value")
    return value if isinstance(value, str) else ""


def _checked(values: dict[str, Any], block_id: str) -> set[str]:
    field = values.get(block_id, {}).get(block_id, {}) or {}
    options = field.get("selected_options") or []
    return {option.get("value") for option in options if isinstance(option, dict)}


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _number(text: str) -> Decimal | None:
    """A Decimal from what a person types: `1,000`, `$150.25`, ` 10 `. None if not a number."""
    cleaned = text.replace(",", "").replace("$", "").replace(" ", "")
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _parse_price(text: str, label: str) -> tuple[Decimal | None, str | None]:
    """(price, error). Empty text is (None, None)."""
    if not text:
        return None, None
    value = _number(text)
    if value is None:
        return None, f"Enter the {label} as a number, e.g. 150.25."
    return value, _price_problem(value, label)


def _price_problem(value: Decimal, label: str) -> str | None:
    if value <= 0:
        return f"The {label} must be more than zero."
    if value > MAX_PRICE:
        return f"The {label} must be at most $1,000,000."
    if value >= 1 and _places(value) > PRICE_PLACES_ABOVE_DOLLAR:
        return f"Use at most 2 decimals for a {label} of $1 or more."
    if value < 1 and _places(value) > PRICE_PLACES_BELOW_DOLLAR:
        return f"Use at most 4 decimals for a {label} below $1."
    return None


def _qty_problem(value: Decimal, label: str = "quantity") -> str | None:
    if value <= 0:
        return f"The {label} must be more than zero."
    if _places(value) > QTY_PLACES:
        return f"Use at most {QTY_PLACES} decimals for the {label}."
    if value > MAX_QTY:
        return f"The {label} must be at most 1,000,000 shares."
    return None


def _notional_problem(value: Decimal) -> str | None:
    if value <= 0:
        return "The dollar amount must be more than zero."
    if _places(value) > NOTIONAL_PLACES:
        return "Use whole cents for a dollar amount (at most 2 decimals)."
    if value < MIN_NOTIONAL:
        return "The dollar amount must be at least $1."
    if value > MAX_NOTIONAL:
        return "The dollar amount must be at most $10,000,000."
    return None


def _add(errors: dict[str, str], block_id: str, text: str) -> None:
    # The first problem found in a field is the one shown: fix one thing at a time.
    errors.setdefault(block_id, text)


# ---------------------------------------------------------------------------- rules


def validate_draft(draft: TradeDraft, amount_block: str = ids.AMOUNT) -> dict[str, str]:
    """Order rules that involve several fields, as {block_id: message}."""
    errors: dict[str, str] = {}
    if not draft.portfolio:
        _add(errors, ids.PORTFOLIO, "Choose a portfolio.")
    if not SYMBOL_PATTERN.match(draft.symbol):
        _add(errors, ids.SYMBOL, "Enter a ticker of 1-10 letters, e.g. AAPL or BRK.B.")
    if draft.side not in ids.SIDES:
        _add(errors, ids.SIDE, "Choose buy or sell.")
    if draft.order_type not in ids.ORDER_TYPES:
        _add(errors, ids.ORDER_TYPE, "Choose an order type.")
    if draft.time_in_force not in ids.TIMES_IN_FORCE:
        _add(errors, ids.TIME_IN_FORCE, "Choose a time in force.")
    if draft.reason is not None and len(draft.reason) > MAX_REASON_CHARS:
        _add(errors, ids.REASON, f"Keep the reason within {MAX_REASON_CHARS} characters.")

    if (draft.qty is None) == (draft.notional is None):
        _add(errors, amount_block, "Enter a number of shares or a dollar amount.")
    elif draft.qty is not None:
        problem = _qty_problem(draft.qty)
        if problem:
            _add(errors, amount_block, problem)
    elif draft.notional is not None:
        problem = _notional_problem(draft.notional)
        if problem:
            _add(errors, amount_block, problem)

    for block_id, price, label in (
        (ids.LIMIT_PRICE, draft.limit_price, "limit price"),
        (ids.STOP_PRICE, draft.stop_price, "stop price"),
        (ids.TAKE_PROFIT, draft.take_profit, "take-profit price"),
        (ids.STOP_LOSS, draft.stop_loss, "stop-loss price"),
    ):
        problem = _price_problem(price, label) if price is not None else None
        if problem:
            _add(errors, block_id, problem)

    order_type, tif = draft.order_type, draft.time_in_force
    type_name = order_type.replace("_", "-")
    needs_limit = order_type in ("limit", "stop_limit")
    needs_stop = order_type in ("stop", "stop_limit")
    if needs_limit and draft.limit_price is None:
        _add(errors, ids.LIMIT_PRICE, f"A {type_name} order needs a limit price.")
    if not needs_limit and draft.limit_price is not None:
        _add(errors, ids.LIMIT_PRICE, f"Leave the limit price empty for a {type_name} order.")
    if needs_stop and draft.stop_price is None:
        _add(errors, ids.STOP_PRICE, f"A {type_name} order needs a stop price.")
    if not needs_stop and draft.stop_price is not None:
        _add(errors, ids.STOP_PRICE, f"Leave the stop price empty for a {type_name} order.")

    fractional = draft.notional is not None or (
        draft.qty is not None and draft.qty != draft.qty.to_integral_value()
    )
    if draft.notional is not None:
        if order_type != "market":
            _add(errors, ids.ORDER_TYPE, "Dollar amounts work with market orders only.")
        if tif != "day":
            _add(errors, ids.TIME_IN_FORCE, "Dollar-amount orders must be day orders.")
    elif fractional:
        if order_type not in ("market", "limit"):
            _add(errors, ids.ORDER_TYPE, "Fractional shares need a market or limit order.")
        if tif != "day":
            _add(errors, ids.TIME_IN_FORCE, "Fractional-share orders must be day orders.")
    if draft.extended_hours and not (order_type == "limit" and tif == "day"):
        _add(errors, ids.EXTENDED_HOURS, "Extended hours needs a day limit order.")
    if tif in ("opg", "cls") and order_type not in ("market", "limit"):
        _add(
            errors,
            ids.TIME_IN_FORCE,
            f"{tif.upper()} orders must be market or limit orders.",
        )

    if draft.is_bracket:
        _check_bracket(draft, fractional, amount_block, errors)
    return errors


def _check_bracket(
    draft: TradeDraft, fractional: bool, amount_block: str, errors: dict[str, str]
) -> None:
    tp, sl = draft.take_profit, draft.stop_loss
    if tp is None:
        _add(errors, ids.TAKE_PROFIT, "A bracket needs a take-profit price too.")
    if sl is None:
        _add(errors, ids.STOP_LOSS, "A bracket needs a stop-loss price too.")
    if fractional:
        _add(errors, amount_block, "Bracket orders need a whole number of shares.")
    if draft.order_type not in ("market", "limit"):
        _add(errors, ids.ORDER_TYPE, "Bracket orders must be market or limit orders.")
    if draft.time_in_force not in ("day", "gtc"):
        _add(errors, ids.TIME_IN_FORCE, "Bracket orders must be day or GTC.")
    if draft.extended_hours:
        _add(errors, ids.EXTENDED_HOURS, "Bracket orders cannot trade in extended hours.")
    if tp is None or sl is None:
        return
    if draft.side == "buy" and tp <= sl:
        _add(errors, ids.TAKE_PROFIT, "For a buy, take profit must be above the stop loss.")
    if draft.side == "sell" and tp >= sl:
        _add(errors, ids.TAKE_PROFIT, "For a sell, take profit must be below the stop loss.")
    entry = draft.limit_price
    if entry is not None and draft.order_type == "limit":
        if draft.side == "buy" and not (sl < entry < tp):
            _add(
                errors,
                ids.LIMIT_PRICE,
                "For a buy bracket the limit price must be between stop loss and take profit.",
            )
        if draft.side == "sell" and not (tp < entry < sl):
            _add(
                errors,
                ids.LIMIT_PRICE,
                "For a sell bracket the limit price must be between take profit and stop loss.",
            )


# ---------------------------------------------------------------------------- forms


def parse_trade_form(values: dict[str, Any]) -> TradeDraft | dict[str, str]:
    """`view["state"]["values"]` of the trade form → a draft, or {block_id: message}."""
    errors: dict[str, str] = {}
    portfolio = _selected(values, ids.PORTFOLIO)
    symbol = _text(values, ids.SYMBOL).upper()
    if not symbol:
        _add(errors, ids.SYMBOL, "Enter a ticker, e.g. AAPL.")
    side = _selected(values, ids.SIDE)
    amount_kind = _selected(values, ids.AMOUNT_KIND) or "qty"
    order_type = _selected(values, ids.ORDER_TYPE) or "market"
    tif = _selected(values, ids.TIME_IN_FORCE) or "day"

    amount_text = _text(values, ids.AMOUNT)
    amount = _number(amount_text)
    qty = notional = None
    if not amount_text:
        _add(errors, ids.AMOUNT, "Enter how many shares (or dollars) to trade.")
    elif amount is None:
        _add(errors, ids.AMOUNT, "Enter the amount as a number, e.g. 10 or 0.5.")
    elif amount_kind == "notional":
        notional = amount
    else:
        qty = amount

    prices: dict[str, Decimal | None] = {}
    for block_id, label in (
        (ids.LIMIT_PRICE, "limit price"),
        (ids.STOP_PRICE, "stop price"),
        (ids.TAKE_PROFIT, "take-profit price"),
        (ids.STOP_LOSS, "stop-loss price"),
    ):
        prices[block_id], problem = _parse_price(_text(values, block_id), label)
        if problem:
            _add(errors, block_id, problem)

    reason = _text(values, ids.REASON) or None
    draft = TradeDraft(
        portfolio=portfolio,
        symbol=symbol,
        side=side,
        qty=qty,
        notional=notional,
        order_type=order_type,
        time_in_force=tif,
        limit_price=prices[ids.LIMIT_PRICE],
        stop_price=prices[ids.STOP_PRICE],
        take_profit=prices[ids.TAKE_PROFIT],
        stop_loss=prices[ids.STOP_LOSS],
        extended_hours="true" in _checked(values, ids.EXTENDED_HOURS),
        reason=reason,
    )
    for block_id, text in validate_draft(draft).items():
        _add(errors, block_id, text)
    return errors or draft


def position_option_value(symbol: str, qty: object, portfolio: str | None) -> str:
    """The value of a position option/button: JSON {"symbol", "qty", "portfolio"}."""
    return json.dumps(
        {"symbol": symbol, "qty": str(qty), "portfolio": portfolio}, separators=(",", ":")
    )


def parse_position_value(value: str) -> dict[str, Any]:
    """The inverse of `position_option_value` → {"symbol", "qty": Decimal, "portfolio"}."""
    try:
        data = json.loads(value)
        symbol, portfolio = data["symbol"], data.get("portfolio")
        qty = Decimal(str(data["qty"]))
    except (TypeError, KeyError, ValueError, InvalidOperation, json.JSONDecodeError) as exc:
        raise ValueError("not a position value") from exc
    if not isinstance(symbol, str) or not (portfolio is None or isinstance(portfolio, str)):
        raise ValueError("not a position value")
    if not qty.is_finite():
        raise ValueError("not a position value")
    return {"symbol": symbol, "qty": qty, "portfolio": portfolio}


def parse_sell_form(
    values: dict[str, Any],
    positions: list[dict[str, Any]],
    default_portfolio: str | None = None,
) -> TradeDraft | dict[str, str]:
    """The sell form → a sell draft, or {block_id: message}. The quantity is checked against
    the position as the OMS reports it now (`positions`), not the number in the option."""
    errors: dict[str, str] = {}
    raw_position = _selected(values, ids.POSITION)
    if not raw_position:
        return {ids.POSITION: "Choose the position to sell."}
    try:
        chosen = parse_position_value(raw_position)
    except ValueError:
        return {ids.POSITION: "Choose the position to sell."}

    held = _held_qty(positions, chosen["symbol"], chosen["portfolio"])
    if held is None or held <= 0:
        return {ids.POSITION: f"You no longer hold {chosen['symbol']}; refresh with /positions."}
    portfolio = chosen["portfolio"] or default_portfolio
    if not portfolio:
        _add(errors, ids.POSITION, "This position has no portfolio; sell it with /trade.")

    qty_text = _text(values, ids.QTY)
    qty = held if not qty_text else _number(qty_text)
    if qty is None:
        _add(errors, ids.QTY, "Enter the number of shares as a number, e.g. 10 or 0.5.")
    elif qty > held:
        _add(errors, ids.QTY, f"You hold {_plain_qty(held)} shares; sell at most that.")

    prices: dict[str, Decimal | None] = {}
    for block_id, label in ((ids.LIMIT_PRICE, "limit price"), (ids.STOP_PRICE, "stop price")):
        prices[block_id], problem = _parse_price(_text(values, block_id), label)
        if problem:
            _add(errors, block_id, problem)

    draft = TradeDraft(
        portfolio=portfolio or "",
        symbol=chosen["symbol"].upper(),
        side="sell",
        qty=qty if qty is not None else held,
        notional=None,
        order_type=_selected(values, ids.ORDER_TYPE) or "market",
        time_in_force=_selected(values, ids.TIME_IN_FORCE) or "day",
        limit_price=prices[ids.LIMIT_PRICE],
        stop_price=prices[ids.STOP_PRICE],
        take_profit=None,
        stop_loss=None,
        extended_hours=False,
        reason=_text(values, ids.REASON) or None,
    )
    for block_id, text in validate_draft(draft, amount_block=ids.QTY).items():
        # The sell form has no portfolio or symbol fields: point at the position instead.
        target = ids.POSITION if block_id in (ids.PORTFOLIO, ids.SYMBOL, ids.SIDE) else block_id
        _add(errors, target, text)
    return errors or draft


def _held_qty(
    positions: list[dict[str, Any]], symbol: str, portfolio: str | None
) -> Decimal | None:
    for position in positions:
        if position.get("symbol") != symbol or position.get("portfolio") != portfolio:
            continue
        try:
            held = Decimal(str(position.get("qty")))
        except InvalidOperation:
            return None
        return held if held.is_finite() else None
    return None


def _plain_qty(value: Decimal) -> str:
    normalized = value.normalize()
    return f"{normalized:f}"


# ---------------------------------------------------------------------------- metadata


def new_token() -> str:
    """A fresh Idempotency-Key for one confirmation."""
    return uuid.uuid4().hex


def encode_metadata(
    token: str,
    draft: TradeDraft,
    channel_id: str,
    user_id: str,
    flow: str,
    *,
    issued_at: float,
) -> str:
    """private_metadata of a confirmation view shown at `issued_at` (epoch seconds).
    ValueError if it would not fit Slack's 3000 characters."""
    if flow not in FLOWS:
        raise ValueError(f"unknown flow {flow!r}")
    payload = {
        "token": token,
        "draft": draft.to_json(),
        "channel_id": channel_id,
        "user_id": user_id,
        "flow": flow,
        "issued_at": int(issued_at),
    }
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    if len(text) >= METADATA_LIMIT:
        raise ValueError("private_metadata would exceed Slack's 3000 characters")
    return text


_TOKEN_PATTERN = re.compile(r"^[0-9a-f]{32}$")


def decode_metadata(text: str) -> ConfirmMetadata:
    """The inverse of `encode_metadata`. ValueError on anything malformed or breaking a rule."""
    try:
        data = json.loads(text)
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError("private_metadata is not JSON") from exc
    if not isinstance(data, dict) or set(data) != {
        "token",
        "draft",
        "channel_id",
        "user_id",
        "flow",
        "issued_at",
    }:
        # Confirmations shown before `issued_at` existed land here too: they are reviewed again.
        raise ValueError("private_metadata has unexpected fields")
    token = data["token"]
    if not isinstance(token, str) or not _TOKEN_PATTERN.match(token):
        raise ValueError("private_metadata token is not a uuid4 hex")
    if data["flow"] not in FLOWS:
        raise ValueError("private_metadata flow is unknown")
    if not isinstance(data["channel_id"], str) or not isinstance(data["user_id"], str):
        raise ValueError("private_metadata ids must be strings")
    issued_at = data["issued_at"]
    if not isinstance(issued_at, int) or isinstance(issued_at, bool) or issued_at < 0:
        raise ValueError("private_metadata issued_at must be epoch seconds")
    draft = TradeDraft.from_json(data["draft"])
    if data["flow"] == "sell" and draft.side != "sell":
        raise ValueError("a sell confirmation must sell")
    return ConfirmMetadata(
        token=token,
        draft=draft,
        channel_id=data["channel_id"],
        user_id=data["user_id"],
        flow=data["flow"],
        issued_at=issued_at,
    )


# ---------------------------------------------------------------------------- review again


def prefill_from_draft(draft: TradeDraft) -> dict[str, str]:
    """What a form shows to put `draft` back in front of the user (an expired confirmation):
    the form's own keys (see `trade_form_view`), decimals as plain text."""
    prefill: dict[str, str] = {
        "portfolio": draft.portfolio,
        "symbol": draft.symbol,
        "side": draft.side,
        "order_type": draft.order_type,
        "time_in_force": draft.time_in_force,
    }
    for key in ("qty", "notional", "limit_price", "stop_price", "take_profit", "stop_loss"):
        value = getattr(draft, key)
        if value is not None:
            prefill[key] = _plain_qty(value)
    if draft.extended_hours:
        prefill["extended_hours"] = "true"
    if draft.reason:
        prefill["reason"] = draft.reason
    return prefill


# ---------------------------------------------------------------------------- /trade text


def parse_trade_text(text: str) -> tuple[dict[str, str], list[str]]:
    """`/trade AAPL buy 10` (any order) → (prefill for the form, problems to mention).

    Prefill keys: symbol, side, qty or notional ("$500"). Unknown words are ignored and
    reported, so a typo never blocks the form from opening."""
    prefill: dict[str, str] = {}
    problems: list[str] = []
    for word in text.split():
        lowered = word.lower()
        if lowered in ids.SIDES:
            _prefill(prefill, problems, "side", lowered, word)
            continue
        is_dollars = word.startswith("$")
        number = _number(word)
        if number is not None and (is_dollars or word[0].isdigit() or word[0] == "."):
            if number <= 0:
                problems.append(f"Ignored {word!r}: the amount must be more than zero.")
            elif is_dollars:
                _prefill(prefill, problems, "notional", _plain_qty(number), word)
            else:
                _prefill(prefill, problems, "qty", _plain_qty(number), word)
            continue
        upper = word.upper()
        if SYMBOL_PATTERN.match(upper):
            _prefill(prefill, problems, "symbol", upper, word)
            continue
        problems.append(f"Ignored {word[:30]!r}: expected {TRADE_USAGE}.")
    if "qty" in prefill and "notional" in prefill:
        problems.append("Give shares or dollars, not both: kept the shares.")
        del prefill["notional"]
    return prefill, problems


def _prefill(prefill: dict[str, str], problems: list[str], key: str, value: str, word: str) -> None:
    if key in prefill:
        problems.append(f"Ignored {word[:30]!r}: {key} was already given.")
    else:
        prefill[key] = value
