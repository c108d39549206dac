"""Resume confirmed: POST /resume (refused while an emergency stop runs), and the channel is
told."""

from __future__ import annotations

from typing import Any

from slack_bot.auth import user_name_of
from slack_bot.blocks.controls import RESUME_TITLE, trading_state_message
from slack_bot.listeners.commands.resume import ACTION
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


def handle_resume_confirm(ack: Any, body: dict, view: dict, client: Any, context: Any) -> None:
    deps = deps_of(context)
    submitted = admin_submission(deps, ack, body, view, RESUME_TITLE, ACTION)
    if submitted is None:
        return
    user, meta, reason = submitted
    ack(
        response_action="update",
        view=notice_view(RESUME_TITLE, "Resuming trading…", tone="working"),
    )
    if not first_submission(deps, view):
        return
    channel = meta.get("channel_id", "")
    try:
        state = call_control(lambda: deps.oms.resume(reason, user, user_name_of(body)))
    except UserFacingError as error:
        show_notice(client, view["id"], RESUME_TITLE, str(error), "error")
        tell_user(client, channel, user, message(str(error)))
        return
    already = state.get("changed_by") != user or (state.get("reason") or "") != reason
    announce(
        client,
        channel,
        user,
        trading_state_message(state, user, halted=False, already=already),
        public=not already,
    )
    sentence = (
        "Trading was already active — nothing changed."
        if already
        else "Trading resumed: new orders are accepted again."
    )
    show_notice(client, view["id"], RESUME_TITLE, sentence, "info" if already else "success")
