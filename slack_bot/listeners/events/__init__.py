"""Events: app_home_opened publishes the Home tab's dashboard of the desk."""

from __future__ import annotations

from slack_bolt import App

from slack_bot.listeners.events.app_home_opened import handle_app_home_opened


def register(app: App) -> None:
    app.event("app_home_opened")(handle_app_home_opened)
