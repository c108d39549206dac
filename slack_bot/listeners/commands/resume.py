"""/resume [reason] (admins): who halted trading and why, then confirm (the Resume button on
a stop's result and on the OMS's "halted" alert opens the same confirmation)."""

from __future__ import annotations

from typing import Any

from slack_bot.auth import Attempt
from slack_bot.blocks.controls import RESUME_TITLE, resume_confirm_view
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import deps_of, refuse, trading_mode
from slack_bot.listeners.controls import control_metadata, open_loading, quietly, show_view

ACTION = "resume trading"


def handle_resume(ack: Any, command: dict, client: Any, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    user, channel = command["user_id"], command.get("channel_id", "")
    refusal = deps.authorizer.check_admin(
        user, channel, ACTION, attempt=Attempt.of_command(command)
    )
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    open_resume_confirm(deps, client, command["trigger_id"], channel, user, command.get("text"))


def open_resume_confirm(
    deps: BotDeps, client: Any, trigger_id: str, channel: str, user: str, reason: str | None
) -> None:
    view_id = open_loading(client, trigger_id, RESUME_TITLE)
    state = quietly(deps.oms.trading_state, "the trading state")
    view = resume_confirm_view(state, trading_mode(deps), reason, control_metadata(channel, user))
    show_view(client, view_id, view)
