"""Close unmanaged on /positions (admins; Slack asked first): what no portfolio holds of the
symbol is closed at the broker (the books stay as they are), and the result posted."""

from __future__ import annotations

from typing import Any

from slack_bot.auth import Attempt
from slack_bot.forms import parse_position_value
from slack_bot.listeners.actions.position_emergency_sell import STALE_BUTTON, emergency_close
from slack_bot.listeners.common import deps_of, message, refuse, reply

ACTION = "close an unmanaged position at the broker"


def handle_position_close_account(
    ack: Any, body: dict, action: dict, client: Any, respond: Any, context: Any
) -> None:
    ack()
    deps = deps_of(context)
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id", "")
    try:
        chosen = parse_position_value(str(action.get("value") or ""))
    except ValueError:
        chosen = None
    target = f"position {chosen['symbol']}" if chosen else None
    refusal = deps.authorizer.check_admin(
        user, channel, ACTION, attempt=Attempt.of_button(body, action, target)
    )
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    if not chosen:
        reply(respond, message(STALE_BUTTON))
        return
    emergency_close(
        deps,
        client,
        respond,
        body,
        action,
        user=user,
        channel=channel,
        symbol=chosen["symbol"],
        portfolio=None,
    )
