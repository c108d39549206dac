"""The new-portfolio form submitted (admins): checked field by field, then POST /portfolios
while Slack waits, so that the OMS's refusals (capital beyond what is available, a name
taken, a value it does not take) show on the field to fix; once created, the channel is told."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from slack_bot import formatting, wording
from slack_bot.auth import Attempt, user_name_of
from slack_bot.blocks.portfolios import (
    NEW_CAPITAL,
    NEW_LOSS_LIMIT,
    NEW_NAME,
    PORTFOLIO_NEW_FORM,
    PORTFOLIO_NEW_TITLE,
    portfolio_created_message,
)
from slack_bot.listeners.commands.portfolio import ACTIONS, parse_amount
from slack_bot.listeners.common import deps_of
from slack_bot.listeners.controls import announce, read_metadata
from slack_bot.listeners.views_common import notice_view
from slack_bot.oms_client import OmsError, OmsUnavailable

__all__ = ["PORTFOLIO_NEW_FORM", "handle_portfolio_new", "parse_portfolio_form"]

log = logging.getLogger(__name__)

# The OMS's rule for a portfolio's name (oms_api.portfolios.models), once lower-cased.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# The OMS's request fields → the form's fields, for its 422s.
FIELDS = {"name": NEW_NAME, "allocated_capital": NEW_CAPITAL, "daily_loss_limit": NEW_LOSS_LIMIT}
MAYBE_CREATED = (
    "The OMS did not answer in time — the portfolio may have been created. Check /portfolios "
    "before trying again."
)


@dataclass(frozen=True)
class PortfolioDraft:
    name: str
    capital: Decimal
    daily_loss_limit: Decimal | None


def _text(values: dict[str, Any], block_id: str) -> str:
    value = (values.get(block_id) or {}).get(block_id, {}).get("value")
    return value.strip() if isinstance(value, str) else ""


def parse_portfolio_form(values: dict[str, Any]) -> PortfolioDraft | dict[str, str]:
    """The form's values → a draft, or {block_id: what to fix}."""
    errors: dict[str, str] = {}
    name = _text(values, NEW_NAME).lower()
    if not NAME_PATTERN.match(name):
        errors[NEW_NAME] = (
            "Use lower-case letters, digits, - and _ (starting with a letter or digit), at most "
            "40 characters."
        )
    capital_text = _text(values, NEW_CAPITAL)
    capital = parse_amount(capital_text)
    if capital is None:
        errors[NEW_CAPITAL] = "Enter the capital in dollars, more than 0, e.g. 25000 or 2,500.50."
    limit_text = _text(values, NEW_LOSS_LIMIT)
    loss_limit = parse_amount(limit_text) if limit_text else None
    if limit_text and loss_limit is None:
        errors[NEW_LOSS_LIMIT] = (
            "Enter the daily loss limit in dollars, more than 0, or leave it empty."
        )
    if errors or capital is None:
        return errors
    return PortfolioDraft(name, capital, loss_limit)


def refusal_errors(error: OmsError, draft: PortfolioDraft) -> dict[str, str]:
    """The OMS's refusal on the field it is about."""
    details = error.details
    if error.code == "capital_exceeds_available":
        available = formatting.to_decimal(details.get("available_capital"))
        if available is None:
            return {NEW_CAPITAL: wording.as_sentence(error.message)}
        why = (
            f" (buying power {formatting.money(details.get('buying_power'))}, "
            f"{formatting.money(details.get('allocated_capital'))} already given to portfolios)"
        )
        if available <= 0:
            return {NEW_CAPITAL: f"No capital is available{why}."}
        return {
            NEW_CAPITAL: f"Only {formatting.money(available)} is available{why}: "
            f"{formatting.money(draft.capital)} is too much."
        }
    if error.code == "portfolio_exists":
        return {NEW_NAME: f"A portfolio named {draft.name} already exists — choose another name."}
    problems = details.get("problems")
    if error.status == 422 and isinstance(problems, list) and problems:
        first = problems[0] if isinstance(problems[0], dict) else {}
        block = FIELDS.get(str(first.get("field") or ""), NEW_NAME)
        return {block: wording.as_sentence(str(first.get("problem") or error.message))}
    return {NEW_NAME: wording.control_error(error.code, error.message, details)}


def handle_portfolio_new(ack: Any, body: dict, view: dict, client: Any, context: Any) -> None:
    deps = deps_of(context)
    user = body["user"]["id"]
    meta = read_metadata(view)
    channel = meta.get("channel_id", "")
    refusal = deps.authorizer.check_admin(
        user, channel, ACTIONS["new"], attempt=Attempt.of_form(body, view)
    )
    if refusal is not None:
        ack(response_action="update", view=notice_view(PORTFOLIO_NEW_TITLE, refusal.message))
        return
    draft = parse_portfolio_form((view.get("state") or {}).get("values") or {})
    if isinstance(draft, dict):
        ack(response_action="errors", errors=draft)
        return
    # Slack waits for this answer: the OMS's refusal can only go on a field from here.
    try:
        portfolio = deps.oms.create_portfolio(
            draft.name,
            draft.capital,
            draft.daily_loss_limit,
            requested_by=user,
            requested_by_name=user_name_of(body),
        )
    except OmsError as error:
        log.info("portfolio %s refused: HTTP %s %s", draft.name, error.status, error.code)
        ack(response_action="errors", errors=refusal_errors(error, draft))
        return
    except OmsUnavailable as error:
        log.warning("OMS unavailable while creating portfolio %s: %s", draft.name, error)
        sentence = MAYBE_CREATED if error.maybe_sent else wording.OMS_DOWN_CONTROL
        ack(response_action="errors", errors={NEW_NAME: sentence})
        return
    name = str(portfolio.get("name") or draft.name)
    capital = formatting.money(portfolio.get("allocated_capital") or draft.capital)
    ack(
        response_action="update",
        view=notice_view(
            PORTFOLIO_NEW_TITLE,
            f"Portfolio {name} created with capital {capital}.",
            tone="success",
        ),
    )
    announce(client, channel, user, portfolio_created_message(portfolio, user))
