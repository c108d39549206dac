"""What the trading controls' listeners share: OMS calls turned into one sentence, the
confirmation modals' metadata and fields, posting to the channel, and following an emergency
stop (and an emergency sell) until it has finished."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError

from slack_bot import wording
from slack_bot.auth import Attempt
from slack_bot.blocks import ids
from slack_bot.blocks.controls import emergency_sell_message
from slack_bot.blocks.results import FINAL_STATUSES
from slack_bot.blocks.stop import RUNNING, stop_message
from slack_bot.blocks.trade_modal import loading_view
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import UserFacingError, trading_mode
from slack_bot.listeners.views_common import notice_view
from slack_bot.oms_client import OmsError, OmsUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

# What the OMS takes as a stop's channel (its StopRequest.channel_id pattern).
CHANNEL_FOR_OMS = re.compile(r"^[CGD][A-Z0-9]{2,30}$")


# --- OMS calls ------------------------------------------------------------------------------
def call_control(fn: Callable[[], T], *, maybe: str = wording.OMS_MAYBE_DONE) -> T:
    """Run a control's OMS call; every failure becomes a UserFacingError with one sentence
    (`maybe`: what to say when the OMS may have acted without answering)."""
    try:
        return fn()
    except OmsUnavailable as error:
        log.warning("OMS unavailable during a trading control: %s", error)
        raise UserFacingError(maybe if error.maybe_sent else wording.OMS_DOWN_CONTROL) from None
    except OmsError as error:
        log.info("OMS refused a control: HTTP %s %s: %s", error.status, error.code, error.message)
        raise UserFacingError(
            wording.control_error(error.code, error.message, error.details)
        ) from None


def quietly(fn: Callable[[], T], what: str) -> T | None:
    """An OMS read that only adds detail (a count in a confirmation): None when it fails, so
    it never stands between an admin and a control."""
    try:
        return fn()
    except (OmsError, OmsUnavailable) as error:
        log.info("could not read %s for a confirmation: %s", what, error)
        return None


def oms_channel(channel: str | None) -> str | None:
    """The channel id to give the OMS (it posts a stop's result there too), when it is one."""
    return channel if channel and CHANNEL_FOR_OMS.match(channel) else None


# --- confirmation modals --------------------------------------------------------------------
def control_metadata(channel: str, user: str, **extra: str) -> str:
    return json.dumps({"channel_id": channel, "user_id": user, **extra}, separators=(",", ":"))


def read_metadata(view: dict[str, Any]) -> dict[str, str]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: value for key, value in data.items() if isinstance(value, str)}


def form_text(view: dict[str, Any], block_id: str) -> str:
    field = ((view.get("state") or {}).get("values") or {}).get(block_id, {}).get(block_id) or {}
    value = field.get("value")
    return " ".join(value.split()) if isinstance(value, str) else ""


def form_checked(view: dict[str, Any], block_id: str) -> set[str]:
    field = ((view.get("state") or {}).get("values") or {}).get(block_id, {}).get(block_id) or {}
    return {o.get("value") for o in field.get("selected_options") or [] if isinstance(o, dict)}


REASON_MISSING = "Say why: the reason is kept in the audit trail and shown in the channel."


def admin_submission(
    deps: BotDeps, ack: Any, body: dict, view: dict, title: str, action: str
) -> tuple[str, dict[str, str], str] | None:
    """A control's confirmation submitted: (user, metadata, reason) when an admin submitted it
    in an allowed channel with a reason; otherwise the modal already says why (None)."""
    user = body["user"]["id"]
    meta = read_metadata(view)
    refusal = deps.authorizer.check_admin(
        user, meta.get("channel_id", ""), action, attempt=Attempt.of_form(body, view)
    )
    if refusal is not None:
        ack(response_action="update", view=notice_view(title, refusal.message))
        return None
    reason = form_text(view, ids.REASON)
    if not reason:
        ack(response_action="errors", errors={ids.REASON: REASON_MISSING})
        return None
    return user, meta, reason


def first_submission(deps: BotDeps, view: dict) -> bool:
    """False for a Slack retry (or a double submit) of a confirmation already acted on."""
    return deps.seen_tokens.first_time(f"{view.get('callback_id')}:{view.get('id')}")


def open_loading(client: Any, trigger_id: str, title: str) -> str:
    """Open a loading modal at once (the trigger_id lives 3 s); its view id."""
    return client.views_open(trigger_id=trigger_id, view=loading_view(title))["view"]["id"]


def show_view(client: Any, view_id: str, view: dict[str, Any]) -> None:
    try:
        client.views_update(view_id=view_id, view=view)
    except SlackApiError as error:  # the user closed the modal: the message is what counts
        log.info("modal %s not updated: %s", view_id, error.response.get("error"))


def show_notice(client: Any, view_id: str, title: str, text: str, tone: str) -> None:
    show_view(client, view_id, notice_view(title, text, tone=tone))


# --- messages -------------------------------------------------------------------------------
def announce(
    client: Any, channel: str, user: str, payload: dict, *, public: bool = True
) -> str | None:
    """Post in the channel (only to the user when `public` is false); the message's ts when
    it can be updated."""
    if not public:
        tell_user(client, channel, user, payload)
        return None
    try:
        return client.chat_postMessage(channel=channel, **payload)["ts"]
    except SlackApiError as error:
        # Not in the channel (private, or a DM the bot cannot post to): tell the user alone.
        log.warning("could not post in %s: %s", channel, error.response.get("error"))
        tell_user(client, channel, user, payload)
        return None


def tell_user(client: Any, channel: str, user: str, payload: dict) -> None:
    try:
        client.chat_postEphemeral(channel=channel, user=user, **payload)
    except SlackApiError:
        log.exception("could not tell %s the outcome of a trading control", user)


def results_public(deps: BotDeps) -> bool:
    return deps.settings.slack_result_visibility != "ephemeral"


# --- following an emergency stop ------------------------------------------------------------
def _progress(stop: dict[str, Any]) -> tuple[Any, ...]:
    """What the message shows that can change while the stop runs."""
    symbols = tuple(
        (s.get("symbol"), s.get("outcome"), s.get("filled_qty"), s.get("fill_price"))
        for s in stop.get("symbols") or []
        if isinstance(s, dict)
    )
    return (
        stop.get("status"),
        stop.get("phase"),
        stop.get("orders_canceled"),
        stop.get("error"),
        stop.get("finished_at"),
        symbols,
    )


def watch_stop(
    deps: BotDeps, client: Any, channel: str, ts: str | None, stop: dict[str, Any], user: str
) -> None:
    """Follow the stop with GET /emergency-stops/{id} until it is no longer running, updating
    its message in place (`ts`) whenever something changed; without a message to update, the
    final result goes to the user who started it. Runs on the bot's worker threads."""
    try:
        _watch_stop(deps, client, channel, ts, stop, user)
    except Exception:  # a worker thread: nothing else would ever see it
        log.exception("following emergency stop %s failed", stop.get("id"))


def _watch_stop(
    deps: BotDeps, client: Any, channel: str, ts: str | None, stop: dict[str, Any], user: str
) -> None:
    mode = trading_mode(deps)
    deadline = deps.clock() + deps.stop_watch_seconds
    shown = _progress(stop)
    while stop.get("status") == RUNNING:
        if deps.clock() >= deadline:
            log.warning("emergency stop %s still running: no longer followed", stop.get("id"))
            _show_stop(client, channel, ts, user, stop_message(stop, mode, watching_ended=True))
            return
        deps.sleep(deps.stop_poll_interval)
        try:
            latest = deps.oms.get_stop(int(stop["id"]))
        except (OmsError, OmsUnavailable) as error:
            log.info("following emergency stop %s: %s", stop.get("id"), error)
            continue
        stop = latest
        if _progress(stop) != shown:
            shown = _progress(stop)
            if stop.get("status") == RUNNING and ts is not None:
                _show_stop(client, channel, ts, user, stop_message(stop, mode))
    log.info("emergency stop %s ended: %s", stop.get("id"), stop.get("status"))
    _show_stop(client, channel, ts, user, stop_message(stop, mode))


def _show_stop(client: Any, channel: str, ts: str | None, user: str, payload: dict) -> None:
    if ts is None:
        tell_user(client, channel, user, payload)
        return
    try:
        client.chat_update(channel=channel, ts=ts, **payload)
    except SlackApiError as error:
        log.warning("could not update the emergency stop's message: %s", error.response)
        tell_user(client, channel, user, payload)


# --- following an emergency sell ------------------------------------------------------------
def watch_emergency_sell(
    deps: BotDeps,
    client: Any,
    channel: str,
    ts: str,
    trade: dict[str, Any],
    user: str,
    mode: str,
    portfolio: str | None,
    whole_account: bool,
) -> None:
    """Update the emergency sell's message when the order fills (or ends) after the answer."""
    seen = (trade.get("status"), Decimal(str(trade.get("filled_qty") or 0)))
    try:
        for _ in range(deps.fill_watch_checks):
            deps.sleep(deps.fill_watch_interval)
            try:
                latest = deps.oms.get_trade(int(trade["id"]))
            except (OmsError, OmsUnavailable) as error:
                log.info("fill watch for emergency sell %s: %s", trade.get("id"), error)
                continue
            now = (latest.get("status"), Decimal(str(latest.get("filled_qty") or 0)))
            if now != seen:
                seen = now
                payload = emergency_sell_message(
                    latest, user, mode, portfolio=portfolio, whole_account=whole_account
                )
                try:
                    client.chat_update(channel=channel, ts=ts, **payload)
                except SlackApiError as error:
                    log.warning("could not update an emergency sell: %s", error.response)
            if latest.get("status") in FINAL_STATUSES:
                return
    except Exception:
        log.exception("following emergency sell %s failed", trade.get("id"))
