"""Sell button on /positions: open the sell modal on that position."""

from __future__ import annotations

import json
from typing import Any

from slack_bot.auth import Attempt
from slack_bot.blocks.trade_modal import loading_view
from slack_bot.listeners.commands.sell import open_sell_form
from slack_bot.listeners.common import deps_of, refuse


def handle_position_sell(
    ack: Any, body: dict, action: dict, client: Any, respond: Any, context: Any
) -> None:
    ack()
    deps = deps_of(context)
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id", "")
    refusal = deps.authorizer.check_trade(user, channel, attempt=Attempt.of_button(body, action))
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    try:
        chosen = json.loads(action.get("value") or "{}")
    except ValueError:
        chosen = {}
    opened = client.views_open(trigger_id=body["trigger_id"], view=loading_view("Sell"))
    open_sell_form(
        deps,
        client,
        opened["view"]["id"],
        channel,
        symbol=chosen.get("symbol"),
        portfolio=chosen.get("portfolio"),
    )
