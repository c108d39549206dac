"""Portfolio stop confirmed: POST /portfolios/{name}/stop (pause, cancel its working orders,
close its holdings at market), and the channel is told what was done."""

from __future__ import annotations

from typing import Any

from slack_bot.auth import user_name_of
from slack_bot.blocks.controls import PORTFOLIO_STOP_TITLE, portfolio_stop_message
from slack_bot.listeners.common import UserFacingError, deps_of, message, trading_mode
from slack_bot.listeners.controls import (
    admin_submission,
    announce,
    call_control,
    first_submission,
    show_notice,
    tell_user,
)
from slack_bot.listeners.views_common import notice_view

ACTION = "stop portfolios"


def handle_portfolio_stop_confirm(
    ack: Any, body: dict, view: dict, client: Any, context: Any
) -> None:
    deps = deps_of(context)
    submitted = admin_submission(deps, ack, body, view, PORTFOLIO_STOP_TITLE, ACTION)
    if submitted is None:
        return
    user, meta, reason = submitted
    name = meta.get("portfolio", "")
    working = notice_view(PORTFOLIO_STOP_TITLE, f"Stopping portfolio {name}…", tone="working")
    ack(response_action="update", view=working)
    if not first_submission(deps, view):
        return  # a retry or a double submit must not close the holdings twice
    channel = meta.get("channel_id", "")
    try:
        result = call_control(
            lambda: deps.oms.stop_portfolio(name, reason, user, user_name_of(body)),
            maybe=(
                f"The OMS did not answer in time — portfolio {name} may have been stopped. "
                "Check /positions and /orders before trying again."
            ),
        )
    except UserFacingError as error:
        show_notice(client, view["id"], PORTFOLIO_STOP_TITLE, str(error), "error")
        tell_user(client, channel, user, message(str(error)))
        return
    payload = portfolio_stop_message(result, user, reason, trading_mode(deps))
    announce(client, channel, user, payload)
    canceled = len(result.get("canceled_trade_ids") or [])
    closing = len(result.get("closing_trade_ids") or [])
    problems = len(result.get("problems") or [])
    sentence = (
        f"Portfolio {result.get('portfolio', name)} stopped: paused, {canceled} orders "
        f"canceled, {closing} closing orders placed."
        + (f" {problems} things could not be done — see the channel." if problems else "")
    )
    show_notice(
        client, view["id"], PORTFOLIO_STOP_TITLE, sentence, "warning" if problems else "success"
    )
