"""/audit [N] (admins): the latest N entries of the OMS's audit trail (20 unless told, at most
100), newest first, only to the admin who asks."""

from __future__ import annotations

from typing import Any

from slack_bot.auth import Attempt
from slack_bot.blocks.audit import DEFAULT_ENTRIES, MAX_ENTRIES, audit_message
from slack_bot.listeners.common import (
    UserFacingError,
    call_oms,
    deps_of,
    message,
    refuse,
    reply,
)

ACTION = "read the audit trail"
USAGE = f"Use /audit or /audit N (1 to {MAX_ENTRIES}), e.g. /audit 50."


def parse_count(text: str) -> int:
    words = text.split()
    if not words:
        return DEFAULT_ENTRIES
    if len(words) == 1 and words[0].isascii() and words[0].isdigit():
        count = int(words[0])
        if 1 <= count <= MAX_ENTRIES:
            return count
    raise UserFacingError(f"I did not understand “{text.strip()[:40]}”. {USAGE}")


def handle_audit(ack: Any, command: dict, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    user, channel = command["user_id"], command.get("channel_id", "")
    refusal = deps.authorizer.check_admin(
        user, channel, ACTION, attempt=Attempt.of_command(command)
    )
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    try:
        count = parse_count(command.get("text") or "")
        page = call_oms(lambda: deps.oms.audit(limit=count), reading="the audit trail")
        payload = audit_message(page.get("entries") or [], count, bool(page.get("next_cursor")))
    except UserFacingError as error:
        payload = message(str(error))
    reply(respond, payload)
