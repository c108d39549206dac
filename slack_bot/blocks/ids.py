"""Identifiers shared by the Block Kit builders, the form parsers and the listeners."""

from __future__ import annotations

# View callback ids.
TRADE_FORM = "trade_form"
TRADE_CONFIRM = "trade_confirm"
SELL_FORM = "sell_form"
SELL_CONFIRM = "sell_confirm"
LOADING = "loading"
NO_PORTFOLIO = "no_portfolio"
# Trading controls (admins): each confirms in a modal before anything is sent.
STOP_CONFIRM = "controls_stop_confirm"
HALT_CONFIRM = "controls_halt_confirm"
RESUME_CONFIRM = "controls_resume_confirm"
PORTFOLIO_STOP_CONFIRM = "portfolio_stop_confirm"
CONTROLS_NOTICE = "controls_notice"

# Button action ids.
POSITION_SELL = "position_sell"  # value: JSON {"symbol", "qty", "portfolio" | null}
ORDER_CANCEL = "order_cancel"  # value: str(trade id)
# value: JSON {"kind", "page"}; /orders adds its filter and OMS cursors (blocks.orders.OrdersPage),
# /reconcile and /history theirs (blocks.paging.CursorPage)
PAGE_NEXT = "page_next"
PAGE_PREV = "page_prev"
# Resume trading: on an emergency stop's final message and on the OMS's "halted" alert (the
# OMS posts that alert with this action id); opens the resume confirmation.
CONTROLS_RESUME = "controls_resume"
# Emergency sell on /positions (behind a confirm dialog): value JSON {"symbol", "qty",
# "portfolio"}; the whole account's position at the broker (admins): {"symbol", "qty", null}.
POSITION_EMERGENCY_SELL = "position_emergency_sell"
POSITION_CLOSE_ACCOUNT = "position_close_account"
# Repair buttons on a /reconcile report (admins, behind a confirm dialog): value JSON
# {"report": id, "action": "adopt" | "refresh", "count": n}.
RECONCILE_REPAIR = "reconcile_repair"
# "Legs" on a /history trade: value the trade id ("tr_…").
HISTORY_LEGS = "history_legs"

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
CONFIRM = "confirm"  # the emergency stop's "I understand" checkbox

# Choices offered in the forms.
SIDES = ("buy", "sell")
AMOUNT_KINDS = ("qty", "notional")
ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
TIMES_IN_FORCE = ("day", "gtc", "ioc", "fok", "opg", "cls")

# Orders that may still be canceled: the OMS settles the rest (or refuses politely).
CANCELABLE_STATUSES = frozenset(
    {"pending_submit", "submitted", "unknown", "accepted", "partially_filled"}
)
