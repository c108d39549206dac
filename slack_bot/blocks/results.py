"""The message posted when a trade is placed, and updated as it fills."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import SectionBlock

from slack_bot import formatting
from slack_bot.blocks.common import (
    FIELD_TEXT_LIMIT,
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


def _bracket_text(trade: dict[str, Any]) -> str | None:
    take_profit = trade.get("take_profit_limit_price")
    stop_loss = trade.get("stop_loss_stop_price")
    if take_profit is None and stop_loss is None:
        return None
    return (
        f"*Bracket:* take profit {formatting.money(take_profit)}, "
        f"stop loss {formatting.money(stop_loss)}"
    )


def trade_result_message(trade: dict[str, Any], placed_by: str, mode: str) -> dict[str, Any]:
    """What happened to a trade: ids, status, fills, market state, who placed it and where."""
    summary = _summary(trade)
    status = status_text(trade.get("status"))
    who = f"<@{placed_by}>" if placed_by and placed_by.isalnum() else user_text(placed_by, 100)
    fields = [
        f"*Status*\n{status}",
        f"*Filled*\n{_fill_text(trade)}",
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
    if trade.get("error_message"):
        lines.append(f":x: {user_text(str(trade['error_message']), 500)}")
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
            f"Placed by {who} · {formatting.when(trade.get('created_at'))}"
            f" · updated {formatting.when(trade.get('updated_at'))}"
        ),
    ]
    text = f"{summary}: {trade.get('status', 'unknown')} (order #{trade.get('id', '?')})"
    return message(text, blocks)


def trade_error_message(message_text: str, trade: dict[str, Any] | None = None) -> dict[str, Any]:
    """One clear sentence; the trade's id and status when the OMS recorded one."""
    blocks: list[Any] = [section(f":x: {user_text(message_text, 2900)}")]
    if trade:
        blocks.append(
            context(
                f"{_summary(trade)} · order #{trade.get('id', '?')} · "
                f"{status_text(trade.get('status'))}"
            )
        )
    return message(message_text, blocks)
