"""What the listeners share: OMS calls turned into user-facing sentences, replies, the mode."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from slack_bot import wording
from slack_bot.auth import Attempt
from slack_bot.blocks.common import error_blocks
from slack_bot.deps import BotDeps
from slack_bot.oms_client import OmsError, OmsUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

OMS_DOWN_READ = wording.OMS_DOWN_READ
OMS_DOWN_TRADE = wording.OMS_DOWN_TRADE
OMS_MAYBE_SENT = wording.OMS_MAYBE_SENT


class UserFacingError(Exception):
    """One clear sentence for the user; the details went to the log."""


def deps_of(context: Any) -> BotDeps:
    return context["deps"]


def call_oms(
    fn: Callable[[], T], *, trading: bool = False, cancel: bool = False, reading: str = "that"
) -> T:
    """Run an OMS call; turn every failure into a UserFacingError with one human sentence
    (`reading` names what a read was for: "positions", "your orders"). The OMS's own words
    go to the log."""
    try:
        return fn()
    except OmsUnavailable as error:
        log.warning("OMS unavailable: %s", error)
        if trading and getattr(error, "maybe_sent", False):
            maybe = wording.OMS_MAYBE_CANCELED if cancel else OMS_MAYBE_SENT
            raise UserFacingError(maybe) from None
        raise UserFacingError(OMS_DOWN_TRADE if trading else OMS_DOWN_READ) from None
    except OmsError as error:
        log.info("OMS refused: HTTP %s %s: %s", error.status, error.code, error.message)
        sentence = sentence_for(error, trading=trading, cancel=cancel, reading=reading)
        raise UserFacingError(sentence) from None


def read_oms(fn: Callable[[], T], *, reading: str) -> T:
    """An OMS read of the broker history or a reconciliation report: like `call_oms`, with
    the sentences for a report or a trade that is not there (`wording.history_read_error`)."""
    try:
        return fn()
    except OmsUnavailable as error:
        log.warning("OMS unavailable: %s", error)
        raise UserFacingError(OMS_DOWN_READ) from None
    except OmsError as error:
        log.info("OMS refused: HTTP %s %s: %s", error.status, error.code, error.message)
        sentence = wording.history_read_error(error.code, error.message, error.details, reading)
        raise UserFacingError(sentence) from None


def sentence_for(
    error: OmsError, *, trading: bool = False, cancel: bool = False, reading: str = "that"
) -> str:
    """The trader's sentence for an OMS refusal."""
    if trading:
        return wording.trade_error(error.code, error.message, error.details, cancel=cancel)
    return wording.read_error(error.code, error.message, error.details, reading)


def message(text: str) -> dict[str, Any]:
    return {"text": text, "blocks": error_blocks(text)}


_mode_cache: dict[int, tuple[float, str]] = {}
_mode_lock = threading.Lock()
MODE_TTL_SECONDS = 60.0


def trading_mode(deps: BotDeps) -> str:
    """SIMULATOR / PAPER / LIVE as the OMS reports it (cached for a minute)."""
    key = id(deps)
    now = time.monotonic()
    with _mode_lock:
        cached = _mode_cache.get(key)
    if cached is not None and now - cached[0] < MODE_TTL_SECONDS:
        return cached[1]
    try:
        mode = str(deps.oms.health().get("mode") or "UNKNOWN")
    except (OmsUnavailable, OmsError):
        return cached[1] if cached else "UNKNOWN"
    with _mode_lock:
        _mode_cache[key] = (now, mode)
    return mode


def reply(respond: Any, payload: dict[str, Any], *, in_channel: bool = False) -> None:
    respond(
        text=payload.get("text", ""),
        blocks=payload.get("blocks"),
        response_type="in_channel" if in_channel else "ephemeral",
    )


def refuse(respond: Any, sentence: str) -> None:
    reply(respond, message(sentence))


def answer_read(
    ack: Any,
    command: dict,
    respond: Any,
    context: Any,
    build: Callable[[BotDeps, str], dict[str, Any]],
) -> None:
    """A read-only command: ack, check who asks, build the answer from the OMS, reply.
    `build(deps, text)` gets the command's text; its one-sentence failures become the reply."""
    ack()
    deps = deps_of(context)
    refusal = deps.authorizer.check_read(
        command["user_id"], command.get("channel_id", ""), attempt=Attempt.of_command(command)
    )
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    try:
        payload = build(deps, (command.get("text") or "").strip())
    except UserFacingError as error:
        payload = message(str(error))
    reply(respond, payload)
