"""app_home_opened: the user opened the app's Home tab — publish their dashboard of the desk
(views.publish). The Messages tab opening needs nothing."""

from __future__ import annotations

from typing import Any

from slack_bot.listeners.common import deps_of
from slack_bot.listeners.events.dashboard import publish_home


def handle_app_home_opened(event: dict, client: Any, context: Any) -> None:
    # bolt acks events itself, before this runs: the OMS reads never delay Slack.
    if event.get("tab") != "home":
        return
    user = event.get("user")
    if not isinstance(user, str) or not user:
        return
    publish_home(deps_of(context), client, user)
