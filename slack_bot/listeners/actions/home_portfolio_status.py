"""Pause / Resume on a portfolio of the Home tab (admins; Slack asked first): PATCH the
portfolio's status, tell the desk's channel, and republish the tab with the outcome on top."""

from __future__ import annotations

from typing import Any

from slack_bot.auth import Attempt, user_name_of
from slack_bot.blocks.controls import portfolio_status_message
from slack_bot.blocks.home import HOME_PORTFOLIO_PAUSE
from slack_bot.listeners.common import UserFacingError, deps_of
from slack_bot.listeners.controls import announce, call_control
from slack_bot.listeners.events.dashboard import home_channel, publish_home


def handle_home_portfolio_status(
    ack: Any, body: dict, action: dict, client: Any, context: Any
) -> None:
    ack()
    deps = deps_of(context)
    user = body["user"]["id"]
    pause = action.get("action_id") == HOME_PORTFOLIO_PAUSE
    name = str(action.get("value") or "").strip()
    channel = home_channel(deps, user)
    refusal = deps.authorizer.check_admin(
        user,
        channel,
        "pause portfolios" if pause else "resume portfolios",
        attempt=Attempt.of_button(body, action, f"portfolio {name[:40]}"),
    )
    if refusal is not None:
        publish_home(deps, client, user, notice=refusal.message, tone="error")
        return
    try:
        portfolio = call_control(
            lambda: deps.oms.set_portfolio_status(
                name,
                "paused" if pause else "active",
                requested_by=user,
                requested_by_name=user_name_of(body),
            )
        )
    except UserFacingError as error:
        publish_home(deps, client, user, notice=str(error), tone="error")
        return
    if deps.settings.slack_allowed_channel_ids:
        # The desk sees a portfolio paused or resumed, as with /portfolio pause.
        announce(client, channel, user, portfolio_status_message(portfolio, user, None))
    shown = portfolio.get("name") or name
    sentence = (
        f"Portfolio {shown} paused: its new orders are refused until it is resumed."
        if portfolio.get("status") == "paused"
        else f"Portfolio {shown} resumed: it accepts new orders again."
    )
    publish_home(deps, client, user, notice=sentence, tone="success")
