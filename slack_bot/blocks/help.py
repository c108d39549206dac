"""The /oms help message: every command for traders; the trading controls for admins."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import HeaderBlock, PlainTextObject

from slack_bot.blocks.common import context, message, section

COMMANDS = (
    ("/trade [SYMBOL] [buy|sell] [QTY]", "Open the order form, prefilled.", "/trade AAPL buy 10"),
    ("/sell [SYMBOL]", "Sell all or part of a position.", "/sell AAPL"),
    (
        "/positions",
        "Positions by portfolio with P&L, a Sell button each, and Emergency sell (at market "
        "now, pausing the portfolio).",
        "/positions",
    ),
    ("/account", "Equity, cash and buying power.", "/account"),
    (
        "/orders [open] [SYMBOL]",
        "Orders, newest first, page by page (open: working ones only); cancel working ones.",
        "/orders open",
    ),
    (
        "/history [SYMBOL] [strategy]",
        "Trades at the broker grouped by strategy (iron condor, vertical, straddle, strangle, "
        "single leg, options, equity), newest first, with their legs.",
        "/history SPY iron condor",
    ),
    (
        "/reconcile [latest]",
        "Compare the OMS with the broker now: what is in sync, and each difference in one "
        "line (admins can adopt missing orders and refresh statuses).",
        "/reconcile",
    ),
    ("/quote SYMBOL", "Latest price and whether the market is open.", "/quote MSFT"),
    ("/market", "Is the market open? Next open and close.", "/market"),
    (
        "/desk",
        "Trading ACTIVE or HALTED (by whom, why), today's P&L against the loss limit, open "
        "orders, broker and stream.",
        "/desk",
    ),
    ("/oms help", "This message.", "/oms help"),
)
ADMIN_COMMANDS = (
    (
        "/stop [reason]",
        "Emergency stop: halt trading, cancel every open order, close every position — after "
        "a confirmation with the counts.",
        "/stop flash crash",
    ),
    (
        "/halt [reason]",
        "Refuse every new order until /resume (nothing is canceled or closed).",
        "/halt news pending",
    ),
    ("/resume [reason]", "Accept new orders again.", "/resume incident over"),
    (
        "/portfolio pause|resume|stop NAME [reason]",
        "Pause or resume one portfolio; stop: pause it, cancel its orders, close its holdings.",
        "/portfolio pause growth rebalancing",
    ),
    ("/audit [N]", "The latest N audit entries (20; at most 100).", "/audit 50"),
)


def _lines(commands: tuple[tuple[str, str, str], ...]) -> str:
    return "\n\n".join(
        f"*`{usage}`* — {what}\n_e.g._ `{example}`" for usage, what, example in commands
    )


def help_message(admin: bool = False) -> dict[str, Any]:
    """Every command for traders; `admin` adds the trading controls (only admins may use
    them, so only admins are shown them)."""
    blocks: list[Any] = [
        HeaderBlock(text=PlainTextObject(text="Trading from Slack")),
        section(_lines(COMMANDS)),
    ]
    if admin:
        blocks += [
            HeaderBlock(text=PlainTextObject(text="Trading controls (admins)")),
            section(_lines(ADMIN_COMMANDS)),
        ]
    blocks.append(
        context(
            "Every order is confirmed before it is sent, and the confirmation shows whether "
            "it is SIMULATOR, PAPER or LIVE."
        )
    )
    text = (
        "OMS commands: /trade, /sell, /positions, /account, /orders, /history, /reconcile, "
        "/quote, /market, /desk"
    )
    if admin:
        text += "; admins: /stop, /halt, /resume, /portfolio, /audit"
    return message(text, blocks)
