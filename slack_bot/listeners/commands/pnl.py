"""/pnl [portfolio] [day|week|month|all]: realized and total P&L over the period, as a chart
uploaded to the channel the command came from, with the figures in its message. Without a
portfolio: the whole desk; without a period: today."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_sdk.errors import SlackApiError, SlackRequestError

from slack_bot.auth import Attempt
from slack_bot.blocks.pnl import (
    NOT_DRAWN,
    chart_title,
    pnl_comment,
    pnl_without_chart_message,
    upload_problem,
)
from slack_bot.charts.pnl import PnlSeries, render_pnl_chart, series_from_api
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import (
    UserFacingError,
    call_oms,
    deps_of,
    message,
    refuse,
    reply,
)

log = logging.getLogger(__name__)

PERIODS = ("day", "week", "month", "all")
DEFAULT_PERIOD = "day"
USAGE = (
    "Use /pnl [portfolio] [day|week|month|all]: /pnl (the desk today), /pnl week, "
    "/pnl alpha, /pnl alpha month."
)
# The OMS's portfolio names (oms_api.portfolios.models.PORTFOLIO_NAME_PATTERN), lower case.
PORTFOLIO_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class PnlRequest:
    portfolio: str | None  # None: the whole desk
    period: str


def parse_pnl_text(text: str) -> PnlRequest:
    """What /pnl's text asks for; a lone word that is a period is the period (so a
    portfolio named "week" is `/pnl week week`). UserFacingError with the usage else."""
    words = text.lower().split()
    if len(words) > 2:
        raise UserFacingError(f"Too many words. {USAGE}")
    period = DEFAULT_PERIOD
    if words and words[-1] in PERIODS:
        period = words.pop()
    if len(words) == 2:
        raise UserFacingError(f"“{text.strip()[:60]}” names no period. {USAGE}")
    portfolio = words[0] if words else None
    if portfolio is not None and not PORTFOLIO_NAME.match(portfolio):
        raise UserFacingError(f"“{portfolio[:60]}” is not a portfolio name. {USAGE}")
    return PnlRequest(portfolio, period)


def read_pnl(deps: BotDeps, request: PnlRequest) -> dict[str, Any]:
    return call_oms(
        lambda: deps.oms.pnl(request.period, request.portfolio),
        reading=f"the P&L of {request.portfolio}" if request.portfolio else "the desk's P&L",
    )


def as_of(series: PnlSeries, clock_now: float) -> datetime:
    """When the figures were true: the last point (the OMS makes it "now"), else the clock."""
    if series.points:
        return series.points[-1].at
    return datetime.fromtimestamp(clock_now, UTC)


def chart_file_name(request: PnlRequest) -> str:
    return f"pnl-{request.portfolio or 'desk'}-{request.period}.png"


def handle_pnl(ack: Any, command: dict, respond: Any, context: Any, client: Any) -> None:
    # Ack first: the OMS read, the drawing and the upload all happen after Slack has its answer.
    ack()
    deps = deps_of(context)
    user, channel = command["user_id"], command.get("channel_id", "")
    refusal = deps.authorizer.check_read(user, channel, attempt=Attempt.of_command(command))
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    try:
        request = parse_pnl_text(command.get("text") or "")
        pnl = read_pnl(deps, request)
    except UserFacingError as error:
        reply(respond, message(str(error)))
        return
    series = series_from_api(pnl)
    moment = as_of(series, deps.clock())
    try:
        png = render_pnl_chart(series)
    except Exception:  # a chart bug must not cost the user the figures
        log.exception("pnl: could not draw the chart")
        reply(respond, pnl_without_chart_message(pnl, moment, NOT_DRAWN))
        return
    problem = upload_chart(client, channel, request, pnl, moment, png)
    if problem is not None:
        reply(respond, pnl_without_chart_message(pnl, moment, problem))


def upload_chart(
    client: Any,
    channel: str,
    request: PnlRequest,
    pnl: dict[str, Any],
    moment: datetime,
    png: bytes,
) -> str | None:
    """Upload the chart with its comment to `channel`; None when done, else what the user can
    do about it (not in the channel, no files:write, Slack unreachable)."""
    try:
        client.files_upload_v2(
            channel=channel,
            file=png,
            filename=chart_file_name(request),
            title=chart_title(pnl),
            alt_txt=f"Line chart of {chart_title(pnl)}: realized and total P&L over time",
            initial_comment=pnl_comment(pnl, moment),
        )
    except SlackApiError as error:
        code = error.response.get("error") if error.response is not None else None
        log.warning("pnl: Slack refused the chart upload to %s: %s", channel, code)
        return upload_problem(str(code or "unknown_error"))
    except (SlackRequestError, OSError) as error:
        log.warning("pnl: the chart upload to %s failed: %s", channel, error)
        return upload_problem(None)
    return None
