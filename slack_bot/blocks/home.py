"""The App Home tab: the desk's dashboard for one user — where orders go, whether trading is
on, the account and how much of its buying power the portfolios hold, each portfolio's P&L,
the largest positions (what no portfolio owns labelled Unmanaged) and the latest alerts.

Pure functions of the OMS's answers. A home view holds at most 100 blocks, so the long lists
are cut to their largest entries and say how many more there are and where to see them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    DividerBlock,
    HeaderBlock,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from slack_bot import formatting
from slack_bot.blocks import ids
from slack_bot.blocks.common import (
    FIELD_TEXT_LIMIT,
    TONE_EMOJI,
    context,
    mode_badge,
    mrkdwn,
    section,
    truncate,
    user_text,
)
from slack_bot.blocks.controls import trading_state_line
from slack_bot.blocks.portfolios import portfolio_summary
from slack_bot.blocks.positions import close_account_button, emergency_sell_button
from slack_bot.forms import position_option_value

HOME_BLOCK_LIMIT = 100  # Slack refuses a bigger home view (slack_sdk's View checks it too)
PORTFOLIOS_SHOWN = 15  # one block each
POSITIONS_SHOWN = 20  # two blocks each (the row, its emergency button)
ALERTS_SHOWN = 5
# Available capital above this share of the buying power is green; below it, yellow; and
# red once the portfolios were given more than the account can buy.
COMFORTABLE_SHARE = Decimal("0.2")
GREEN, YELLOW, RED = ":large_green_circle:", ":large_yellow_circle:", ":red_circle:"
UNKNOWN = ":white_circle:"

HOME_CALLBACK = "home_dashboard"
# Pause / Resume on a portfolio of the Home tab (admins): value = the portfolio's name.
HOME_PORTFOLIO_PAUSE = "home_portfolio_pause"
HOME_PORTFOLIO_RESUME = "home_portfolio_resume"

CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,30}$")
SEVERITY_EMOJI = {"info": ":information_source:", "warning": ":warning:", "critical": ":x:"}
NAME_LIMIT = 40
SECONDS = formatting.DAY_AND_TIME_SECS


@dataclass(frozen=True)
class HomeData:
    """What the dashboard is built from. A part the OMS could not give is None, and
    `problems[part]` says why in one sentence ("account", "portfolios", "positions",
    "trading_state", "alerts")."""

    account: dict[str, Any] | None = None
    portfolios: list[dict[str, Any]] | None = None
    positions: list[dict[str, Any]] | None = None
    trading_state: dict[str, Any] | None = None
    alerts: list[dict[str, Any]] | None = None
    problems: Mapping[str, str] = field(default_factory=dict)
    mode: str | None = None
    as_of: float | None = None  # epoch seconds: when the OMS was read


# --- pieces ---------------------------------------------------------------------------------
def _sum(values: list[object]) -> Decimal:
    numbers = (formatting.to_decimal(v) for v in values)
    return sum((n for n in numbers if n is not None), start=Decimal(0))


def capital_split(
    account: dict[str, Any] | None, portfolios: list[dict[str, Any]] | None
) -> tuple[Decimal | None, Decimal | None]:
    """(allocated, available) capital: the OMS's own figures, else worked out the same way
    (every portfolio's capital, paused ones included; buying power minus that)."""
    account = account or {}
    allocated = formatting.to_decimal(account.get("allocated_capital"))
    if allocated is None and portfolios is not None:
        allocated = _sum([p.get("allocated_capital") for p in portfolios])
    available = formatting.to_decimal(account.get("available_capital"))
    buying_power = formatting.to_decimal(account.get("buying_power"))
    if available is None and allocated is not None and buying_power is not None:
        available = buying_power - allocated
    return allocated, available


def capital_marker(available: object, buying_power: object) -> str:
    """Green: more than 20 % of the buying power is still free for new portfolios; yellow:
    0 to 20 %; red: the portfolios were given more than the account can buy."""
    free = formatting.to_decimal(available)
    power = formatting.to_decimal(buying_power)
    if free is None:
        return UNKNOWN
    if free < 0:
        return RED
    if power is not None and power > 0 and free > power * COMFORTABLE_SHARE:
        return GREEN
    return YELLOW


def _share(part: Decimal | None, whole: object) -> str:
    total = formatting.to_decimal(whole)
    if part is None or total is None or total <= 0:
        return ""
    return f" ({formatting.pct(part / total).lstrip('+')} of buying power)"


def _pnl(value: object) -> str:
    return formatting.signed_money(value)


def _problem(data: HomeData, part: str, what: str) -> SectionBlock:
    sentence = data.problems.get(part) or f"{what} could not be read just now."
    return section(f":warning: {user_text(sentence, 500)}")


def _account_blocks(data: HomeData) -> list[Any]:
    account = data.account
    blocks: list[Any] = [HeaderBlock(text=PlainTextObject(text="Account"))]
    if account is None:
        return [*blocks, _problem(data, "account", "The account")]
    allocated, available = capital_split(account, data.portfolios)
    marker = capital_marker(available, account.get("buying_power"))
    number = user_text(str(account.get("account_number") or formatting.MISSING), 40)
    fields = [
        f"*Account*\n{number} ({user_text(str(account.get('status') or '—'), 30)})",
        f"*Equity*\n{formatting.money(account.get('equity'))}",
        f"*Cash*\n{formatting.money(account.get('cash'))}",
        f"*Buying power*\n{formatting.money(account.get('buying_power'))}",
        f"*Allocated to portfolios*\n{formatting.money(allocated)}",
        f"*Available capital*\n{marker} {formatting.money(available)}"
        f"{_share(available, account.get('buying_power'))}",
        f"*Realized P&L (all portfolios)*\n{_pnl(account.get('total_realized_pnl'))}",
        f"*Today's P&L*\n{_pnl(account.get('daily_pnl'))}",
    ]
    blocks.append(SectionBlock(fields=[mrkdwn(text, FIELD_TEXT_LIMIT) for text in fields]))
    return blocks


def portfolio_status_button(portfolio: dict[str, Any]) -> ButtonElement | None:
    """Pause (an active portfolio) or Resume (a paused one), for admins; Slack asks first."""
    name = str(portfolio.get("name") or "")
    if not name:
        return None
    shown = truncate(name, NAME_LIMIT)
    if portfolio.get("status") == "paused":
        return ButtonElement(
            text="Resume",
            action_id=HOME_PORTFOLIO_RESUME,
            value=name,
            style="primary",
            confirm=ConfirmObject(
                title="Resume the portfolio?",
                text=f"Resume portfolio {shown}? It accepts new orders again.",
                confirm="Resume it",
                deny="Keep it paused",
            ),
        )
    return ButtonElement(
        text="Pause",
        action_id=HOME_PORTFOLIO_PAUSE,
        value=name,
        confirm=ConfirmObject(
            title="Pause the portfolio?",
            text=(
                f"Pause portfolio {shown}? Its new orders are refused until it is resumed; "
                "working orders and holdings are not touched."
            ),
            confirm="Pause it",
            deny="Keep it active",
        ),
    )


def _by_capital(portfolio: dict[str, Any]) -> Decimal:
    return -(formatting.to_decimal(portfolio.get("allocated_capital")) or Decimal(0))


def _portfolio_blocks(data: HomeData, admin: bool) -> list[Any]:
    portfolios = data.portfolios
    if portfolios is None:
        return [
            HeaderBlock(text=PlainTextObject(text="Portfolios")),
            _problem(data, "portfolios", "The portfolios"),
        ]
    blocks: list[Any] = [HeaderBlock(text=PlainTextObject(text=f"Portfolios ({len(portfolios)})"))]
    if not portfolios:
        blocks.append(section(":information_source: No portfolios yet — /portfolio new."))
        return blocks
    ranked = sorted(portfolios, key=_by_capital)  # stable: the OMS's order among equals
    for portfolio in ranked[:PORTFOLIOS_SHOWN]:
        button = portfolio_status_button(portfolio) if admin else None
        blocks.append(section(portfolio_summary(portfolio), accessory=button))
    more = len(ranked) - PORTFOLIOS_SHOWN
    if more > 0:
        blocks.append(context(f"{more} more (smaller capital) — /portfolios lists them all."))
    return blocks


def _value_key(position: dict[str, Any]) -> tuple[int, Decimal]:
    value = formatting.to_decimal(position.get("market_value"))
    return (1, Decimal(0)) if value is None else (0, -abs(value))


def _position_text(position: dict[str, Any]) -> str:
    symbol = user_text(str(position.get("symbol") or "?"), 21)
    short = " (short)" if position.get("side") == "short" else ""
    if position.get("managed") is False or not position.get("portfolio"):
        owner = ":warning: _Unmanaged_ (in no portfolio)"
    else:
        owner = user_text(str(position.get("portfolio")), NAME_LIMIT)
    pl = formatting.pnl(position.get("unrealized_pl"), position.get("unrealized_plpc"))
    return (
        f"*{symbol}*{short} · {owner}\n"
        f"{formatting.qty(position.get('qty'))} sh · value "
        f"{formatting.money(position.get('market_value'))} · unrealized {pl}"
    )


def _managed(position: dict[str, Any]) -> bool:
    return position.get("managed") is not False and bool(position.get("portfolio"))


def _sell_button(position: dict[str, Any], paused: set[str]) -> ButtonElement | None:
    held = formatting.to_decimal(position.get("qty"))
    portfolio = str(position.get("portfolio") or "")
    if not _managed(position) or portfolio in paused:
        return None  # no portfolio owns it, or its portfolio is paused (the OMS would refuse)
    if held is None or held <= 0 or position.get("side") == "short":
        return None  # a short is closed by buying: /trade SYMBOL buy QTY
    return ButtonElement(
        text="Sell",
        action_id=ids.POSITION_SELL,
        value=position_option_value(str(position.get("symbol")), position.get("qty"), portfolio),
    )


def _emergency_block(position: dict[str, Any], admin: bool) -> ActionsBlock | None:
    if not formatting.to_decimal(position.get("qty")):
        return None
    if _managed(position):
        button = emergency_sell_button({"name": position.get("portfolio")}, position)
    elif admin:
        button = close_account_button(position)
    else:
        return None
    return ActionsBlock(elements=[button])


def _valuation(positions: list[dict[str, Any]]) -> str:
    priced = [p for p in positions if formatting.to_decimal(p.get("market_value")) is not None]
    value = formatting.money(_sum([p.get("market_value") for p in priced])) if priced else "—"
    pl = _pnl(_sum([p.get("unrealized_pl") for p in priced])) if priced else "—"
    unmanaged = sum(1 for p in positions if not _managed(p))
    text = f"Total value {value} · unrealized {pl}"
    return text + (f" · {unmanaged} unmanaged" if unmanaged else "")


def _position_blocks(data: HomeData, admin: bool, trader: bool) -> list[Any]:
    positions = data.positions
    if positions is None:
        return [
            HeaderBlock(text=PlainTextObject(text="Positions")),
            _problem(data, "positions", "The positions"),
        ]
    held = [p for p in positions if formatting.to_decimal(p.get("qty"))]
    blocks: list[Any] = [HeaderBlock(text=PlainTextObject(text=f"Positions ({len(held)})"))]
    if not held:
        blocks.append(section(":information_source: No open positions."))
        return blocks
    blocks.append(context(_valuation(held)))
    paused = {str(p.get("name")) for p in data.portfolios or [] if p.get("status") == "paused"}
    ranked = sorted(held, key=_value_key)
    for position in ranked[:POSITIONS_SHOWN]:
        sell = _sell_button(position, paused) if trader else None
        blocks.append(section(_position_text(position), accessory=sell))
        emergency = _emergency_block(position, admin) if trader else None
        if emergency is not None:
            blocks.append(emergency)
    more = len(ranked) - POSITIONS_SHOWN
    if more > 0:
        blocks.append(context(f"{more} more (smaller market value) — /positions shows them all."))
    return blocks


def alert_line(alert: dict[str, Any]) -> str:
    """`:warning: *Trading halted* · <!date…>`, and when Slack never got it, why."""
    emoji = SEVERITY_EMOJI.get(str(alert.get("severity")), ":information_source:")
    title = user_text(" ".join(str(alert.get("title") or alert.get("kind") or "?").split()), 300)
    line = f"{emoji} *{title}* · {formatting.slack_time(alert.get('created_at'))}"
    if alert.get("state") == "failed":
        line += " · _not delivered to Slack_"
    return line


def _alert_blocks(data: HomeData) -> list[Any]:
    blocks: list[Any] = [HeaderBlock(text=PlainTextObject(text="Latest alerts"))]
    if data.alerts is None:
        return [*blocks, _problem(data, "alerts", "The alerts")]
    if not data.alerts:
        return [*blocks, context("No alerts yet.")]
    return [*blocks, *(context(alert_line(a)) for a in data.alerts[:ALERTS_SHOWN])]


def where_posted(channel: str) -> str:
    """`<#C…>` for a channel, else the user's messages with the app (a DM)."""
    if CHANNEL_ID.match(channel):
        return f"<#{channel}>"
    return "your messages with the app"


def _notice_block(notice: str | None, tone: str, posted_in: str | None) -> SectionBlock | None:
    if not notice:
        return None
    emoji = TONE_EMOJI.get(tone, TONE_EMOJI["info"])
    text = user_text(notice, 2800)
    if posted_in:
        text = f"{text.rstrip('.')} — the result is in {where_posted(posted_in)}."
    return section(f"{emoji} {text}")


def _view(blocks: list[Any]) -> dict[str, Any]:
    return View(type="home", callback_id=HOME_CALLBACK, blocks=blocks).to_dict()


# --- the views ------------------------------------------------------------------------------
def home_view(
    data: HomeData,
    *,
    admin: bool,
    trader: bool,
    notice: str | None = None,
    tone: str = "info",
    posted_in: str | None = None,
) -> dict[str, Any]:
    """The dashboard. `trader`: Sell and Emergency sell on positions; `admin`: Pause /
    Resume on portfolios and Close unmanaged on unmanaged positions. `notice`: the
    outcome of what the user just did here, on top (plain text), and `posted_in` the channel
    (or user, for a DM) its result was posted to."""
    mode = data.mode or (data.account or {}).get("mode")
    updated = (
        f"updated {formatting.slack_time(datetime.fromtimestamp(data.as_of, UTC), SECONDS)}"
        if data.as_of is not None
        else ""
    )
    blocks: list[Any] = [HeaderBlock(text=PlainTextObject(text="Trading desk"))]
    notice_block = _notice_block(notice, tone, posted_in)
    if notice_block is not None:
        blocks.append(notice_block)
    blocks.append(context(mode_badge(mode), *([updated] if updated else [])))
    if data.trading_state is None:
        blocks.append(_problem(data, "trading_state", "Whether trading is on"))
    else:
        blocks.append(section(trading_state_line(data.trading_state)))
    blocks.append(DividerBlock())
    blocks += _account_blocks(data)
    blocks.append(DividerBlock())
    blocks += _portfolio_blocks(data, admin)
    blocks.append(DividerBlock())
    blocks += _position_blocks(data, admin, trader)
    blocks.append(DividerBlock())
    blocks += _alert_blocks(data)
    blocks.append(
        context("Refreshed each time you open this tab and after what you do here. /oms for help.")
    )
    return _view(blocks[:HOME_BLOCK_LIMIT])


def home_notice_view(sentence: str, tone: str = "error", mode: str | None = None) -> dict[str, Any]:
    """The Home tab when there is no dashboard to show: the OMS cannot be reached, or the
    user may not see the desk."""
    blocks: list[Any] = [
        HeaderBlock(text=PlainTextObject(text="Trading desk")),
        section(f"{TONE_EMOJI.get(tone, TONE_EMOJI['error'])} {user_text(sentence, 2900)}"),
    ]
    if mode:
        blocks.append(context(mode_badge(mode)))
    return _view(blocks)
