"""Placing a confirmed order: one OMS call with the order token as Idempotency-Key, the
result posted to the channel, and the message updated in place when a later fill arrives."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from slack_sdk.errors import SlackApiError

from slack_bot import wording
from slack_bot.blocks.results import (
    FINAL_STATUSES,
    placement_notice,
    trade_error_message,
    trade_result_message,
)
from slack_bot.deps import BotDeps
from slack_bot.forms import TradeDraft
from slack_bot.listeners.common import OMS_DOWN_TRADE, OMS_MAYBE_SENT, sentence_for, trading_mode
from slack_bot.listeners.views_common import notice_view
from slack_bot.oms_client import OmsError, OmsUnavailable

log = logging.getLogger(__name__)


def place_confirmed(
    deps: BotDeps,
    client: Any,
    *,
    draft: TradeDraft,
    token: str,
    user: str,
    channel: str,
    view_id: str,
) -> None:
    body = draft.to_oms_body(requested_by=user)
    mode = trading_mode(deps)
    try:
        trade = deps.oms.place_trade(body, idempotency_key=token)
    except OmsError as error:
        trade = (error.details or {}).get("trade")
        log.info(
            "trade refused for %s: HTTP %s %s: %s", user, error.status, error.code, error.message
        )
        sentence = sentence_for(error, trading=True)
        tone = "warning" if sentence == wording.OUTCOME_UNKNOWN else "error"
        _tell_user(client, channel, user, trade_error_message(sentence, trade, tone))
        _update_view(client, view_id, sentence, tone)
        return
    except OmsUnavailable as error:
        log.warning("OMS unavailable while placing a trade for %s: %s", user, error)
        maybe_sent = getattr(error, "maybe_sent", False)
        sentence = OMS_MAYBE_SENT if maybe_sent else OMS_DOWN_TRADE
        tone = "warning" if maybe_sent else "error"
        _tell_user(client, channel, user, trade_error_message(sentence, None, tone))
        _update_view(client, view_id, sentence, tone)
        return
    result = trade_result_message(trade, user, mode)
    ts = _tell(deps, client, channel, user, result)
    tone, sentence = placement_notice(trade)
    _update_view(client, view_id, sentence, tone)
    if trade["status"] not in FINAL_STATUSES and ts is not None:
        deps.executor.submit(watch_fills, deps, client, channel, ts, trade, user, mode)


def _tell(deps: BotDeps, client: Any, channel: str, user: str, payload: dict) -> str | None:
    """Post to the channel (or only to the user); the message's ts when it can be updated."""
    try:
        if deps.settings.slack_result_visibility == "ephemeral":
            client.chat_postEphemeral(channel=channel, user=user, **payload)
            return None
        return client.chat_postMessage(channel=channel, **payload)["ts"]
    except SlackApiError as error:
        # Not in the channel (private, or a DM the bot cannot post to): tell the user alone.
        log.warning("could not post the result in %s: %s", channel, error.response.get("error"))
        try:
            client.chat_postEphemeral(channel=channel, user=user, **payload)
        except SlackApiError:
            log.exception("could not tell %s about their trade", user)
        return None


def _tell_user(client: Any, channel: str, user: str, payload: dict) -> None:
    """A refusal is for the person who asked, not the channel."""
    try:
        client.chat_postEphemeral(channel=channel, user=user, **payload)
    except SlackApiError:
        log.exception("could not tell %s why their trade was refused", user)


def _update_view(client: Any, view_id: str, text: str, tone: str) -> None:
    try:
        client.views_update(view_id=view_id, view=notice_view("Trade", text, tone=tone))
    except SlackApiError as error:  # the user closed the modal: the message is what counts
        log.info("modal %s not updated: %s", view_id, error.response.get("error"))


def watch_fills(
    deps: BotDeps, client: Any, channel: str, ts: str, trade: dict, user: str, mode: str
) -> None:
    """Update the posted result when the order fills (or ends) after the answer."""
    seen = (trade["status"], Decimal(str(trade.get("filled_qty") or 0)))
    for _ in range(deps.fill_watch_checks):
        deps.sleep(deps.fill_watch_interval)
        try:
            latest = deps.oms.get_trade(trade["id"])
        except (OmsError, OmsUnavailable) as error:
            log.info("fill watch for trade %s: %s", trade["id"], error)
            continue
        now = (latest["status"], Decimal(str(latest.get("filled_qty") or 0)))
        if now != seen:
            seen = now
            try:
                client.chat_update(
                    channel=channel, ts=ts, **trade_result_message(latest, user, mode)
                )
            except SlackApiError as error:
                log.warning("could not update trade message: %s", error.response.get("error"))
        if latest["status"] in FINAL_STATUSES:
            return
