"""A sell confirmation whose modal was opened from the Home tab: placed exactly as any other
(views/sell_confirm.py), then the user's Home tab is republished with the new position."""

from __future__ import annotations

from typing import Any

from slack_bot.listeners.common import deps_of
from slack_bot.listeners.events.dashboard import home_sell_views, publish_home
from slack_bot.listeners.views.trade_confirm import confirm_and_place


def opened_from_home(body: dict, context: Any) -> bool:
    """A listener matcher: the modal is one the Home tab's Sell opened."""
    view_id = str((body.get("view") or {}).get("id") or "")
    return home_sell_views(deps_of(context)).user_of(view_id) is not None


def handle_home_sell_confirm(ack: Any, body: dict, view: dict, client: Any, context: Any) -> None:
    confirm_and_place(ack, body, view, client, context, title="Sell")
    publish_home(deps_of(context), client, body["user"]["id"])
