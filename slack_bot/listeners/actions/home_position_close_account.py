"""Close unmanaged on an unmanaged position of the Home tab (admins; Slack asked first):
what no portfolio holds of the symbol closed at the broker, as on /positions, the
result posted in the desk's channel and the tab republished with the outcome on top."""

from __future__ import annotations

from typing import Any

from slack_bot.auth import Attempt
from slack_bot.forms import parse_position_value
from slack_bot.listeners.actions.position_close_account import ACTION
from slack_bot.listeners.actions.position_emergency_sell import emergency_close
from slack_bot.listeners.common import deps_of
from slack_bot.listeners.events.dashboard import (
    HOME_STALE_BUTTON,
    HomeReplies,
    as_message_click,
    home_channel,
    publish_home,
)


def handle_home_position_close_account(
    ack: Any, body: dict, action: dict, client: Any, context: Any
) -> None:
    ack()
    deps = deps_of(context)
    user = body["user"]["id"]
    channel = home_channel(deps, user)
    try:
        chosen = parse_position_value(str(action.get("value") or ""))
    except ValueError:
        chosen = None
    target = f"position {chosen['symbol']}" if chosen else None
    refusal = deps.authorizer.check_admin(
        user, channel, ACTION, attempt=Attempt.of_button(body, action, target)
    )
    if refusal is not None:
        publish_home(deps, client, user, notice=refusal.message, tone="error")
        return
    if not chosen:
        publish_home(deps, client, user, notice=HOME_STALE_BUTTON, tone="warning")
        return
    replies = HomeReplies()
    emergency_close(
        deps,
        client,
        replies,
        as_message_click(body),
        action,
        user=user,
        channel=channel,
        symbol=chosen["symbol"],
        portfolio=None,
    )
    if replies.last is not None:
        publish_home(deps, client, user, notice=replies.last, tone="error")
        return
    sentence = f"The unmanaged {chosen['symbol']} position is being closed at market"
    publish_home(deps, client, user, notice=sentence, tone="success", posted_in=channel)
