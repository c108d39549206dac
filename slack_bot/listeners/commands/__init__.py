"""Slash commands: /trade /sell /positions /account /orders /quote /market /oms, the broker's
view /history /reconcile, and the trading controls /desk, /stop /halt /resume /portfolio
/audit."""

from __future__ import annotations

from slack_bolt import App

from slack_bot.listeners.commands.account import handle_account
from slack_bot.listeners.commands.audit import handle_audit
from slack_bot.listeners.commands.desk import handle_desk
from slack_bot.listeners.commands.halt import handle_halt
from slack_bot.listeners.commands.history import handle_history
from slack_bot.listeners.commands.market import handle_market
from slack_bot.listeners.commands.oms import handle_oms
from slack_bot.listeners.commands.orders import handle_orders
from slack_bot.listeners.commands.pnl import handle_pnl
from slack_bot.listeners.commands.portfolio import handle_portfolio
from slack_bot.listeners.commands.portfolios import handle_portfolios
from slack_bot.listeners.commands.positions import handle_positions
from slack_bot.listeners.commands.quote import handle_quote
from slack_bot.listeners.commands.reconcile import handle_reconcile
from slack_bot.listeners.commands.resume import handle_resume
from slack_bot.listeners.commands.sell import handle_sell
from slack_bot.listeners.commands.stop import handle_stop
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
    app.command("/desk")(handle_desk)
    app.command("/stop")(handle_stop)
    app.command("/halt")(handle_halt)
    app.command("/resume")(handle_resume)
    app.command("/portfolio")(handle_portfolio)
    app.command("/portfolios")(handle_portfolios)
    app.command("/audit")(handle_audit)
    app.command("/history")(handle_history)
    app.command("/reconcile")(handle_reconcile)
    app.command("/pnl")(handle_pnl)
