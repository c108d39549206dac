"""Cancel button on /orders (Slack shows the confirm dialog first)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bot.auth import Attempt, user_name_of
from slack_bot.blocks.results import trade_result_message
from slack_bot.listeners.common import (
    UserFacingError,
    call_oms,
    deps_of,
    message,
    refuse,
    reply,
    trading_mode,
)

log = logging.getLogger(__name__)


def handle_order_cancel(ack: Any, body: dict, action: dict, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id", "")
    value = str(action.get("value") or "")
    target = f"trade {value}" if value.isascii() and value.isdigit() else None
    refusal = deps.authorizer.check_trade(
        user, channel, attempt=Attempt.of_button(body, action, target)
    )
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    try:
        trade_id = int(value)
    except ValueError:
        reply(respond, message("That button does not name an order."))
        return
    log.info("cancel of trade %s requested by %s", trade_id, user)
    name = user_name_of(body)
    try:
        trade = call_oms(
            lambda: deps.oms.cancel_trade(trade_id, requested_by=user, requested_by_name=name),
            trading=True,
            cancel=True,
        )
    except UserFacingError as error:
        reply(respond, message(str(error)))
        return
    reply(respond, trade_result_message(trade, user, trading_mode(deps)))
