"""/trade [SYMBOL] [buy|sell] [QTY]: open the trade modal, prefilled from the text."""

from __future__ import annotations

import json
from typing import Any

from slack_bot.auth import Attempt
from slack_bot.blocks.trade_modal import loading_view, no_portfolio_view, trade_form_view
from slack_bot.forms import parse_trade_text
from slack_bot.listeners.common import (
    UserFacingError,
    call_oms,
    deps_of,
    refuse,
    trading_mode,
)
from slack_bot.listeners.views_common import notice_view


def handle_trade(ack: Any, command: dict, client: Any, respond: Any, context: Any) -> None:
    ack()  # first: Slack wants it within 3 s, and the trigger_id expires with it
    deps = deps_of(context)
    user, channel = command["user_id"], command.get("channel_id", "")
    refusal = deps.authorizer.check_trade(user, channel, attempt=Attempt.of_command(command))
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    opened = client.views_open(trigger_id=command["trigger_id"], view=loading_view("Trade"))
    prefill, _problems = parse_trade_text(command.get("text") or "")  # the form shows them
    fill_trade_form(deps, client, opened["view"]["id"], channel, prefill)


def fill_trade_form(
    deps: Any,
    client: Any,
    view_id: str,
    channel: str,
    prefill: dict[str, Any],
    *,
    error: str | None = None,
) -> None:
    """Fill the (loading) modal `view_id` with the trade form: the active portfolios, the
    latest price and the market state, fresh from the OMS; `error` is shown above it."""
    try:
        symbol = prefill.get("symbol")
        portfolios_f = deps.executor.submit(call_oms, deps.oms.portfolios, reading="portfolios")
        market_f = deps.executor.submit(
            call_oms, deps.oms.market_status, reading="the market's hours"
        )
        quote_f = deps.executor.submit(call_oms, lambda: deps.oms.quote(symbol)) if symbol else None
        mode = trading_mode(deps)
        every_portfolio = portfolios_f.result()
        market = market_f.result()
        quote = None
        if quote_f is not None:
            try:
                quote = quote_f.result()
            except UserFacingError:
                quote = None  # an unknown symbol is reported when the form is submitted
    except UserFacingError as failure:
        client.views_update(view_id=view_id, view=notice_view("Trade", str(failure)))
        return
    portfolios = [p["name"] for p in every_portfolio if p.get("status") == "active"]
    if not portfolios:
        paused = [p["name"] for p in every_portfolio if p.get("status") == "paused"]
        client.views_update(view_id=view_id, view=no_portfolio_view(deps.settings.oms_url, paused))
        return
    view = trade_form_view(portfolios, prefill, quote, market, mode, error=error)
    view["private_metadata"] = json.dumps({"channel_id": channel})
    client.views_update(view_id=view_id, view=view)
