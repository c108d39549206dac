"""Confirmation submitted: place the order, exactly once per order token."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from slack_bot.auth import Attempt
from slack_bot.blocks.trade_modal import expired_confirmation_text
from slack_bot.deps import BotDeps
from slack_bot.forms import ConfirmMetadata, decode_metadata, prefill_from_draft
from slack_bot.listeners.commands.sell import open_sell_form
from slack_bot.listeners.commands.trade import fill_trade_form
from slack_bot.listeners.common import deps_of
from slack_bot.listeners.placement import place_confirmed
from slack_bot.listeners.views_common import notice_view

log = logging.getLogger(__name__)

# Bot instances' clocks may differ a little; a confirmation from further in the future than
# this is not trusted to be fresh.
CLOCK_SKEW_SECONDS = 60


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
        expired = notice_view(
            title, "This form expired — nothing was sent. Start again.", tone="warning"
        )
        ack(response_action="update", view=expired)
        return
    channel = meta.channel_id
    refusal = deps.authorizer.check_trade(user, channel, attempt=Attempt.of_form(body, view))
    if refusal is not None or meta.user_id != user:
        ack(
            response_action="update",
            view=notice_view(
                title, refusal.message if refusal else "This confirmation belongs to someone else."
            ),
        )
        return
    expiry = deps.settings.slack_confirmation_expiry_seconds
    age = meta.age_seconds(deps.clock())
    if age > expiry or age < -CLOCK_SKEW_SECONDS:
        # Prices have moved since the user looked: never send it, show the order again.
        log.info("confirmation from %s is %.0f s old: shown again, not sent", user, age)
        sentence = expired_confirmation_text(expiry)
        ack(response_action="update", view=notice_view(title, sentence, tone="warning"))
        review_again(deps, client, meta, body["view"]["id"], sentence)
        return
    ack(response_action="update", view=notice_view(title, "Placing your order…", tone="working"))
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


def review_again(
    deps: BotDeps, client: Any, meta: ConfirmMetadata, view_id: str, sentence: str
) -> None:
    """Replace the modal with the form the confirmation came from, filled with its order and
    fresh prices, `sentence` on top: one press of Review leads to a new confirmation."""
    prefill = prefill_from_draft(meta.draft)
    try:
        if meta.flow == "sell":
            open_sell_form(
                deps,
                client,
                view_id,
                meta.channel_id,
                symbol=meta.draft.symbol,
                portfolio=meta.draft.portfolio,
                prefill=prefill,
                error=sentence,
            )
        else:
            fill_trade_form(deps, client, view_id, meta.channel_id, prefill, error=sentence)
    except SlackApiError as error:  # the user closed the modal meanwhile
        log.info("modal %s not shown again: %s", view_id, error.response.get("error"))
