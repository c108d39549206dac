"""Cancel button on /orders (Slack shows the confirm dialog first)."""

from __future__ import annotations

import logging
from typing import Any

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
    refusal = deps.authorizer.check_trade(user, channel)
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    try:
        trade_id = int(action["value"])
    except (KeyError, ValueError):
        reply(respond, message("That button does not name an order."))
        return
    log.info("cancel of trade %s requested by %s", trade_id, user)
    try:
        trade = call_oms(lambda: deps.oms.cancel_trade(trade_id), trading=True, cancel=True)
    except UserFacingError as error:
        reply(respond, message(str(error)))
        return
    reply(respond, trade_result_message(trade, user, trading_mode(deps)))
