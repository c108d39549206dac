"""Next / previous page of a /positions, /orders, /history or /reconcile list (the message is
replaced).

/orders, /history and /reconcile buttons carry the OMS's cursors (one OMS request per page);
/positions buttons carry the page number, and the page is built from one fresh OMS request
(one broker call)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bot.auth import Attempt
from slack_bot.blocks import history, reconcile
from slack_bot.blocks.common import parse_page_value
from slack_bot.blocks.orders import OrdersPage
from slack_bot.blocks.paging import CursorPage
from slack_bot.deps import BotDeps
from slack_bot.listeners.commands.history import checked_filters, history_page
from slack_bot.listeners.commands.orders import orders_page
from slack_bot.listeners.commands.positions import positions_page
from slack_bot.listeners.common import UserFacingError, deps_of, message, read_oms, refuse

log = logging.getLogger(__name__)

STALE_BUTTON = "This button is from an older message — run the command again."


def handle_page(ack: Any, body: dict, action: dict, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    refusal = deps.authorizer.check_read(
        body["user"]["id"],
        (body.get("channel") or {}).get("id", ""),
        attempt=Attempt.of_button(body, action),
    )
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    value = action.get("value") or ""
    try:
        wanted = parse_page_value(value)
        if wanted["kind"] == "orders":
            payload = orders_page(deps, OrdersPage.from_value(value))
        elif wanted["kind"] == "positions":
            admin = deps.authorizer.is_admin(body["user"]["id"])
            payload = positions_page(deps, wanted["page"], admin=admin)
        elif wanted["kind"] == history.KIND:
            where = checked_filters(CursorPage.from_value(value, history.KIND))
            payload = history_page(deps, where)
        elif wanted["kind"] == reconcile.KIND:
            admin = deps.authorizer.is_admin(body["user"]["id"])
            payload = reconcile_page(deps, CursorPage.from_value(value, reconcile.KIND), admin)
        else:
            raise ValueError(f"unknown list {wanted['kind']!r}")
    except ValueError as error:
        log.info("page button with an unusable value: %s", error)
        payload = message(STALE_BUTTON)
    except UserFacingError as error:
        payload = message(str(error))
    respond(replace_original=True, text=payload["text"], blocks=payload.get("blocks"))


def reconcile_page(deps: BotDeps, where: CursorPage, admin: bool) -> dict[str, Any]:
    """One page of a report's discrepancies: one OMS request, at the page's cursor."""
    report_id = where.filters.get("report")
    if not isinstance(report_id, int) or report_id < 1 or set(where.filters) != {"report"}:
        raise ValueError("not a reconcile page value")
    report = read_oms(
        lambda: deps.oms.reconcile_report(
            report_id, limit=reconcile.DISCREPANCIES_PER_PAGE, cursor=where.cursor
        ),
        reading="the reconciliation report",
    )
    return reconcile.reconcile_message(report, where, admin=admin)
