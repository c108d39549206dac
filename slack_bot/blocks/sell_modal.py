"""The sell modal: pick a position, how much of it and how; then confirm."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from slack_sdk.models.blocks import (
    HeaderBlock,
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from slack_bot import formatting
from slack_bot.blocks import ids
from slack_bot.blocks.common import (
    OPTION_TEXT_LIMIT,
    OPTION_VALUE_LIMIT,
    context,
    market_line,
    mode_badge,
    section,
    truncate,
    user_text,
)
from slack_bot.blocks.trade_modal import (
    ORDER_TYPE_LABELS,
    TIF_LABELS,
    confirm_footer,
    confirm_title,
    draft_details,
    draft_summary,
    estimate_line,
    known_choice,
    order_type_input,
    price_inputs,
    quote_line,
    reason_input,
    time_in_force_input,
)
from slack_bot.forms import TradeDraft, position_option_value

MAX_OPTIONS = 100  # Slack's limit for a static select


def position_label(position: dict[str, Any]) -> str:
    """`AAPL — 10 sh (main)`."""
    portfolio = position.get("portfolio")
    suffix = f" ({portfolio})" if portfolio else ""
    text = f"{position.get('symbol', '?')} — {formatting.qty(position.get('qty'))} sh{suffix}"
    return truncate(text, OPTION_TEXT_LIMIT)


def _sellable(position: dict[str, Any]) -> bool:
    held = formatting.to_decimal(position.get("qty"))
    return held is not None and held > 0 and position.get("side", "long") != "short"


def _position_option(position: dict[str, Any]) -> Option | None:
    value = position_option_value(
        str(position.get("symbol")), position.get("qty"), position.get("portfolio")
    )
    if len(value) > OPTION_VALUE_LIMIT:
        return None  # cannot be represented faithfully: better absent than wrong
    return Option(value=value, label=position_label(position))


def sell_form_view(
    positions: list[dict[str, Any]],
    selected: dict[str, Any] | None,
    mode: str,
    market: dict[str, Any] | None,
    *,
    prefill: dict[str, Any] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """Positions to sell (long ones), with the quantity defaulting to the whole position.
    `prefill` (qty, order_type, time_in_force, limit_price, stop_price, reason) puts a draft
    back in the form; `error` is a warning shown above the fields."""
    prefill = prefill or {}
    pairs = [
        (position, option)
        for position, option in ((p, _position_option(p)) for p in positions if _sellable(p))
        if option is not None
    ][:MAX_OPTIONS]
    header = [section(mode_badge(mode)), section(market_line(market))]
    if error:
        header.append(section(f":warning: {user_text(error, 2900)}"))
    if not pairs:
        return View(
            type="modal",
            callback_id=ids.SELL_FORM,
            title="Sell",
            close="Close",
            blocks=[*header, section(":information_source: You have no positions to sell.")],
        ).to_dict()

    options = [option for _, option in pairs]
    chosen = pairs[0] if len(pairs) == 1 else None
    if selected:
        wanted = (selected.get("symbol"), selected.get("portfolio"))
        chosen = next(
            (pair for pair in pairs if (pair[0].get("symbol"), pair[0].get("portfolio")) == wanted),
            chosen,
        )
    initial = chosen[1] if chosen else None
    initial_qty = _normalized(chosen[0].get("qty")) if chosen else ""
    if chosen and prefill.get("qty"):
        initial_qty = str(prefill["qty"])[:30]

    blocks: list[Any] = [
        *header,
        InputBlock(
            block_id=ids.POSITION,
            label="Position",
            element=StaticSelectElement(
                action_id=ids.POSITION,
                placeholder="Choose a position",
                options=options,
                initial_option=initial,
            ),
        ),
        InputBlock(
            block_id=ids.QTY,
            label="Shares to sell",
            optional=True,
            hint="Leave empty to sell the whole position.",
            element=PlainTextInputElement(
                action_id=ids.QTY,
                placeholder="whole position",
                initial_value=initial_qty or None,
            ),
        ),
        order_type_input(known_choice(prefill.get("order_type"), ORDER_TYPE_LABELS, "market")),
        *price_inputs(prefill),
        time_in_force_input(known_choice(prefill.get("time_in_force"), TIF_LABELS, "day")),
        reason_input(prefill.get("reason")),
    ]
    return View(
        type="modal",
        callback_id=ids.SELL_FORM,
        title="Sell",
        submit="Review",
        close="Cancel",
        blocks=blocks,
    ).to_dict()


def _normalized(raw: object) -> str:
    value = formatting.to_decimal(raw)
    return "" if value is None else f"{value.normalize():f}"


def sell_confirm_view(
    draft: TradeDraft,
    position_qty: Decimal | None,
    quote: dict[str, Any] | None,
    mode: str,
    metadata: str,
    market: dict[str, Any] | None = None,
    valid_for_seconds: int | None = None,
) -> dict[str, Any]:
    """`Sell 10 AAPL at market?` with what remains held, the estimate and the mode."""
    held_line = ""
    if position_qty is not None and draft.qty is not None:
        if draft.qty == position_qty:
            held_line = f"Sells the whole position ({formatting.qty(position_qty)} shares)."
        else:
            left = position_qty - draft.qty
            held_line = (
                f"You hold {formatting.qty(position_qty)} shares; "
                f"{formatting.qty(left)} remain after this sale."
            )
    blocks: list[Any] = [
        HeaderBlock(text=PlainTextObject(text=truncate(f"{draft_summary(draft)}?", 150))),
        section(mode_badge(mode)),
        section(
            "\n".join([*draft_details(draft), held_line] if held_line else draft_details(draft))
        ),
        section(f"{estimate_line(draft, quote)}\n{quote_line(quote, draft.symbol)}"),
        *([section(market_line(market))] if market else []),
        context(confirm_footer(valid_for_seconds)),
    ]
    return View(
        type="modal",
        callback_id=ids.SELL_CONFIRM,
        title=confirm_title(mode),
        submit="Place order",
        close="Cancel",
        private_metadata=metadata,
        blocks=blocks,
    ).to_dict()
