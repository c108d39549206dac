"""/halt [reason] (admins): confirm, then every new order is refused until /resume."""

from __future__ import annotations

from typing import Any

from slack_bot.auth import Attempt
from slack_bot.blocks.controls import HALT_TITLE, halt_confirm_view
from slack_bot.listeners.common import deps_of, refuse, trading_mode
from slack_bot.listeners.controls import control_metadata, open_loading, quietly, show_view

ACTION = "halt trading"


def handle_halt(ack: Any, command: dict, client: Any, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    user, channel = command["user_id"], command.get("channel_id", "")
    refusal = deps.authorizer.check_admin(
        user, channel, ACTION, attempt=Attempt.of_command(command)
    )
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    view_id = open_loading(client, command["trigger_id"], HALT_TITLE)
    state = quietly(deps.oms.trading_state, "the trading state")
    view = halt_confirm_view(
        state, trading_mode(deps), command.get("text"), control_metadata(channel, user)
    )
    show_view(client, view_id, view)
