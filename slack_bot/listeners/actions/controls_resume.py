"""Resume trading… (on a stop's result, on /desk, on the OMS's "halted" alert): admins get
the resume confirmation, the same as /resume."""

from __future__ import annotations

from typing import Any

from slack_bot.auth import Attempt
from slack_bot.listeners.commands.resume import ACTION, open_resume_confirm
from slack_bot.listeners.common import deps_of, refuse


def handle_controls_resume(
    ack: Any, body: dict, action: dict, client: Any, respond: Any, context: Any
) -> None:
    ack()
    deps = deps_of(context)
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id", "")
    refusal = deps.authorizer.check_admin(
        user, channel, ACTION, attempt=Attempt.of_button(body, action, "trading")
    )
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    open_resume_confirm(deps, client, body["trigger_id"], channel, user, None)
