"""Trade form submitted: check it field by field, then show the confirmation view."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from slack_bot.auth import Attempt
from slack_bot.blocks.trade_modal import trade_confirm_view
from slack_bot.forms import encode_metadata, parse_trade_form
from slack_bot.listeners.common import (
    OMS_DOWN_TRADE,
    deps_of,
    sentence_for,
    trading_mode,
)
from slack_bot.oms_client import OmsError, OmsUnavailable

log = logging.getLogger(__name__)


def handle_trade_form(ack: Any, body: dict, view: dict, context: Any) -> None:
    deps = deps_of(context)
    user = body["user"]["id"]
    channel = json.loads(view.get("private_metadata") or "{}").get("channel_id", "")
    refusal = deps.authorizer.check_trade(user, channel, attempt=Attempt.of_form(body, view))
    if refusal is not None:
        ack(response_action="errors", errors={"symbol": refusal.message})
        return
    draft = parse_trade_form(view["state"]["values"])
    if isinstance(draft, dict):
        ack(response_action="errors", errors=draft)
        return
    # Slack waits for this ack: the market's hours are asked for while the quote is.
    market_f = deps.lookups.submit(deps.oms.market_status)
    # What only the OMS knows, asked before the confirmation: does the symbol exist?
    try:
        quote = deps.oms.quote(draft.symbol)
    except OmsError as error:
        log.info("quote for %s refused: %s %s", draft.symbol, error.code, error.message)
        ack(response_action="errors", errors={"symbol": sentence_for(error, reading="the price")})
        return
    except OmsUnavailable as error:
        log.warning("OMS unavailable while quoting %s: %s", draft.symbol, error)
        ack(response_action="errors", errors={"symbol": OMS_DOWN_TRADE})
        return
    try:
        market = market_f.result()
    except (OmsError, OmsUnavailable) as error:
        log.info("market status unavailable for the confirmation: %s", error)
        market = None  # the confirmation says the market's status is unknown
    metadata = encode_metadata(
        uuid.uuid4().hex, draft, channel, user, "trade", issued_at=deps.clock()
    )
    view_out = trade_confirm_view(
        draft,
        quote,
        market,
        trading_mode(deps),
        metadata,
        valid_for_seconds=deps.settings.slack_confirmation_expiry_seconds,
    )
    ack(response_action="update", view=view_out)
