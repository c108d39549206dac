"""Sell form submitted: never more than the position; then the confirmation view."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

from slack_bot.auth import Attempt
from slack_bot.blocks import ids
from slack_bot.blocks.sell_modal import sell_confirm_view
from slack_bot.forms import encode_metadata, parse_position_value, parse_sell_form
from slack_bot.listeners.common import UserFacingError, call_oms, deps_of, trading_mode
from slack_bot.listeners.holdings import sellable_positions


def _chosen_symbol(values: dict[str, Any]) -> str | None:
    option = (values.get(ids.POSITION, {}).get(ids.POSITION) or {}).get("selected_option") or {}
    try:
        return str(parse_position_value(option.get("value") or "")["symbol"]).upper()
    except ValueError:
        return None  # parse_sell_form says what is wrong with the field


def handle_sell_form(ack: Any, body: dict, view: dict, context: Any) -> None:
    deps = deps_of(context)
    user = body["user"]["id"]
    channel = json.loads(view.get("private_metadata") or "{}").get("channel_id", "")
    refusal = deps.authorizer.check_trade(user, channel, attempt=Attempt.of_form(body, view))
    if refusal is not None:
        ack(response_action="errors", errors={"position": refusal.message})
        return
    values = view["state"]["values"]
    symbol = _chosen_symbol(values)
    # Slack waits for this ack: the quote is asked for while the positions are read.
    quote_f = deps.lookups.submit(call_oms, lambda: deps.oms.quote(symbol)) if symbol else None
    try:
        positions = sellable_positions(deps)  # fresh: the position may have changed since
    except UserFacingError as failure:
        ack(response_action="errors", errors={"position": str(failure)})
        return
    draft = parse_sell_form(values, positions)
    if isinstance(draft, dict):
        ack(response_action="errors", errors=draft)
        return
    held = next(
        Decimal(str(p["qty"]))
        for p in positions
        if p["symbol"] == draft.symbol and p["portfolio"] == draft.portfolio
    )
    try:
        quote = quote_f.result() if quote_f is not None else None
    except UserFacingError:
        quote = None  # the confirmation says no latest price is available
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
