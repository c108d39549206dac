"""Sell form submitted: never more than the position; then the confirmation view."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

from slack_bot.blocks.sell_modal import sell_confirm_view
from slack_bot.forms import encode_metadata, parse_sell_form
from slack_bot.listeners.common import (
    OMS_DOWN_TRADE,
    UserFacingError,
    call_oms,
    deps_of,
    trading_mode,
)
from slack_bot.listeners.holdings import portfolio_positions


def handle_sell_form(ack: Any, body: dict, view: dict, context: Any) -> None:
    deps = deps_of(context)
    user = body["user"]["id"]
    channel = json.loads(view.get("private_metadata") or "{}").get("channel_id", "")
    refusal = deps.authorizer.check_trade(user, channel)
    if refusal is not None:
        ack(response_action="errors", errors={"position": refusal.message})
        return
    try:
        positions = portfolio_positions(deps)  # fresh: the position may have changed since
    except UserFacingError:
        ack(response_action="errors", errors={"position": OMS_DOWN_TRADE})
        return
    draft = parse_sell_form(view["state"]["values"], positions)
    if isinstance(draft, dict):
        ack(response_action="errors", errors=draft)
        return
    held = next(
        Decimal(str(p["qty"]))
        for p in positions
        if p["symbol"] == draft.symbol and p["portfolio"] == draft.portfolio
    )
    try:
        quote = call_oms(lambda: deps.oms.quote(draft.symbol))
    except UserFacingError:
        quote = None
    metadata = encode_metadata(
        uuid.uuid4().hex, draft, channel, user, "sell", issued_at=deps.clock()
    )
    ack(
        response_action="update",
        view=sell_confirm_view(
            draft,
            held,
            quote,
            trading_mode(deps),
            metadata,
            valid_for_seconds=deps.settings.slack_confirmation_expiry_seconds,
        ),
    )
