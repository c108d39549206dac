"""/account: the broker account's numbers, the desk's capital (allocated, available) and
P&L (realized, today's), and the trading mode."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.account import account_message
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import answer_read, call_oms


def _account(deps: BotDeps, _text: str) -> dict[str, Any]:
    account = call_oms(deps.oms.account, reading="the account")
    return account_message(account, str(account.get("mode") or ""))


def handle_account(ack: Any, command: dict, respond: Any, context: Any) -> None:
    answer_read(ack, command, respond, context, _account)
