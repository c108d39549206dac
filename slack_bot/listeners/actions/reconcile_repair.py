"""Adopt N missing orders / Refresh N statuses on a /reconcile report (admins; Slack asked
first): the OMS repairs every open discrepancy that repair applies to, and the report is
shown again with the outcome on top. A click by anyone else is refused and recorded."""

from __future__ import annotations

import logging
from typing import Any

from slack_bot import wording
from slack_bot.auth import Attempt, user_name_of
from slack_bot.blocks.reconcile import parse_repair_value, reconcile_message, repair_notice
from slack_bot.listeners.common import UserFacingError, deps_of, message, refuse, reply
from slack_bot.listeners.controls import call_control

log = logging.getLogger(__name__)

ACTION = "repair reconciliation discrepancies"
STALE_BUTTON = "This button is from an older message — run /reconcile again."


def handle_reconcile_repair(ack: Any, body: dict, action: dict, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id", "")
    try:
        chosen: dict[str, Any] | None = parse_repair_value(str(action.get("value") or ""))
    except ValueError:
        chosen = None
    target = f"reconcile report {chosen['report']} ({chosen['action']})" if chosen else None
    refusal = deps.authorizer.check_admin(
        user, channel, ACTION, attempt=Attempt.of_button(body, action, target)
    )
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    if chosen is None:
        reply(respond, message(STALE_BUTTON))
        return
    report_id, repair = chosen["report"], chosen["action"]
    log.info("%s of reconcile report %s requested by %s", repair, report_id, user)
    try:
        outcome = call_control(
            lambda: deps.oms.repair_reconcile(
                report_id, repair, requested_by=user, requested_by_name=user_name_of(body)
            ),
            maybe=wording.OMS_MAYBE_REPAIRED,
        )
    except UserFacingError as error:
        # A new message: the report stays as it was, its buttons with it.
        reply(respond, message(str(error)))
        return
    report = outcome.get("report") if isinstance(outcome.get("report"), dict) else {}
    payload = reconcile_message(report, admin=True, notice=repair_notice(outcome, repair))
    respond(replace_original=True, text=payload["text"], blocks=payload["blocks"])
