"""Every listener, registered on the app by its package (one handler per file)."""

from __future__ import annotations

from slack_bolt import App

from slack_bot.listeners import actions, commands, events, views


def register(app: App) -> None:
    commands.register(app)
    views.register(app)
    actions.register(app)
    events.register(app)
