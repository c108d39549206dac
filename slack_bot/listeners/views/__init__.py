"""Modal submissions: the trade and sell forms and their confirmations, and the trading
controls' confirmations."""

from __future__ import annotations

from slack_bolt import App

from slack_bot.blocks import ids
from slack_bot.listeners.views.halt_confirm import handle_halt_confirm
from slack_bot.listeners.views.home_sell_confirm import handle_home_sell_confirm, opened_from_home
from slack_bot.listeners.views.portfolio_new import PORTFOLIO_NEW_FORM, handle_portfolio_new
from slack_bot.listeners.views.portfolio_stop_confirm import handle_portfolio_stop_confirm
from slack_bot.listeners.views.resume_confirm import handle_resume_confirm
from slack_bot.listeners.views.sell_confirm import handle_sell_confirm
from slack_bot.listeners.views.sell_form import handle_sell_form
from slack_bot.listeners.views.stop_confirm import handle_stop_confirm
from slack_bot.listeners.views.trade_confirm import handle_trade_confirm
from slack_bot.listeners.views.trade_form import handle_trade_form


def register(app: App) -> None:
    app.view(ids.TRADE_FORM)(handle_trade_form)
    app.view(ids.TRADE_CONFIRM)(handle_trade_confirm)
    app.view(ids.SELL_FORM)(handle_sell_form)
    # A sell modal opened from the Home tab first: it also republishes the tab.
    app.view(ids.SELL_CONFIRM, matchers=[opened_from_home])(handle_home_sell_confirm)
    app.view(ids.SELL_CONFIRM)(handle_sell_confirm)
    app.view(ids.STOP_CONFIRM)(handle_stop_confirm)
    app.view(ids.HALT_CONFIRM)(handle_halt_confirm)
    app.view(ids.RESUME_CONFIRM)(handle_resume_confirm)
    app.view(ids.PORTFOLIO_STOP_CONFIRM)(handle_portfolio_stop_confirm)
    app.view(PORTFOLIO_NEW_FORM)(handle_portfolio_new)
