"""Slash commands: /trade /sell /positions /account /orders /quote /market /oms."""

from __future__ import annotations

from slack_bolt import App

from slack_bot.listeners.commands.account import handle_account
from slack_bot.listeners.commands.market import handle_market
from slack_bot.listeners.commands.oms import handle_oms
from slack_bot.listeners.commands.orders import handle_orders
from slack_bot.listeners.commands.positions import handle_positions
from slack_bot.listeners.commands.quote import handle_quote
from slack_bot.listeners.commands.sell import handle_sell
from slack_bot.listeners.commands.trade import handle_trade


def register(app: App) -> None:
    app.command("/trade")(handle_trade)
    app.command("/sell")(handle_sell)
    app.command("/positions")(handle_positions)
    app.command("/account")(handle_account)
    app.command("/orders")(handle_orders)
    app.command("/quote")(handle_quote)
    app.command("/market")(handle_market)
    app.command("/oms")(handle_oms)
