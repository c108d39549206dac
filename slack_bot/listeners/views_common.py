"""Small modal views the listeners show while working, when done, or when something went wrong."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import PlainTextObject
from slack_sdk.models.views import View

from slack_bot.blocks.common import notice_blocks


def notice_view(
    title: str, text: str, *, tone: str = "error", private_metadata: str | None = None
) -> dict[str, Any]:
    """A modal with one sentence, marked by its outcome (`tone`: success, working, info,
    warning or error), and a Close button."""
    view = View(
        type="modal",
        title=PlainTextObject(text=title[:24]),
        close=PlainTextObject(text="Close"),
        blocks=notice_blocks(text, tone),
        private_metadata=private_metadata,
    )
    return view.to_dict()
