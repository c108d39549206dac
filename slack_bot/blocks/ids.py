"""Identifiers shared by the Block Kit builders, the form parsers and the listeners."""

from __future__ import annotations

# View callback ids.
TRADE_FORM = "trade_form"
TRADE_CONFIRM = "trade_confirm"
SELL_FORM = "sell_form"
SELL_CONFIRM = "sell_confirm"
LOADING = "loading"
NO_PORTFOLIO = "no_portfolio"

# Button action ids.
POSITION_SELL = "position_sell"  # value: JSON {"symbol", "qty", "portfolio" | null}
ORDER_CANCEL = "order_cancel"  # value: str(trade id)
# value: JSON {"kind", "page"}; /orders adds its filter and OMS cursors (blocks.orders.OrdersPage)
PAGE_NEXT = "page_next"
PAGE_PREV = "page_prev"

# Form fields: block_id == action_id.
PORTFOLIO = "portfolio"
SYMBOL = "symbol"
SIDE = "side"
AMOUNT_KIND = "amount_kind"
AMOUNT = "amount"
ORDER_TYPE = "order_type"
LIMIT_PRICE = "limit_price"
STOP_PRICE = "stop_price"
TIME_IN_FORCE = "time_in_force"
TAKE_PROFIT = "take_profit"
STOP_LOSS = "stop_loss"
EXTENDED_HOURS = "extended_hours"
REASON = "reason"
POSITION = "position"
QTY = "qty"

# Choices offered in the forms.
SIDES = ("buy", "sell")
AMOUNT_KINDS = ("qty", "notional")
ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
TIMES_IN_FORCE = ("day", "gtc", "ioc", "fok", "opg", "cls")

# Orders that may still be canceled: the OMS settles the rest (or refuses politely).
CANCELABLE_STATUSES = frozenset(
    {"pending_submit", "submitted", "unknown", "accepted", "partially_filled"}
)
