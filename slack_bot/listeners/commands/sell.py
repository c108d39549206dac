"""/sell [SYMBOL]: open the sell modal on one of the open positions."""

from __future__ import annotations

import json
from typing import Any

from slack_bot.auth import Attempt
from slack_bot.blocks.sell_modal import sell_form_view
from slack_bot.blocks.trade_modal import loading_view
from slack_bot.listeners.common import UserFacingError, call_oms, deps_of, refuse, trading_mode
from slack_bot.listeners.holdings import sellable_positions
from slack_bot.listeners.views_common import notice_view


def handle_sell(ack: Any, command: dict, client: Any, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    user, channel = command["user_id"], command.get("channel_id", "")
    refusal = deps.authorizer.check_trade(user, channel, attempt=Attempt.of_command(command))
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    opened = client.views_open(trigger_id=command["trigger_id"], view=loading_view("Sell"))
    symbol = (command.get("text") or "").strip().upper() or None
    open_sell_form(deps, client, opened["view"]["id"], channel, symbol=symbol)


def open_sell_form(
    deps: Any,
    client: Any,
    view_id: str,
    channel: str,
    *,
    symbol: str | None = None,
    portfolio: str | None = None,
    prefill: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Fill the (loading) modal `view_id` with the sell form, preselecting a position;
    `prefill` puts a draft's fields back and `error` is shown above them."""
    try:
        market_f = deps.executor.submit(
            call_oms, deps.oms.market_status, reading="the market's hours"
        )
        positions = sellable_positions(deps)
        market = market_f.result()
    except UserFacingError as failure:
        client.views_update(view_id=view_id, view=notice_view("Sell", str(failure)))
        return
    selected = None
    for position in positions:
        if symbol and position["symbol"] == symbol and portfolio in (None, position["portfolio"]):
            selected = position
            break
    view = sell_form_view(
        positions, selected, trading_mode(deps), market, prefill=prefill, error=error
    )
    view["private_metadata"] = json.dumps({"channel_id": channel})
    client.views_update(view_id=view_id, view=view)
