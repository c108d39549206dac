"""Halt confirmed: POST /halt, and the channel is told (unless it was already halted)."""

from __future__ import annotations

from typing import Any

from slack_bot import formatting, wording
from slack_bot.auth import user_name_of
from slack_bot.blocks.controls import HALT_TITLE, trading_state_message
from slack_bot.listeners.commands.halt import ACTION
from slack_bot.listeners.common import UserFacingError, deps_of, message
from slack_bot.listeners.controls import (
    admin_submission,
    announce,
    call_control,
    first_submission,
    show_notice,
    tell_user,
)
from slack_bot.listeners.views_common import notice_view


def handle_halt_confirm(ack: Any, body: dict, view: dict, client: Any, context: Any) -> None:
    deps = deps_of(context)
    submitted = admin_submission(deps, ack, body, view, HALT_TITLE, ACTION)
    if submitted is None:
        return
    user, meta, reason = submitted
    ack(response_action="update", view=notice_view(HALT_TITLE, "Halting trading…", tone="working"))
    if not first_submission(deps, view):
        return
    channel = meta.get("channel_id", "")
    try:
        state = call_control(lambda: deps.oms.halt(reason, user, user_name_of(body)))
    except UserFacingError as error:
        show_notice(client, view["id"], HALT_TITLE, str(error), "error")
        tell_user(client, channel, user, message(str(error)))
        return
    already = state.get("changed_by") != user or (state.get("reason") or "") != reason
    announce(
        client,
        channel,
        user,
        trading_state_message(state, user, halted=True, already=already),
        public=not already,
    )
    if already:
        who = wording.who_acted(state.get("changed_by"), state.get("changed_by_name"))
        sentence = (
            f"Trading was already halted by {who} since {formatting.when(state.get('since'))} "
            "— nothing changed."
        )
        show_notice(client, view["id"], HALT_TITLE, sentence, "info")
        return
    show_notice(
        client,
        view["id"],
        HALT_TITLE,
        "Trading is HALTED: every new order is refused until an admin runs /resume.",
        "success",
    )
