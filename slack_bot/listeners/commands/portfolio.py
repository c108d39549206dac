"""/portfolio pause NAME [reason], /portfolio resume NAME [reason] (admins, at once) and
/portfolio stop NAME [reason] (admins, after a confirmation: pause it, cancel its working
orders, close its holdings)."""

from __future__ import annotations

from typing import Any

from slack_bot.auth import Attempt, Refusal
from slack_bot.blocks.controls import (
    PORTFOLIO_STOP_TITLE,
    portfolio_book,
    portfolio_status_message,
    portfolio_stop_confirm_view,
)
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import (
    UserFacingError,
    deps_of,
    message,
    refuse,
    reply,
    trading_mode,
)
from slack_bot.listeners.controls import (
    call_control,
    control_metadata,
    open_loading,
    quietly,
    show_notice,
    show_view,
)

USAGE = (
    "Use /portfolio pause NAME [reason], /portfolio resume NAME [reason] or "
    "/portfolio stop NAME [reason]."
)
ACTIONS = {
    "pause": "pause portfolios",
    "resume": "resume portfolios",
    "stop": "stop portfolios",
}
OPEN_ORDERS_COUNTED = 200  # one OMS page: beyond it the confirmation says "200+"


def parse_portfolio_text(text: str) -> tuple[str, str, str]:
    """(what, name, reason) from `pause main news pending`; UserFacingError with the usage."""
    words = text.split()
    if not words or words[0].lower() not in ACTIONS:
        if words and words[0].lower() != "help":
            raise UserFacingError(f"I did not understand “{text.strip()[:60]}”. {USAGE}")
        raise UserFacingError(USAGE)
    if len(words) < 2:
        raise UserFacingError(f"Which portfolio? {USAGE}")
    return words[0].lower(), words[1], " ".join(words[2:])


def handle_portfolio(ack: Any, command: dict, client: Any, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    user, channel = command["user_id"], command.get("channel_id", "")
    text = command.get("text") or ""
    words = text.split()
    what = words[0].lower() if words and words[0].lower() in ACTIONS else None
    refusal: Refusal | None = deps.authorizer.check_admin(
        user,
        channel,
        ACTIONS.get(what or "", "manage portfolios"),
        attempt=Attempt(
            "/portfolio" + (f" {what}" if what else ""),
            command.get("user_name"),
            f"portfolio {words[1][:40]}" if what and len(words) > 1 else None,
        ),
    )
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    try:
        what, name, reason = parse_portfolio_text(text)
    except UserFacingError as error:
        reply(respond, message(str(error)))
        return
    if what == "stop":
        view_id = open_loading(client, command["trigger_id"], PORTFOLIO_STOP_TITLE)
        fill_portfolio_stop_confirm(deps, client, view_id, channel, user, name, reason)
        return
    status = "paused" if what == "pause" else "active"
    try:
        portfolio = call_control(
            lambda: deps.oms.set_portfolio_status(
                name,
                status,
                requested_by=user,
                requested_by_name=command.get("user_name"),
                reason=reason,
            )
        )
    except UserFacingError as error:
        reply(respond, message(str(error)))
        return
    reply(respond, portfolio_status_message(portfolio, user, reason), in_channel=True)


def fill_portfolio_stop_confirm(
    deps: BotDeps,
    client: Any,
    view_id: str,
    channel: str,
    user: str,
    name: str,
    reason: str,
) -> None:
    """What stopping the portfolio will do, counted from its book and its working orders."""
    book_f = deps.executor.submit(quietly, deps.oms.positions_by_portfolio, "positions")
    orders = quietly(
        lambda: deps.oms.list_trades(portfolio=name, open=True, limit=OPEN_ORDERS_COUNTED),
        "the portfolio's working orders",
    )
    book = book_f.result()
    portfolio = portfolio_book(book, name)
    if book is not None and portfolio is None:
        known = ", ".join(str(p.get("name")) for p in (book.get("portfolios") or [])[:20])
        show_notice(
            client,
            view_id,
            PORTFOLIO_STOP_TITLE,
            f"There is no portfolio named “{name[:40]}”"
            + (f" (there are: {known})." if known else "."),
            "error",
        )
        return
    canonical = str(portfolio.get("name")) if portfolio else name
    view = portfolio_stop_confirm_view(
        canonical,
        portfolio,
        len(orders.get("trades") or []) if orders else None,
        bool(orders and orders.get("next_cursor")),
        trading_mode(deps),
        reason,
        control_metadata(channel, user, portfolio=canonical),
    )
    show_view(client, view_id, view)
