"""Confirmation submitted: place the order, exactly once per order token."""

from __future__ import annotations

import logging
from typing import Any

from slack_bot.forms import decode_metadata
from slack_bot.listeners.common import deps_of
from slack_bot.listeners.placement import place_confirmed
from slack_bot.listeners.views_common import notice_view

log = logging.getLogger(__name__)


def handle_trade_confirm(ack: Any, body: dict, view: dict, client: Any, context: Any) -> None:
    confirm_and_place(ack, body, view, client, context, title="Trade")


def confirm_and_place(
    ack: Any, body: dict, view: dict, client: Any, context: Any, *, title: str
) -> None:
    deps = deps_of(context)
    user = body["user"]["id"]
    try:
        meta = decode_metadata(view.get("private_metadata") or "")
    except ValueError:
        log.warning("confirmation from %s with unreadable metadata", user)
        ack(response_action="update", view=notice_view(title, "This form expired — start again."))
        return
    channel = meta.channel_id
    refusal = deps.authorizer.check_trade(user, channel)
    if refusal is not None or meta.user_id != user:
        ack(
            response_action="update",
            view=notice_view(
                title, refusal.message if refusal else "This confirmation belongs to someone else."
            ),
        )
        return
    ack(response_action="update", view=notice_view(title, "Placing your order…"))
    if not deps.seen_tokens.first_time(meta.token):
        return  # a retry or double click: the first submission places and reports the order
    place_confirmed(
        deps,
        client,
        draft=meta.draft,
        token=meta.token,
        user=user,
        channel=channel,
        view_id=body["view"]["id"],
    )
