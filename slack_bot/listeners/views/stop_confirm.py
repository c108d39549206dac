"""The emergency stop confirmed: POST /emergency-stop, a message in the channel where it was
run, updated in place as the stop runs until its result (or, when a stop was already running,
that stop)."""

from __future__ import annotations

from typing import Any

from slack_bot.auth import user_name_of
from slack_bot.blocks import ids
from slack_bot.blocks.controls import STOP_TITLE
from slack_bot.blocks.stop import RUNNING, stop_message
from slack_bot.deps import BotDeps
from slack_bot.listeners.commands.stop import ACTION
from slack_bot.listeners.common import UserFacingError, deps_of, message, trading_mode
from slack_bot.listeners.controls import (
    admin_submission,
    announce,
    call_control,
    first_submission,
    form_checked,
    oms_channel,
    show_notice,
    tell_user,
    watch_stop,
)
from slack_bot.listeners.views_common import notice_view

NOT_CONFIRMED = "Tick the box to confirm: the stop cancels every order and closes every position."


def handle_stop_confirm(ack: Any, body: dict, view: dict, client: Any, context: Any) -> None:
    deps = deps_of(context)
    submitted = admin_submission(deps, ack, body, view, STOP_TITLE, ACTION)
    if submitted is None:
        return
    user, meta, reason = submitted
    if "yes" not in form_checked(view, ids.CONFIRM):
        ack(response_action="errors", errors={ids.CONFIRM: NOT_CONFIRMED})
        return
    starting = notice_view(STOP_TITLE, "Starting the emergency stop…", tone="working")
    ack(response_action="update", view=starting)
    if not first_submission(deps, view):
        return  # a retry or a double submit: the first one starts (and reports) the stop
    start_stop(
        deps,
        client,
        user=user,
        name=user_name_of(body),
        channel=meta.get("channel_id", ""),
        reason=reason,
        view_id=view["id"],
    )


def start_stop(
    deps: BotDeps,
    client: Any,
    *,
    user: str,
    name: str | None,
    channel: str,
    reason: str,
    view_id: str,
) -> None:
    try:
        stop = call_control(
            lambda: deps.oms.emergency_stop(reason, user, name, oms_channel(channel))
        )
    except UserFacingError as error:
        show_notice(client, view_id, STOP_TITLE, str(error), "error")
        tell_user(client, channel, user, message(str(error)))
        return
    mode = trading_mode(deps)
    number = stop.get("id", "?")
    if stop.get("already_running"):
        show_notice(
            client,
            view_id,
            STOP_TITLE,
            f"Emergency stop #{number} was already running — nothing new was started. Its "
            "progress is in the channel where it was started; /desk shows it too.",
            "warning",
        )
        tell_user(client, channel, user, stop_message(stop, mode, already_running=True))
        return
    ts = announce(client, channel, user, stop_message(stop, mode))
    follow = (
        "The message in the channel follows it to the end."
        if ts is not None
        else "The bot cannot post in this channel: you will be told the result here."
    )
    show_notice(
        client,
        view_id,
        STOP_TITLE,
        f"Emergency stop #{number} started: trading is halted, open orders are being canceled "
        f"and every position closed. {follow}",
        "working",
    )
    if stop.get("status") == RUNNING or ts is None:
        deps.executor.submit(watch_stop, deps, client, channel, ts, stop, user)
