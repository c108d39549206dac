"""Sell on a position of the Home tab: the same sell modal as /positions' Sell (form, then
confirmation); once the confirmation is placed the tab is republished
(views/home_sell_confirm.py)."""

from __future__ import annotations

import json
from typing import Any

from slack_bot.auth import Attempt
from slack_bot.blocks.trade_modal import loading_view
from slack_bot.listeners.commands.sell import open_sell_form
from slack_bot.listeners.common import deps_of
from slack_bot.listeners.events.dashboard import home_channel, home_sell_views, publish_home


def handle_home_position_sell(
    ack: Any, body: dict, action: dict, client: Any, context: Any
) -> None:
    ack()
    deps = deps_of(context)
    user = body["user"]["id"]
    channel = home_channel(deps, user)
    refusal = deps.authorizer.check_trade(user, channel, attempt=Attempt.of_button(body, action))
    if refusal is not None:
        publish_home(deps, client, user, notice=refusal.message, tone="error")
        return
    try:
        chosen = json.loads(action.get("value") or "{}")
    except ValueError:
        chosen = {}
    if not isinstance(chosen, dict):
        chosen = {}
    opened = client.views_open(trigger_id=body["trigger_id"], view=loading_view("Sell"))
    view_id = opened["view"]["id"]
    home_sell_views(deps).add(view_id, user)
    open_sell_form(
        deps,
        client,
        view_id,
        channel,
        symbol=chosen.get("symbol"),
        portfolio=chosen.get("portfolio"),
    )
