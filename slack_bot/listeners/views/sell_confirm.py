"""Sell confirmation submitted: place it, exactly once per order token."""

from __future__ import annotations

from typing import Any

from slack_bot.listeners.views.trade_confirm import confirm_and_place


def handle_sell_confirm(ack: Any, body: dict, view: dict, client: Any, context: Any) -> None:
    confirm_and_place(ack, body, view, client, context, title="Sell")
