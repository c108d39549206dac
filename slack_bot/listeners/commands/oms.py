"""/oms help (and any text it does not know): what each command does, with examples."""

from __future__ import annotations

from typing import Any

from slack_bot.blocks.help import help_message
from slack_bot.listeners.common import reply


def handle_oms(ack: Any, respond: Any) -> None:
    ack()
    reply(respond, help_message())
