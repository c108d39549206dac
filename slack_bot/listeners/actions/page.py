"""Next / previous page of a long /positions or /orders list (the message is replaced)."""

from __future__ import annotations

import json
from typing import Any

from slack_bot.blocks.orders import orders_message
from slack_bot.blocks.positions import positions_message
from slack_bot.listeners.commands.orders import recent_orders
from slack_bot.listeners.common import UserFacingError, deps_of, message, refuse, trading_mode
from slack_bot.listeners.holdings import all_positions


def handle_page(ack: Any, body: dict, action: dict, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    refusal = deps.authorizer.check_read(
        body["user"]["id"], (body.get("channel") or {}).get("id", "")
    )
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    try:
        wanted = json.loads(action.get("value") or "{}")
        page = max(int(wanted.get("page", 0)), 0)
    except (ValueError, TypeError):
        return
    try:
        if wanted.get("kind") == "orders":
            arg = str(wanted.get("arg") or "")
            trades, title = recent_orders(deps, arg)
            payload = orders_message(trades, title, page=page, arg=arg or None)
        else:
            payload = positions_message(all_positions(deps), trading_mode(deps), page=page)
    except UserFacingError as error:
        payload = message(str(error))
    respond(replace_original=True, text=payload["text"], blocks=payload.get("blocks"))
