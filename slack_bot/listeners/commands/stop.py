"""/stop [reason] (admins): the emergency stop's confirmation — what it will do, counted (open
orders, positions and their market value) — with the reason prefilled from the text."""

from __future__ import annotations

from typing import Any

from slack_bot.auth import Attempt
from slack_bot.blocks.controls import STOP_TITLE, stop_confirm_view
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import deps_of, refuse, trading_mode
from slack_bot.listeners.controls import control_metadata, open_loading, quietly, show_view

ACTION = "start an emergency stop"


def handle_stop(ack: Any, command: dict, client: Any, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    user, channel = command["user_id"], command.get("channel_id", "")
    refusal = deps.authorizer.check_admin(
        user, channel, ACTION, attempt=Attempt.of_command(command)
    )
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    view_id = open_loading(client, command["trigger_id"], STOP_TITLE)
    fill_stop_confirm(deps, client, view_id, channel, user, command.get("text"))


def fill_stop_confirm(
    deps: BotDeps, client: Any, view_id: str, channel: str, user: str, reason: str | None
) -> None:
    """The counts come from GET /status and GET /positions/by-portfolio, asked at once; when
    the OMS cannot give them the confirmation says so and still lets the admin stop."""
    status_f = deps.executor.submit(quietly, deps.oms.status, "the OMS's status")
    book_f = deps.executor.submit(quietly, deps.oms.positions_by_portfolio, "positions")
    status, book = status_f.result(), book_f.result()
    open_orders = status.get("open_orders") if status else None
    view = stop_confirm_view(
        open_orders=open_orders if isinstance(open_orders, int) else None,
        book=book,
        state=status.get("trading") if status else None,
        mode=str(status.get("mode")) if status and status.get("mode") else trading_mode(deps),
        reason=reason,
        metadata=control_metadata(channel, user),
        running_stop_id=status.get("running_stop_id") if status else None,
    )
    show_view(client, view_id, view)
