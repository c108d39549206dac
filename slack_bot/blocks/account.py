"""The /account message: the broker account, then the desk's capital and P&L."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from slack_sdk.models.blocks import HeaderBlock, PlainTextObject, SectionBlock

from slack_bot import formatting
from slack_bot.blocks.common import context, message, mode_badge, mrkdwn, user_text

# Available capital at a glance: plenty (more than this share of buying power still free),
# running low (0 up to it), or over-allocated (negative).
AVAILABLE_COMFORTABLE_SHARE = Decimal("0.2")
PLENTY, LOW, OVER = ":large_green_circle:", ":large_yellow_circle:", ":red_circle:"
CAPITAL_NOTE = (
    "Available = buying power minus the capital allocated to portfolios. "
    f"{PLENTY} more than 20\u00a0% of buying power free · {LOW} 0 to 20\u00a0% · "
    f"{OVER} more allocated than the buying power"
)


def _masked(account_number: object) -> str:
    # Enough to tell accounts apart without posting the full number in a channel.
    text = str(account_number or "")
    return f"••••{user_text(text[-4:], 10)}" if text else "—"


def available_marker(available: object, buying_power: object) -> str | None:
    """PLENTY, LOW or OVER for the available capital; None when it is unknown."""
    free = formatting.to_decimal(available)
    if free is None:
        return None
    if free < 0:
        return OVER
    power = formatting.to_decimal(buying_power)
    if power is not None and power > 0 and free > power * AVAILABLE_COMFORTABLE_SHARE:
        return PLENTY
    return LOW


def _available_text(account: dict[str, Any]) -> str:
    amount = formatting.money(account.get("available_capital"))
    marker = available_marker(account.get("available_capital"), account.get("buying_power"))
    return f"{marker} {amount}" if marker else amount


def account_message(account: dict[str, Any], mode: str) -> dict[str, Any]:
    """Equity, cash, buying power and portfolio value of the broker account; the capital
    allocated to portfolios and what is left of the buying power; realized and today's P&L.
    The OMS's figures, formatted only; one it does not send shows "—"."""
    broker = [
        f"*Equity*\n{formatting.money(account.get('equity'))}",
        f"*Cash*\n{formatting.money(account.get('cash'))}",
        f"*Buying power*\n{formatting.money(account.get('buying_power'))}",
        f"*Portfolio value*\n{formatting.money(account.get('portfolio_value'))}",
        f"*Status*\n{user_text(str(account.get('status') or '—'), 40)}",
        f"*Account*\n{_masked(account.get('account_number'))}"
        f" ({user_text(str(account.get('currency') or 'USD'), 10)})",
    ]
    desk = [
        f"*Allocated capital*\n{formatting.money(account.get('allocated_capital'))}",
        f"*Available capital*\n{_available_text(account)}",
        f"*Total realized P&L*\n{formatting.signed_money(account.get('total_realized_pnl'))}",
        f"*Today's P&L*\n{formatting.pnl(account.get('daily_pnl'))}",
    ]
    blocks = [
        HeaderBlock(text=PlainTextObject(text="Account")),
        SectionBlock(fields=[mrkdwn(text, 2000) for text in broker]),
        SectionBlock(fields=[mrkdwn(text, 2000) for text in desk]),
        context(CAPITAL_NOTE),
        context(mode_badge(mode or account.get("mode"))),
    ]
    text = (
        f"Account: equity {formatting.money(account.get('equity'))}, "
        f"buying power {formatting.money(account.get('buying_power'))}, "
        f"available capital {formatting.money(account.get('available_capital'))}, "
        f"today {formatting.signed_money(account.get('daily_pnl'))}"
    )
    return message(text, blocks)
