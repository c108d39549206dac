"""Emergency sell on a position of the Home tab (Slack asked "Sell all N SYM of portfolio P
at market now and pause P?" first): the same close as on /positions, its result posted in the
desk's channel, and the tab republished with the outcome on top."""

from __future__ import annotations

from typing import Any

from slack_bot.auth import Attempt
from slack_bot.forms import parse_position_value
from slack_bot.listeners.actions.position_emergency_sell import emergency_close
from slack_bot.listeners.common import deps_of
from slack_bot.listeners.events.dashboard import (
    HOME_STALE_BUTTON,
    HomeReplies,
    as_message_click,
    home_channel,
    publish_home,
)


def handle_home_position_emergency_sell(
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
    target = None
    if chosen and chosen["portfolio"]:
        target = f"position {chosen['symbol']} of portfolio {chosen['portfolio']}"
    refusal = deps.authorizer.check_trade(
        user, channel, "sell", attempt=Attempt.of_button(body, action, target)
    )
    if refusal is not None:
        publish_home(deps, client, user, notice=refusal.message, tone="error")
        return
    if not chosen or not chosen["portfolio"]:
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
        portfolio=chosen["portfolio"],
    )
    if replies.last is not None:
        publish_home(deps, client, user, notice=replies.last, tone="error")
        return
    sentence = (
        f"Emergency sell of {chosen['portfolio']}'s {chosen['symbol']} sent at market and "
        f"{chosen['portfolio']} paused"
    )
    publish_home(deps, client, user, notice=sentence, tone="success", posted_in=channel)
