"""The /account message."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import HeaderBlock, PlainTextObject, SectionBlock

from slack_bot import formatting
from slack_bot.blocks.common import context, message, mode_badge, mrkdwn, user_text


def _masked(account_number: object) -> str:
    # Enough to tell accounts apart without posting the full number in a channel.
    text = str(account_number or "")
    return f"••••{user_text(text[-4:], 10)}" if text else "—"


def account_message(account: dict[str, Any], mode: str) -> dict[str, Any]:
    """Equity, cash, buying power and portfolio value of the broker account."""
    fields = [
        f"*Equity*\n{formatting.money(account.get('equity'))}",
        f"*Cash*\n{formatting.money(account.get('cash'))}",
        f"*Buying power*\n{formatting.money(account.get('buying_power'))}",
        f"*Portfolio value*\n{formatting.money(account.get('portfolio_value'))}",
        f"*Status*\n{user_text(str(account.get('status') or '—'), 40)}",
        f"*Account*\n{_masked(account.get('account_number'))}"
        f" ({user_text(str(account.get('currency') or 'USD'), 10)})",
    ]
    blocks = [
        HeaderBlock(text=PlainTextObject(text="Account")),
        SectionBlock(fields=[mrkdwn(text, 2000) for text in fields]),
        context(mode_badge(mode or account.get("mode"))),
    ]
    text = (
        f"Account: equity {formatting.money(account.get('equity'))}, "
        f"buying power {formatting.money(account.get('buying_power'))}"
    )
    return message(text, blocks)
