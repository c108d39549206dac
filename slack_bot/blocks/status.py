"""The /desk message: the desk at a glance — trading ACTIVE or HALTED (by whom, since when,
why), the mode, today's P&L against the daily loss limit, open orders, the broker and its
stream, and the emergency stop that is running, if any."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import HeaderBlock, PlainTextObject, SectionBlock

from slack_bot import formatting
from slack_bot.blocks.common import FIELD_TEXT_LIMIT, context, message, mode_badge, mrkdwn, section
from slack_bot.blocks.controls import is_halted, resume_button, trading_state_line

WARN_AT = 0.8  # of the daily loss limit used: the OMS warns from here too


def _percent_used(fraction: object) -> str:
    """`61.7 %` (unsigned: how much of the limit is used)."""
    return formatting.pct(fraction).lstrip("+-")


def daily_pl_text(daily_pl: object, limit: object) -> str:
    """`-$1,234.50 of -$2,000.00 limit (61.7 %)`, `+$300.00 (limit -$2,000.00)`, or what
    is unknown."""
    pl = formatting.to_decimal(daily_pl)
    cap = formatting.to_decimal(limit)
    if pl is None:
        return ":grey_question: unknown (the broker could not be asked)"
    if cap is None or cap <= 0:
        return f"{formatting.signed_money(pl)} (no daily loss limit set)"
    limit_text = formatting.money(-cap)
    if pl >= 0:
        return f"{formatting.signed_money(pl)} (limit {limit_text})"
    used = -pl / cap
    emoji = ":rotating_light: " if used >= 1 else ":warning: " if used >= WARN_AT else ""
    return f"{emoji}{formatting.money(pl)} of {limit_text} limit ({_percent_used(used)})"


def _connected(flag: object) -> str:
    if flag is True:
        return ":large_green_circle: connected"
    if flag is False:
        return ":red_circle: *not connected*"
    return ":grey_question: unknown"


def status_message(status: dict[str, Any]) -> dict[str, Any]:
    state = status.get("trading") if isinstance(status.get("trading"), dict) else None
    running = status.get("running_stop_id")
    open_orders = status.get("open_orders")
    fields = [
        f"*Mode*\n{mode_badge(str(status.get('mode') or ''))}",
        f"*Today's P&L*\n{daily_pl_text(status.get('daily_pl'), status.get('daily_loss_limit'))}",
        f"*Open orders*\n{open_orders if isinstance(open_orders, int) else formatting.MISSING}",
        "*Emergency stop*\n"
        + (f":rotating_light: #{running} running" if running is not None else "none running"),
        f"*Broker*\n{_connected(status.get('broker_connected'))}",
        f"*Trade stream*\n{_connected(status.get('stream_connected'))}",
    ]
    halted = is_halted(state)
    blocks: list[Any] = [
        HeaderBlock(text=PlainTextObject(text="OMS status")),
        section(trading_state_line(state)),
        SectionBlock(fields=[mrkdwn(text, FIELD_TEXT_LIMIT) for text in fields]),
    ]
    if halted:
        blocks.append(
            section(
                "New orders are refused until an admin runs /resume.", accessory=resume_button()
            )
        )
    blocks.append(context("Only you can see this. /positions and /orders show the details."))
    word = "HALTED" if halted else "ACTIVE"
    text = (
        f"Trading {word} · {str(status.get('mode') or '?').upper()} · today's P&L "
        f"{formatting.signed_money(status.get('daily_pl'))} · {open_orders} open orders"
    )
    return message(text, blocks)
