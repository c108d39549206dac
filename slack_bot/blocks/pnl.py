"""The /pnl texts: the comment posted with the chart, and the ephemeral answer when the chart
could not be uploaded (the figures still given). Figures are the OMS's, formatted only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_bot import formatting
from slack_bot.blocks.common import context, message, section, user_text

PERIOD_WORDS = {
    "day": "today",
    "week": "this week",
    "month": "this month",
    "all": "since the first fill",
}

# Slack's error codes for an upload the bot may not make, and what the user can do about it.
NOT_IN_CHANNEL = (
    "I could not post the chart here because I am not in this channel. Invite me "
    "(`/invite @` and my name) and run /pnl again, or run /pnl in a direct message with me."
)
MISSING_SCOPE = (
    "I could not upload the chart: the Slack app lacks the files:write permission. An admin "
    "must add files:write to the app (the shipped manifest asks for it) and reinstall it."
)
ARCHIVED = "I could not post the chart here: this channel is archived. Run /pnl in another one."
UNREACHABLE = "Slack could not be reached to upload the chart. Run /pnl again in a minute."
NOT_DRAWN = "The chart could not be drawn this time. Run /pnl again in a minute."
UPLOAD_ERRORS = {
    "not_in_channel": NOT_IN_CHANNEL,
    "channel_not_found": NOT_IN_CHANNEL,
    "missing_scope": MISSING_SCOPE,
    "no_permission": MISSING_SCOPE,
    "not_allowed_token_type": MISSING_SCOPE,
    "is_archived": ARCHIVED,
}


def subject(pnl: dict[str, Any]) -> str:
    """`Portfolio *alpha*` or `Desk` (every portfolio)."""
    portfolio = pnl.get("portfolio")
    return f"Portfolio *{user_text(str(portfolio), 60)}*" if portfolio else "*Desk*"


def period_line(pnl: dict[str, Any]) -> str:
    """`*Desk* P&L this week (since <!date^…>)`."""
    period = str(pnl.get("period") or "")
    words = PERIOD_WORDS.get(period, user_text(period, 20) or "over time")
    since = pnl.get("since")
    starting = (
        f" (since {formatting.slack_time(since)})"
        if since and formatting.parse_time(since) and period != "all"
        else ""
    )
    return f"{subject(pnl)} P&L {words}{starting}"


def figures_line(pnl: dict[str, Any]) -> str:
    """`Realized *+$1,234.50* · Unrealized *-$200.00* · Total *+$1,034.50*`."""
    return " · ".join(
        f"{name} *{formatting.signed_money(pnl.get(key))}*"
        for name, key in (
            ("Realized", "realized_pnl"),
            ("Unrealized", "unrealized_pnl"),
            ("Total", "total_pnl"),
        )
    )


def as_of_line(as_of: datetime) -> str:
    return f"as of {formatting.slack_time(as_of, formatting.DAY_AND_TIME_SECS)}"


def pnl_comment(pnl: dict[str, Any], as_of: datetime) -> str:
    """The message posted with the chart (mrkdwn): whose P&L, the period, the figures."""
    return f"{period_line(pnl)}\n{figures_line(pnl)}\n_{as_of_line(as_of)}_"


def chart_title(pnl: dict[str, Any]) -> str:
    """The file's title in Slack (plain text)."""
    period = str(pnl.get("period") or "")
    who = str(pnl.get("portfolio") or "Desk")
    return f"{who} P&L {PERIOD_WORDS.get(period, period)}".strip()[:200]


def upload_problem(error_code: str | None) -> str:
    """What the user can do about a refused upload (`error_code`: Slack's, None when Slack
    could not be reached)."""
    if error_code is None:
        return UNREACHABLE
    return UPLOAD_ERRORS.get(
        error_code,
        f"Slack refused the chart upload ({user_text(error_code, 60)}). "
        "Run /pnl again in a minute.",
    )


def pnl_without_chart_message(pnl: dict[str, Any], as_of: datetime, problem: str) -> dict[str, Any]:
    """Ephemeral: why there is no chart, then the figures anyway."""
    blocks = [
        section(f":warning: {problem}"),
        section(f"{period_line(pnl)}\n{figures_line(pnl)}"),
        context(as_of_line(as_of)),
    ]
    text = f"{problem} {figures_line(pnl).replace('*', '')}"
    return message(text, blocks)
