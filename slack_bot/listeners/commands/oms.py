"""/oms help (and any text it does not know): what each command does, with examples — the
trading controls only for admins; /oms status is /desk (the command is /desk because Slack
reserves /status for its own, and refuses a manifest that declares it); /oms history … and
/oms reconcile … are /history and /reconcile (for workspaces that only installed /oms)."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.help import help_message
from slack_bot.listeners.commands.desk import handle_desk
from slack_bot.listeners.commands.history import handle_history
from slack_bot.listeners.commands.reconcile import handle_reconcile
from slack_bot.listeners.common import deps_of, reply

# `/oms WORD rest…` runs the command WORD names with the rest as its text.
ALIASES = {"history": ("/history", handle_history), "reconcile": ("/reconcile", handle_reconcile)}


def handle_oms(ack: Any, command: dict, respond: Any, context: Any) -> None:
    text = (command.get("text") or "").strip()
    first, _, rest = text.partition(" ")
    if text.lower() == "status":
        handle_desk(ack, command, respond, context)
        return
    if first.lower() in ALIASES:
        name, handler = ALIASES[first.lower()]
        handler(ack, {**command, "command": name, "text": rest.strip()}, respond, context)
        return
    ack()
    admin = deps_of(context).authorizer.is_admin(command.get("user_id", ""))
    reply(respond, help_message(admin=admin))
