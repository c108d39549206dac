"""Buttons: Sell and Emergency sell on a position, Cancel on an order, list pages, Resume
trading, a reconciliation's repairs and a history trade's legs."""

from __future__ import annotations

from slack_bolt import App

from slack_bot.blocks import ids
from slack_bot.blocks.home import HOME_PORTFOLIO_PAUSE, HOME_PORTFOLIO_RESUME
from slack_bot.listeners.actions.controls_resume import handle_controls_resume
from slack_bot.listeners.actions.history_legs import handle_history_legs
from slack_bot.listeners.actions.home_portfolio_status import handle_home_portfolio_status
from slack_bot.listeners.actions.home_position_close_account import (
    handle_home_position_close_account,
)
from slack_bot.listeners.actions.home_position_emergency_sell import (
    handle_home_position_emergency_sell,
)
from slack_bot.listeners.actions.home_position_sell import handle_home_position_sell
from slack_bot.listeners.actions.order_cancel import handle_order_cancel
from slack_bot.listeners.actions.page import handle_page
from slack_bot.listeners.actions.position_close_account import handle_position_close_account
from slack_bot.listeners.actions.position_emergency_sell import handle_position_emergency_sell
from slack_bot.listeners.actions.position_sell import handle_position_sell
from slack_bot.listeners.actions.reconcile_repair import handle_reconcile_repair
from slack_bot.listeners.events.dashboard import clicked_in_home


def register(app: App) -> None:
    # Clicks in the App Home tab (no channel, no response_url) first; bolt runs the first
    # listener that matches, so the same buttons in messages reach the ones below.
    home = [clicked_in_home]
    app.action(ids.POSITION_SELL, matchers=home)(handle_home_position_sell)
    app.action(ids.POSITION_EMERGENCY_SELL, matchers=home)(handle_home_position_emergency_sell)
    app.action(ids.POSITION_CLOSE_ACCOUNT, matchers=home)(handle_home_position_close_account)
    app.action(HOME_PORTFOLIO_PAUSE)(handle_home_portfolio_status)
    app.action(HOME_PORTFOLIO_RESUME)(handle_home_portfolio_status)
    app.action(ids.POSITION_SELL)(handle_position_sell)
    app.action(ids.ORDER_CANCEL)(handle_order_cancel)
    app.action(ids.PAGE_NEXT)(handle_page)
    app.action(ids.PAGE_PREV)(handle_page)
    app.action(ids.CONTROLS_RESUME)(handle_controls_resume)
    app.action(ids.POSITION_EMERGENCY_SELL)(handle_position_emergency_sell)
    app.action(ids.POSITION_CLOSE_ACCOUNT)(handle_position_close_account)
    app.action(ids.RECONCILE_REPAIR)(handle_reconcile_repair)
    app.action(ids.HISTORY_LEGS)(handle_history_legs)
