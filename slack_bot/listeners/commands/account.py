"""/account: the broker account's numbers and the trading mode."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.account import account_message
from slack_bot.listeners.common import UserFacingError, call_oms, deps_of, message, refuse, reply


def handle_account(ack: Any, command: dict, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    refusal = deps.authorizer.check_read(command["user_id"], command.get("channel_id", ""))
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    try:
        account = call_oms(deps.oms.account)
    except UserFacingError as error:
        reply(respond, message(str(error)))
        return
    reply(respond, account_message(account, str(account.get("mode") or "")))
