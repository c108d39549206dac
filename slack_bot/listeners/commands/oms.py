"""/oms help (and any text it does not know): what each command does, with examples — the
trading controls only for admins; /oms status is /desk (the command is /desk because Slack
reserves /status for its own, and refuses a manifest that declares it)."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.help import help_message
from slack_bot.listeners.commands.desk import handle_desk
from slack_bot.listeners.common import deps_of, reply


def handle_oms(ack: Any, command: dict, respond: Any, context: Any) -> None:
    if (command.get("text") or "").strip().lower() == "status":
        handle_desk(ack, command, respond, context)
        return
    ack()
    admin = deps_of(context).authorizer.is_admin(command.get("user_id", ""))
    reply(respond, help_message(admin=admin))
