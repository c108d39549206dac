"""Portfolios in Slack: the /portfolios message (capital, P&L, status, daily loss limit and
pre-trade limits of each), the /portfolio new modal (which shows the capital still available
before anything is typed), and what is posted once a portfolio was created or its limits set.

Pure functions of the OMS's answers; every piece of user text is escaped."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from slack_sdk.models.blocks import HeaderBlock, InputBlock, PlainTextInputElement, PlainTextObject
from slack_sdk.models.views import View

from slack_bot import formatting
from slack_bot.blocks.common import (
    MESSAGE_BLOCK_LIMIT,
    context,
    message,
    mode_badge,
    section,
    truncate,
    user_text,
)
from slack_bot.blocks.controls import actor_mention

NAME_LIMIT = 40
SYMBOLS_SHOWN = 20
PORTFOLIOS_PER_MESSAGE = MESSAGE_BLOCK_LIMIT - 3  # header, totals, "N more"

# The /portfolio new modal: its callback id and fields (block_id == action_id).
PORTFOLIO_NEW_FORM = "portfolio_new_form"
PORTFOLIO_NEW_TITLE = "New portfolio"
NEW_NAME = "portfolio_name"
NEW_CAPITAL = "portfolio_capital"
NEW_LOSS_LIMIT = "portfolio_loss_limit"

# The limits of a portfolio: the OMS's field → how a person reads it.
LIMIT_LABELS = {
    "allowed_symbols": "Symbols allowed",
    "denied_symbols": "Symbols denied",
    "max_order_notional": "Max order",
    "max_position_value": "Max position",
}


# --- pieces ---------------------------------------------------------------------------------
def _symbols(symbols: list[Any]) -> str:
    shown = ", ".join(user_text(str(s), 12) for s in symbols[:SYMBOLS_SHOWN])
    more = len(symbols) - SYMBOLS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def limits_summary(limits: dict[str, Any] | None) -> str:
    """`allow AAPL, MSFT · deny TSLA · max order $5,000.00 · max position $20,000.00`, or
    `no limits`."""
    limits = limits or {}
    parts = []
    allowed = limits.get("allowed_symbols")
    if isinstance(allowed, list):
        parts.append(f"allow {_symbols(allowed)}" if allowed else "allow no symbol")
    denied = limits.get("denied_symbols")
    if isinstance(denied, list) and denied:
        parts.append(f"deny {_symbols(denied)}")
    if formatting.to_decimal(limits.get("max_order_notional")) is not None:
        parts.append(f"max order {formatting.money(limits.get('max_order_notional'))}")
    if formatting.to_decimal(limits.get("max_position_value")) is not None:
        parts.append(f"max position {formatting.money(limits.get('max_position_value'))}")
    return " · ".join(parts) if parts else "no limits"


def status_text(status: object) -> str:
    """`:large_green_circle: active` / `:double_vertical_bar: *paused*`."""
    if status == "paused":
        return ":double_vertical_bar: *paused*"
    if status == "active":
        return ":large_green_circle: active"
    return f":grey_question: {user_text(str(status or 'unknown'), 20)}"


def portfolio_summary(portfolio: dict[str, Any]) -> str:
    """Three lines: name and status; capital and daily loss limit; realized, unrealized and
    today's P&L (— when unknown)."""
    name = user_text(str(portfolio.get("name") or "?"), NAME_LIMIT)
    loss_limit = formatting.to_decimal(portfolio.get("daily_loss_limit"))
    limit_text = (
        f"daily loss limit {formatting.money(loss_limit)}"
        if loss_limit is not None
        else "no daily loss limit"
    )
    return (
        f"*{name}* · {status_text(portfolio.get('status'))}\n"
        f"Capital {formatting.money(portfolio.get('allocated_capital'))} · {limit_text}\n"
        f"P&L realized {formatting.signed_money(portfolio.get('realized_pnl'))}"
        f" · unrealized {formatting.signed_money(portfolio.get('unrealized_pnl'))}"
        f" · today {formatting.signed_money(portfolio.get('today_pnl'))}"
    )


def _total_capital(portfolios: list[dict[str, Any]]) -> Decimal:
    values = (formatting.to_decimal(p.get("allocated_capital")) for p in portfolios)
    return sum((v for v in values if v is not None), start=Decimal(0))


# --- /portfolios ----------------------------------------------------------------------------
def portfolios_message(portfolios: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    """Every portfolio (in the OMS's order) with its capital, P&L, status, daily loss limit
    and pre-trade limits; one block each, so a very long list says how many are left out."""
    if not portfolios:
        return message(
            "No portfolios yet.",
            [
                section(":information_source: No portfolios yet — an admin can /portfolio new."),
                context(mode_badge(mode)),
            ],
        )
    total = formatting.money(_total_capital(portfolios))
    blocks: list[Any] = [
        HeaderBlock(text=PlainTextObject(text=f"Portfolios ({len(portfolios)})")),
        context(mode_badge(mode), f"Capital given to portfolios: {total}"),
    ]
    for portfolio in portfolios[:PORTFOLIOS_PER_MESSAGE]:
        limits = limits_summary(portfolio.get("limits"))
        blocks.append(section(f"{portfolio_summary(portfolio)}\nLimits: {limits}"))
    more = len(portfolios) - PORTFOLIOS_PER_MESSAGE
    if more > 0:
        blocks.append(context(f"{more} more not shown — the OMS API lists them all."))
    return message(f"{len(portfolios)} portfolios, capital {total}", blocks)


# --- /portfolio new -------------------------------------------------------------------------
def available_line(
    available: Decimal | None,
    buying_power: object,
    allocated: Decimal | None,
    marker: str,
) -> str:
    """What the new portfolio's capital can be at most, and why."""
    if available is None:
        return (
            ":warning: The capital still available could not be read just now; the OMS checks "
            "it when the portfolio is created."
        )
    return (
        f"*Capital available for a new portfolio:* {marker} *{formatting.money(available)}*\n"
        f"Buying power {formatting.money(buying_power)}, of which "
        f"{formatting.money(allocated)} is already given to portfolios."
    )


def _input(
    block_id: str,
    label: str,
    *,
    placeholder: str,
    hint: str,
    optional: bool = False,
    initial: str | None = None,
    max_length: int = 30,
) -> InputBlock:
    return InputBlock(
        block_id=block_id,
        label=label,
        optional=optional,
        hint=hint,
        element=PlainTextInputElement(
            action_id=block_id,
            placeholder=placeholder,
            initial_value=(initial or "")[:max_length] or None,
            max_length=max_length,
        ),
    )


def portfolio_new_view(
    available_text: str,
    mode: str,
    metadata: str,
    prefill: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The form: name, capital, optional daily loss limit, under the capital available."""
    prefill = prefill or {}
    blocks: list[Any] = [
        section(mode_badge(mode)),
        section(available_text),
        _input(
            NEW_NAME,
            "Name",
            placeholder="e.g. growth",
            hint="Lower-case letters, digits, - and _; at most 40 characters.",
            initial=prefill.get("name"),
            max_length=NAME_LIMIT,
        ),
        _input(
            NEW_CAPITAL,
            "Capital (USD)",
            placeholder="e.g. 25000",
            hint="What the portfolio may spend; at most the capital available.",
            initial=prefill.get("capital"),
        ),
        _input(
            NEW_LOSS_LIMIT,
            "Daily loss limit (USD)",
            placeholder="e.g. 500",
            hint="When today's loss reaches it the portfolio is paused (nothing is closed).",
            optional=True,
            initial=prefill.get("loss_limit"),
        ),
    ]
    view = View(
        type="modal",
        callback_id=PORTFOLIO_NEW_FORM,
        title=PORTFOLIO_NEW_TITLE,
        submit="Create",
        close="Cancel",
        private_metadata=metadata,
        blocks=blocks,
    )
    return view.to_dict()


def portfolio_created_message(portfolio: dict[str, Any], user: str) -> dict[str, Any]:
    """Posted in the channel once a portfolio was created from Slack."""
    name = user_text(str(portfolio.get("name") or "?"), NAME_LIMIT)
    who = actor_mention(user)
    capital = formatting.money(portfolio.get("allocated_capital"))
    loss_limit = formatting.to_decimal(portfolio.get("daily_loss_limit"))
    limit_text = (
        f", daily loss limit {formatting.money(loss_limit)}" if loss_limit is not None else ""
    )
    head = f":new: Portfolio *{name}* created by {who} with capital *{capital}*{limit_text}."
    rest = f"Trade in it with /trade; set its limits with `/portfolio limits {name} …`."
    return message(
        f"Portfolio {name} created by {who} with capital {capital}",
        [
            section(head),
            context(rest),
        ],
    )


# --- /portfolio limits ----------------------------------------------------------------------
def _limit_value(key: str, value: Any) -> str:
    if key in ("allowed_symbols", "denied_symbols"):
        if not isinstance(value, list):
            return "any symbol" if key == "allowed_symbols" else "none"
        if not value:
            return "no symbol" if key == "allowed_symbols" else "none"
        return _symbols(value) + (" (only these)" if key == "allowed_symbols" else "")
    amount = formatting.to_decimal(value)
    return formatting.money(amount) if amount is not None else "no limit"


def limits_message(
    name: str, limits: dict[str, Any], user: str | None, changed: list[str] | None = None
) -> dict[str, Any]:
    """A portfolio's pre-trade limits, one per line; `user` set them (`changed`: which), or
    None when they are only shown."""
    shown = user_text(truncate(name, NAME_LIMIT), NAME_LIMIT)
    lines = []
    for key, label in LIMIT_LABELS.items():
        mark = " _(changed)_" if changed and key in changed else ""
        lines.append(f"• *{label}:* {_limit_value(key, limits.get(key))}{mark}")
    if user is None:
        head = f"*Pre-trade limits of portfolio {shown}*"
        text = f"Limits of portfolio {shown}: {limits_summary(limits)}"
    else:
        head = f":straight_ruler: Limits of portfolio *{shown}* set by {actor_mention(user)}:"
        text = f"Limits of portfolio {shown} set: {limits_summary(limits)}"
    blocks = [
        section(head + "\n" + "\n".join(lines)),
        context("The OMS refuses an order that breaks one before anything is sent."),
    ]
    return message(text, blocks)
