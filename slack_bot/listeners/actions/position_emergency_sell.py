"""Emergency sell on /positions (Slack asked "Sell all N SYM of portfolio P at market now and
pause P?" first): close the portfolio's holding at market, pause the portfolio, post the
result. Placed even while the portfolio is paused or trading halted: it reduces risk."""

from __future__ import annotations

from typing import Any

from slack_bot import wording
from slack_bot.auth import Attempt, user_name_of
from slack_bot.blocks.controls import emergency_sell_message
from slack_bot.blocks.results import FINAL_STATUSES
from slack_bot.deps import BotDeps
from slack_bot.forms import parse_position_value
from slack_bot.listeners.common import (
    UserFacingError,
    deps_of,
    message,
    refuse,
    reply,
    trading_mode,
)
from slack_bot.listeners.controls import (
    announce,
    call_control,
    results_public,
    watch_emergency_sell,
)

REASON = "emergency sell from Slack (/positions)"
STALE_BUTTON = "This button is from an older message — run /positions again."
ALREADY_SENT = (
    "This emergency sell was already sent from this message — run /positions to see where "
    "it stands."
)


def handle_position_emergency_sell(
    ack: Any, body: dict, action: dict, client: Any, respond: Any, context: Any
) -> None:
    ack()
    deps = deps_of(context)
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id", "")
    try:
        chosen = parse_position_value(str(action.get("value") or ""))
    except ValueError:
        chosen = None
    target = None
    if chosen and chosen["portfolio"]:
        target = f"position {chosen['symbol']} of portfolio {chosen['portfolio']}"
    refusal = deps.authorizer.check_trade(
        user, channel, "sell", attempt=Attempt.of_button(body, action, target)
    )
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    if not chosen or not chosen["portfolio"]:
        reply(respond, message(STALE_BUTTON))
        return
    emergency_close(
        deps,
        client,
        respond,
        body,
        action,
        user=user,
        channel=channel,
        symbol=chosen["symbol"],
        portfolio=chosen["portfolio"],
    )


def emergency_close(
    deps: BotDeps,
    client: Any,
    respond: Any,
    body: dict,
    action: dict,
    *,
    user: str,
    channel: str,
    symbol: str,
    portfolio: str | None,
) -> None:
    """Close the position (one portfolio's, or with `portfolio` None what no portfolio holds
    of it, at the broker) once per button per message, and post the result."""
    message_ts = (body.get("container") or {}).get("message_ts") or ""
    key = f"emergency:{action.get('action_id')}:{message_ts}:{action.get('value')}"
    if not deps.seen_tokens.first_time(key):
        reply(respond, message(ALREADY_SENT))
        return
    whole = portfolio is None
    try:
        trade = call_control(
            lambda: deps.oms.close_position(
                symbol,
                REASON,
                portfolio=portfolio,
                unmanaged=whole,
                requested_by=user,
                requested_by_name=user_name_of(body),
            ),
            maybe=wording.OMS_MAYBE_SOLD,
        )
    except UserFacingError as error:
        reply(respond, message(str(error)))
        return
    mode = trading_mode(deps)
    payload = emergency_sell_message(trade, user, mode, portfolio=portfolio, whole_account=whole)
    ts = announce(client, channel, user, payload, public=results_public(deps))
    if ts is not None and trade.get("status") not in FINAL_STATUSES:
        deps.executor.submit(
            watch_emergency_sell, deps, client, channel, ts, trade, user, mode, portfolio, whole
        )
