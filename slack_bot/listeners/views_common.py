"""Small modal views the listeners show while working or when something went wrong."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import PlainTextObject
from slack_sdk.models.views import View

from slack_bot.blocks.common import error_blocks


def notice_view(title: str, text: str, *, private_metadata: str | None = None) -> dict[str, Any]:
    """A modal with one message and a Close button."""
    view = View(
        type="modal",
        title=PlainTextObject(text=title[:24]),
        close=PlainTextObject(text="Close"),
        blocks=error_blocks(text),
        private_metadata=private_metadata,
    )
    return view.to_dict()
