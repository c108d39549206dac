"""/desk (traders and admins): the desk at a glance, only to the one who asks."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.status import status_message
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import answer_read, call_oms


def status_answer(deps: BotDeps, _text: str = "") -> dict[str, Any]:
    return status_message(call_oms(deps.oms.status, reading="the OMS's status"))


def handle_desk(ack: Any, command: dict, respond: Any, context: Any) -> None:
    answer_read(ack, command, respond, context, status_answer)
