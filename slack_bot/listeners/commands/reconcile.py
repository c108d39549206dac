"""/reconcile [latest]: compare the OMS with the broker now (latest: show the last report
without comparing again): how many agree, each discrepancy in one line, page by page; admins
also get the repair buttons. Only the user who asked sees it."""

from __future__ import annotations

from typing import Any

from slack_bot.auth import Attempt
from slack_bot.blocks.reconcile import DISCREPANCIES_PER_PAGE, reconcile_message
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import UserFacingError, deps_of, message, read_oms, refuse, reply

USAGE = (
    "Use /reconcile to compare the OMS with the broker now, or /reconcile latest to see the "
    "last report again."
)
READING = "the reconciliation"
LATEST_WORDS = frozenset({"latest", "last"})


def run_or_read(deps: BotDeps, text: str, user: str, user_name: str | None) -> dict[str, Any]:
    """The report the command asks for: a new one (no text), or the latest (`latest`)."""
    words = text.lower().split()
    if not words:
        return read_oms(lambda: deps.oms.reconcile(user, user_name), reading=READING)
    if len(words) == 1 and words[0] in LATEST_WORDS:
        return read_oms(
            lambda: deps.oms.reconcile_report("latest", limit=DISCREPANCIES_PER_PAGE),
            reading=READING,
        )
    raise UserFacingError(f"I did not understand “{' '.join(text.split())[:40]}”. {USAGE}")


def handle_reconcile(ack: Any, command: dict, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    user, channel = command["user_id"], command.get("channel_id", "")
    refusal = deps.authorizer.check_read(
        user, channel, "compare the OMS with the broker", attempt=Attempt.of_command(command)
    )
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    name = command.get("user_name") or None
    try:
        report = run_or_read(deps, command.get("text") or "", user, name)
        payload = reconcile_message(report, admin=deps.authorizer.is_admin(user))
    except UserFacingError as error:
        payload = message(str(error))
    reply(respond, payload)
