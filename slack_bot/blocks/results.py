"""The message posted when a trade is placed, and updated as it fills."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import SectionBlock

from slack_bot import formatting
from slack_bot.blocks.common import (
    FIELD_TEXT_LIMIT,
    TONE_EMOJI,
    context,
    market_line,
    message,
    mode_badge,
    mrkdwn,
    order_summary,
    section,
    status_text,
    user_text,
)


def _summary(trade: dict[str, Any]) -> str:
    return order_summary(
        trade.get("side"),
        trade.get("symbol"),
        trade.get("qty"),
        trade.get("notional"),
        trade.get("order_type"),
        trade.get("limit_price"),
        trade.get("stop_price"),
    )


def _fill_text(trade: dict[str, Any]) -> str:
    filled = formatting.to_decimal(trade.get("filled_qty"))
    if not filled:
        return "nothing yet"
    return f"{formatting.qty(filled)} @ {formatting.money(trade.get('filled_avg_price'))}"


def filled_value(trade: dict[str, Any]) -> str:
    """What the filled shares cost (or brought in): filled qty x average price."""
    filled = formatting.to_decimal(trade.get("filled_qty"))
    price = formatting.to_decimal(trade.get("filled_avg_price"))
    if not filled or price is None:
        return "nothing filled yet"
    return formatting.money(filled * price)


def fill_time(trade: dict[str, Any]) -> str:
    """When the order (last) filled: the trade's own time, else its latest fill's."""
    moment = trade.get("filled_at")
    if not moment:
        fills = [f.get("filled_at") for f in trade.get("fills") or [] if isinstance(f, dict)]
        moments = [m for m in (formatting.parse_time(f) for f in fills) if m is not None]
        moment = max(moments) if moments else None
    if not moment:
        return "not filled yet"
    return formatting.slack_time(moment, formatting.DAY_AND_TIME_SECS)


def _bracket_text(trade: dict[str, Any]) -> str | None:
    take_profit = trade.get("take_profit_limit_price")
    stop_loss = trade.get("stop_loss_stop_price")
    if take_profit is None and stop_loss is None:
        return None
    return (
        f"*Bracket:* take profit {formatting.money(take_profit)}, "
        f"stop loss {formatting.money(stop_loss)}"
    )


def _problem_line(trade: dict[str, Any]) -> str | None:
    """What went wrong, in the trader's words: the broker's own reason for a rejection; the
    OMS's internal details (connection errors, budgets) stay in its log."""
    status = trade.get("status")
    if status == "not_sent":
        return ":x: The order never reached the broker — nothing was placed."
    if status == "unknown":
        return (
            ":warning: The broker has not confirmed this order yet. Do not place it again: "
            "the OMS keeps checking and this message shows the outcome."
        )
    if status == "rejected" and trade.get("error_message"):
        return f":x: {user_text(str(trade['error_message']), 500)}"
    return None


def trade_result_message(trade: dict[str, Any], placed_by: str, mode: str) -> dict[str, Any]:
    """What happened to a trade: ids, status, fills, market state, who placed it and where."""
    summary = _summary(trade)
    status = status_text(trade.get("status"))
    who = f"<@{placed_by}>" if placed_by and placed_by.isalnum() else user_text(placed_by, 100)
    fields = [
        f"*Status*\n{status}",
        f"*Filled*\n{_fill_text(trade)}",
        f"*Value*\n{filled_value(trade)}",
        f"*Filled at*\n{fill_time(trade)}",
        f"*Order*\n#{trade.get('id', '?')}",
        f"*Portfolio*\n{user_text(str(trade.get('portfolio') or '—'), 100)}",
        f"*Client order id*\n`{user_text(str(trade.get('client_order_id') or '—'), 100)}`",
        f"*Broker order id*\n`{user_text(str(trade.get('broker_order_id') or '—'), 100)}`",
    ]
    lines = [mode_badge(mode or trade.get("mode"))]
    bracket = _bracket_text(trade)
    if bracket:
        lines.append(bracket)
    if trade.get("reason"):
        lines.append(f"*Reason:* {user_text(str(trade['reason']), 1200)}")
    problem = _problem_line(trade)
    if problem:
        lines.append(problem)
    if trade.get("market_open") is not None:
        state = {"is_open": trade.get("market_open"), "next_open": trade.get("next_open")}
        lines.append(market_line(state))
    if trade.get("replayed"):
        lines.append(":repeat: Already placed — this is the same order, not a new one.")
    blocks: list[Any] = [
        section(f"*{summary}* — {status}"),
        SectionBlock(fields=[mrkdwn(text, FIELD_TEXT_LIMIT) for text in fields]),
        section("\n".join(lines)),
        context(
            f"Placed by {who} · {formatting.slack_time(trade.get('created_at'))}"
            f" · updated {formatting.slack_time(trade.get('updated_at'))}"
        ),
    ]
    text = f"{summary}: {trade.get('status', 'unknown')} (order #{trade.get('id', '?')})"
    return message(text, blocks)


def trade_error_message(
    message_text: str, trade: dict[str, Any] | None = None, tone: str = "error"
) -> dict[str, Any]:
    """One clear sentence (marked by `tone`, see TONE_EMOJI); the trade's id and status when
    the OMS recorded one."""
    emoji = TONE_EMOJI.get(tone, TONE_EMOJI["error"])
    blocks: list[Any] = [section(f"{emoji} {user_text(message_text, 2900)}")]
    if trade:
        blocks.append(
            context(
                f"{_summary(trade)} · order #{trade.get('id', '?')} · "
                f"{status_text(trade.get('status'))}"
            )
        )
    return message(message_text, blocks)


# Statuses the OMS never changes again.
FINAL_STATUSES = frozenset({"filled", "canceled", "expired", "rejected", "replaced", "not_sent"})


def placement_notice(trade: dict[str, Any]) -> tuple[str, str]:
    """(tone, sentence) for the modal once the OMS answered: what happened to the order."""
    status = str(trade.get("status") or "unknown")
    words = status.replace("_", " ")
    order = f"Order #{trade.get('id', '?')}"
    summary = _summary(trade)
    filled = formatting.to_decimal(trade.get("filled_qty"))
    if status == "filled":
        return "success", f"{summary}: filled {_fill_text(trade)} ({filled_value(trade)}). {order}."
    if status in ("rejected", "not_sent"):
        return "error", f"{summary}: {words}. {order}."
    if status == "unknown":
        return "warning", (
            f"{summary}: the broker has not confirmed it yet. Do not place it again — the "
            f"OMS keeps checking, and the message in the channel shows the outcome. {order}."
        )
    if status in ("canceled", "expired"):
        part = f" after filling {_fill_text(trade)}" if filled else ""
        return "info", f"{summary}: {words}{part}. {order}."
    part = f", {_fill_text(trade)} filled so far" if filled else ""
    return "working", (
        f"{summary}: {words}{part} — working at the broker. The message in the channel "
        f"updates as it fills. {order}."
    )
