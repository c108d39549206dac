"""Legs on a /history trade: the trade's orders (an options strategy's legs, in leg order),
in a new message only the user sees; the list stays as it was."""

from __future__ import annotations

import re
from typing import Any

from slack_bot.auth import Attempt
from slack_bot.blocks.history import legs_message
from slack_bot.listeners.common import UserFacingError, deps_of, message, read_oms, refuse, reply

TRADE_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
STALE_BUTTON = "This button is from an older message — run /history again."


def handle_history_legs(ack: Any, body: dict, action: dict, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    value = str(action.get("value") or "")
    trade_id = value if TRADE_ID.match(value) else None
    refusal = deps.authorizer.check_read(
        body["user"]["id"],
        (body.get("channel") or {}).get("id", ""),
        attempt=Attempt.of_button(body, action, f"trade {trade_id}" if trade_id else None),
    )
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    if trade_id is None:
        reply(respond, message(STALE_BUTTON))
        return
    try:
        trade = read_oms(lambda: deps.oms.history_trade(trade_id), reading="that trade")
        payload = legs_message(trade)
    except UserFacingError as error:
        payload = message(str(error))
    reply(respond, payload)
