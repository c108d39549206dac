"""The /audit message: the latest entries of the OMS's audit trail, newest first, one line
each — when, who, what, to what, the result (refused and failed ones stand out) and why."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import HeaderBlock, PlainTextObject

from slack_bot import formatting
from slack_bot.blocks.common import SECTION_TEXT_LIMIT, context, message, section, user_text
from slack_bot.blocks.controls import actor_mention

DEFAULT_ENTRIES = 20
MAX_ENTRIES = 100
LINE_LIMIT = 400
RESULTS = {
    "ok": "ok",
    "refused": ":no_entry: *REFUSED*",
    "failed": ":x: *FAILED*",
}
# The details worth a glance, in this order: why it was done, what was refused and why, what
# was attempted (refusals by the bot), what went wrong.
DETAIL_KEYS = ("reason", "refused", "attempted", "error", "problem")


def _plain(value: object, limit: int) -> str:
    return user_text(" ".join(str(value).split()), limit)


def _details(details: object, limit: int) -> str:
    """`reason: flash crash · refused: …`, escaped, within `limit` characters."""
    if not isinstance(details, dict):
        return ""
    parts = []
    for key in DETAIL_KEYS:
        value = details.get(key)
        if value not in (None, "", [], {}):
            parts.append(f"{key}: {' '.join(str(value).split())}")
    return user_text(" · ".join(parts), limit) if parts else ""


def audit_line(entry: dict[str, Any]) -> str:
    """`<!date…> · <@U…> · *halt* · trading · ok · reason: flash crash`."""
    kind = entry.get("actor_kind")
    actor = entry.get("actor")
    if kind == "system":
        who = "system"
    elif kind == "api" and actor not in (None, "", "api"):
        who = f"api ({_plain(actor, 60)})"
    else:
        who = actor_mention(actor, entry.get("actor_name"))
    result = str(entry.get("result") or "ok")
    parts = [
        formatting.slack_time(entry.get("created_at"), formatting.DAY_AND_TIME_SECS),
        who,
        f"*{_plain(entry.get('action') or '?', 40)}*",
    ]
    if entry.get("target"):
        parts.append(_plain(entry["target"], 80))
    parts.append(RESULTS.get(result, _plain(result, 20)))
    line = " · ".join(parts)
    details = _details(entry.get("details"), max(LINE_LIMIT - len(line), 40))
    return f"{line} · {details}" if details else line


def audit_message(entries: list[dict[str, Any]], asked: int, more: bool) -> dict[str, Any]:
    """Up to `asked` entries, newest first, packed into sections within Slack's limits."""
    if not entries:
        return message(
            "The audit trail is empty.",
            [section(":information_source: The audit trail is empty.")],
        )
    lines = [audit_line(entry) for entry in entries]
    blocks: list[Any] = [
        HeaderBlock(text=PlainTextObject(text=f"Audit trail — latest {len(entries)}")),
    ]
    chunk: list[str] = []
    for line in lines:
        if chunk and sum(len(x) + 1 for x in chunk) + len(line) > SECTION_TEXT_LIMIT - 10:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(section("\n".join(chunk)))
    refused = sum(1 for e in entries if e.get("result") == "refused")
    failed = sum(1 for e in entries if e.get("result") == "failed")
    notes = [f"Newest first · {len(entries)} shown"]
    if refused or failed:
        notes.append(f"{refused} refused, {failed} failed")
    if more:
        notes.append(f"older entries exist: /audit {MAX_ENTRIES} shows up to {MAX_ENTRIES}")
    blocks.append(context(" · ".join(notes)))
    return message(f"Audit trail: the latest {len(entries)} entries (asked for {asked})", blocks)
