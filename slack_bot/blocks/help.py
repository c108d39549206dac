"""The /oms help message."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import HeaderBlock, PlainTextObject

from slack_bot.blocks.common import context, message, section

COMMANDS = (
    ("/trade [SYMBOL] [buy|sell] [QTY]", "Open the order form, prefilled.", "/trade AAPL buy 10"),
    ("/sell [SYMBOL]", "Sell all or part of a position.", "/sell AAPL"),
    ("/positions", "Positions by portfolio with P&L, and a Sell button each.", "/positions"),
    ("/account", "Equity, cash and buying power.", "/account"),
    (
        "/orders [open] [SYMBOL]",
        "Orders, newest first, page by page (open: working ones only); cancel working ones.",
        "/orders open",
    ),
    ("/quote SYMBOL", "Latest price and whether the market is open.", "/quote MSFT"),
    ("/market", "Is the market open? Next open and close.", "/market"),
    ("/oms help", "This message.", "/oms help"),
)


def help_message() -> dict[str, Any]:
    lines = [f"*`{usage}`* — {what}\n_e.g._ `{example}`" for usage, what, example in COMMANDS]
    blocks = [
        HeaderBlock(text=PlainTextObject(text="Trading from Slack")),
        section("\n\n".join(lines)),
        context(
            "Every order is confirmed before it is sent, and the confirmation shows whether "
            "it is SIMULATOR, PAPER or LIVE."
        ),
    ]
    return message(
        "OMS commands: /trade, /sell, /positions, /account, /orders, /quote, /market", blocks
    )
