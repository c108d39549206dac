"""Buttons: Sell on a position, Cancel on an order, and list pages."""

from __future__ import annotations

from slack_bolt import App

from slack_bot.blocks import ids
from slack_bot.listeners.actions.order_cancel import handle_order_cancel
from slack_bot.listeners.actions.page import handle_page
from slack_bot.listeners.actions.position_sell import handle_position_sell


def register(app: App) -> None:
    app.action(ids.POSITION_SELL)(handle_position_sell)
    app.action(ids.ORDER_CANCEL)(handle_order_cancel)
    app.action(ids.PAGE_NEXT)(handle_page)
    app.action(ids.PAGE_PREV)(handle_page)
