"""The /trade modal: a loading view, the order form and the confirmation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from slack_sdk.models.blocks import (
    CheckboxesElement,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from slack_bot import formatting
from slack_bot.blocks import ids
from slack_bot.blocks.common import (
    OPTION_TEXT_LIMIT,
    OPTION_VALUE_LIMIT,
    context,
    escape,
    market_line,
    mode_badge,
    order_summary,
    section,
    truncate,
    user_text,
)
from slack_bot.forms import MAX_REASON_CHARS, TradeDraft

TITLE_LIMIT = 24
ORDER_TYPE_LABELS = {
    "market": "Market",
    "limit": "Limit",
    "stop": "Stop",
    "stop_limit": "Stop limit",
}
TIF_LABELS = {
    "day": "Day",
    "gtc": "Good till canceled (GTC)",
    "ioc": "Immediate or cancel (IOC)",
    "fok": "Fill or kill (FOK)",
    "opg": "At the open (OPG)",
    "cls": "At the close (CLS)",
}


def _option(value: str, label: str) -> Option:
    return Option(value=value[:OPTION_VALUE_LIMIT], label=truncate(label, OPTION_TEXT_LIMIT))


def _choice(options: list[Option], value: str | None) -> Option | None:
    return next((option for option in options if option.value == value), None)


def _select(block_id: str, label: str, choices: dict[str, str], initial: str) -> InputBlock:
    options = [_option(value, text) for value, text in choices.items()]
    return InputBlock(
        block_id=block_id,
        label=label,
        element=StaticSelectElement(
            action_id=block_id,
            options=options,
            initial_option=_choice(options, initial) or options[0],
        ),
    )


def _text_input(
    block_id: str,
    label: str,
    *,
    optional: bool = False,
    placeholder: str | None = None,
    initial: str | None = None,
    hint: str | None = None,
    multiline: bool = False,
    max_length: int | None = None,
) -> InputBlock:
    return InputBlock(
        block_id=block_id,
        label=label,
        optional=optional,
        hint=hint,
        element=PlainTextInputElement(
            action_id=block_id,
            placeholder=placeholder,
            initial_value=initial or None,
            multiline=multiline,
            max_length=max_length,
        ),
    )


def order_type_input(initial: str = "market") -> InputBlock:
    return _select(ids.ORDER_TYPE, "Order type", ORDER_TYPE_LABELS, initial)


def time_in_force_input(initial: str = "day") -> InputBlock:
    return _select(ids.TIME_IN_FORCE, "Time in force", TIF_LABELS, initial)


def price_inputs(prefill: dict[str, Any] | None = None) -> list[InputBlock]:
    """Limit and stop price: always shown, optional; the form's validation says which one
    an order type needs (a modal cannot show fields conditionally without a round trip)."""
    prefill = prefill or {}
    return [
        _text_input(
            ids.LIMIT_PRICE,
            "Limit price (limit / stop-limit orders)",
            optional=True,
            placeholder="e.g. 150.25",
            initial=str(prefill.get("limit_price") or "")[:30],
        ),
        _text_input(
            ids.STOP_PRICE,
            "Stop price (stop / stop-limit orders)",
            optional=True,
            placeholder="e.g. 140.00",
            initial=str(prefill.get("stop_price") or "")[:30],
        ),
    ]


def reason_input(initial: str | None = None) -> InputBlock:
    return _text_input(
        ids.REASON,
        "Reason",
        optional=True,
        multiline=True,
        max_length=MAX_REASON_CHARS,
        placeholder="Why this trade? Kept with the order for the record.",
        initial=(initial or "")[:MAX_REASON_CHARS],
    )


def known_choice(value: Any, choices: dict[str, str], default: str) -> str:
    """`value` when it is one of `choices`, else `default` (a prefill never breaks a select)."""
    return value if isinstance(value, str) and value in choices else default


def quote_line(quote: dict[str, Any] | None, symbol: str | None = None) -> str:
    """`*AAPL* latest price *$189.12* (bid $189.10 / ask $189.14, <!date…|Mon 23 Nov 14:30 UTC>)`:
    mrkdwn (a section block), so the time reads in the reader's zone."""
    if not quote or formatting.to_decimal(quote.get("price")) is None:
        if symbol:
            return f"*{user_text(symbol, 21)}*: no latest price available."
        return "Latest price: shown on the confirmation once you enter a symbol."
    name = user_text(str(quote.get("symbol") or symbol or "?"), 21)
    details = []
    if quote.get("bid") is not None or quote.get("ask") is not None:
        details.append(
            f"bid {formatting.money(quote.get('bid'))} / ask {formatting.money(quote.get('ask'))}"
        )
    if quote.get("timestamp"):
        details.append(formatting.slack_time(quote.get("timestamp"), formatting.DAY_AND_TIME_SECS))
    suffix = f" ({', '.join(details)})" if details else ""
    return f"*{name}* latest price *{formatting.money(quote.get('price'))}*{suffix}"


def no_portfolio_view(oms_url: str, paused: list[str]) -> dict[str, Any]:
    """/trade with nothing to trade in: exactly how an OMS admin fixes it, with the command
    for this OMS. The token stays a shell variable: it never goes into a Slack message."""
    api = escape(f"{oms_url}/api/v1")
    auth = '-H "Authorization: Bearer $OMS_API_TOKEN"'
    json_type = "-H 'Content-Type: application/json'"
    if paused:
        name = paused[0]
        names = ", ".join(user_text(p, 40) for p in paused[:10])
        lead = f"Every portfolio is paused ({names}), so there is nothing to trade in."
        fix = "An OMS admin can resume one"
        command = (
            f"curl -s -X PATCH {api}/portfolios/{escape(name)} {auth} {json_type} "
            '-d \'{"status": "active"}\''
        )
    else:
        lead = "There is no portfolio to trade in yet."
        fix = "An OMS admin can create one named `main`"
        command = f'curl -s -X POST {api}/portfolios {auth} {json_type} -d \'{{"name": "main"}}\''
    text = (
        f":information_source: {lead}\n{fix} from a shell that can reach the OMS, with "
        f"`OMS_API_TOKEN` set to the OMS's API token (`oms up` prints it):\n```{command}```\n"
        "Then run /trade again."
    )
    return View(
        type="modal",
        callback_id=ids.NO_PORTFOLIO,
        title="Trade",
        close="Close",
        blocks=[section(text)],
    ).to_dict()


def loading_view(title: str) -> dict[str, Any]:
    """A small view opened at once (trigger_id lives 3 s) and replaced when data arrives."""
    return View(
        type="modal",
        callback_id=ids.LOADING,
        title=truncate(title, TITLE_LIMIT),
        close="Close",
        blocks=[section(":hourglass_flowing_sand: Loading…")],
    ).to_dict()


def trade_form_view(
    portfolios: list[str],
    prefill: dict[str, Any],
    quote: dict[str, Any] | None,
    market: dict[str, Any] | None,
    mode: str,
    error: str | None = None,
) -> dict[str, Any]:
    """The order form. `prefill` may hold symbol, side, qty or notional (from /trade text),
    and every other field too (portfolio, order_type, time_in_force, limit_price, stop_price,
    take_profit, stop_loss, extended_hours "true", reason) when a draft is shown again.
    `error` is a warning shown above the fields."""
    blocks: list[Any] = [
        section(mode_badge(mode)),
        section(f"{quote_line(quote, prefill.get('symbol'))}\n{market_line(market)}"),
    ]
    if error:
        blocks.append(section(f":warning: {user_text(error, 2900)}"))
    if not portfolios:
        blocks.append(section(":x: No portfolio is available to trade in. Ask an admin."))
        return View(
            type="modal",
            callback_id=ids.TRADE_FORM,
            title="Trade",
            close="Close",
            blocks=blocks,
        ).to_dict()

    portfolio_options = [_option(name, name) for name in portfolios[:100]]
    blocks.append(
        InputBlock(
            block_id=ids.PORTFOLIO,
            label="Portfolio",
            element=StaticSelectElement(
                action_id=ids.PORTFOLIO,
                options=portfolio_options,
                initial_option=_choice(portfolio_options, prefill.get("portfolio"))
                or portfolio_options[0],
            ),
        )
    )
    blocks.append(
        _text_input(
            ids.SYMBOL,
            "Symbol",
            placeholder="e.g. AAPL",
            initial=str(prefill.get("symbol") or "")[:10],
            max_length=10,
        )
    )
    side_options = [_option("buy", "Buy"), _option("sell", "Sell")]
    blocks.append(
        InputBlock(
            block_id=ids.SIDE,
            label="Side",
            element=RadioButtonsElement(
                action_id=ids.SIDE,
                options=side_options,
                initial_option=_choice(side_options, prefill.get("side")) or side_options[0],
            ),
        )
    )
    kind_options = [_option("qty", "Shares"), _option("notional", "Dollars (market, day only)")]
    wants_dollars = bool(prefill.get("notional")) and not prefill.get("qty")
    blocks.append(
        InputBlock(
            block_id=ids.AMOUNT_KIND,
            label="Amount in",
            element=RadioButtonsElement(
                action_id=ids.AMOUNT_KIND,
                options=kind_options,
                initial_option=kind_options[1] if wants_dollars else kind_options[0],
            ),
        )
    )
    amount = prefill.get("notional") if wants_dollars else prefill.get("qty")
    blocks.append(
        _text_input(
            ids.AMOUNT,
            "Amount",
            placeholder="e.g. 10 shares, 0.5 shares or 500 dollars",
            initial=str(amount or "")[:30],
        )
    )
    order_type = known_choice(prefill.get("order_type"), ORDER_TYPE_LABELS, "market")
    time_in_force = known_choice(prefill.get("time_in_force"), TIF_LABELS, "day")
    blocks.append(order_type_input(order_type))
    blocks.extend(price_inputs(prefill))
    blocks.append(time_in_force_input(time_in_force))
    blocks.append(DividerBlock())
    blocks.append(
        _text_input(
            ids.TAKE_PROFIT,
            "Bracket: take-profit limit price",
            optional=True,
            placeholder="optional, e.g. 200.00",
            hint="A bracket needs both prices and a whole number of shares.",
            initial=str(prefill.get("take_profit") or "")[:30],
        )
    )
    blocks.append(
        _text_input(
            ids.STOP_LOSS,
            "Bracket: stop-loss stop price",
            optional=True,
            placeholder="optional, e.g. 170.00",
            initial=str(prefill.get("stop_loss") or "")[:30],
        )
    )
    hours_option = _option("true", "Allow pre-market / after-hours (day limit only)")
    blocks.append(
        InputBlock(
            block_id=ids.EXTENDED_HOURS,
            label="Extended hours",
            optional=True,
            element=CheckboxesElement(
                action_id=ids.EXTENDED_HOURS,
                options=[hours_option],
                initial_options=[hours_option] if prefill.get("extended_hours") == "true" else None,
            ),
        )
    )
    blocks.append(reason_input(prefill.get("reason")))
    return View(
        type="modal",
        callback_id=ids.TRADE_FORM,
        title="Trade",
        submit="Review",
        close="Cancel",
        blocks=blocks,
    ).to_dict()


def reference_price(draft: TradeDraft, quote: dict[str, Any] | None) -> Decimal | None:
    """The price an estimate should use: the order's own limit (or stop), else the quote."""
    if draft.limit_price is not None:
        return draft.limit_price
    if draft.stop_price is not None:
        return draft.stop_price
    return formatting.to_decimal((quote or {}).get("price"))


def estimate_line(draft: TradeDraft, quote: dict[str, Any] | None) -> str:
    """`Estimated cost: *$1,891.20*` (qty x price, or the dollar amount)."""
    label = "Estimated proceeds" if draft.side == "sell" else "Estimated cost"
    if draft.notional is not None:
        return f"{label}: *{formatting.money(draft.notional)}*"
    price = reference_price(draft, quote)
    if price is None or draft.qty is None:
        return f"{label}: unknown (no latest price)"
    total = draft.qty * price
    basis = "limit price" if draft.limit_price is not None else "latest price"
    if draft.limit_price is None and draft.stop_price is not None:
        basis = "stop price"
    return (
        f"{label}: *{formatting.money(total)}* "
        f"({formatting.qty(draft.qty)} × {formatting.money(price)}, {basis})"  # noqa: RUF001
    )


def draft_details(draft: TradeDraft) -> list[str]:
    """Lines describing an order beyond its summary: bracket, time in force, hours, reason."""
    lines = [f"*Portfolio:* {user_text(draft.portfolio, 100)}"]
    lines.append(f"*Time in force:* {TIF_LABELS.get(draft.time_in_force, draft.time_in_force)}")
    if draft.is_bracket:
        lines.append(
            f"*Bracket:* take profit {formatting.money(draft.take_profit)}, "
            f"stop loss {formatting.money(draft.stop_loss)}"
        )
    if draft.extended_hours:
        lines.append("*Extended hours:* yes")
    if draft.reason:
        lines.append(f"*Reason:* {user_text(draft.reason, 1200)}")
    return lines


def draft_summary(draft: TradeDraft) -> str:
    return order_summary(
        draft.side,
        draft.symbol,
        draft.qty,
        draft.notional,
        draft.order_type,
        draft.limit_price,
        draft.stop_price,
    )


def confirm_title(mode: str | None) -> str:
    return "Confirm LIVE order" if (mode or "").lower() == "live" else "Confirm order"


def confirm_footer(valid_for_seconds: int | None) -> str:
    """The confirmation's last line: nothing is sent yet, and how long it stays valid."""
    text = "Nothing is sent until you press *Place order*."
    if valid_for_seconds:
        text += (
            f" Prices move: after {formatting.duration(valid_for_seconds)} this confirmation "
            "expires and you review the order again."
        )
    return text


def expired_confirmation_text(valid_for_seconds: int) -> str:
    """Why an order the user confirmed was not sent, and what to do."""
    return (
        f"This confirmation expired: it was shown more than "
        f"{formatting.duration(valid_for_seconds)} ago and prices move. Nothing was sent. "
        "Check the order and the latest price, then press Review again."
    )


def trade_confirm_view(
    draft: TradeDraft,
    quote: dict[str, Any] | None,
    market: dict[str, Any] | None,
    mode: str,
    metadata: str,
    valid_for_seconds: int | None = None,
) -> dict[str, Any]:
    """The last look before the order is sent: summary, estimate, mode and market state."""
    blocks: list[Any] = [
        HeaderBlock(text=PlainTextObject(text=truncate(f"{draft_summary(draft)}?", 150))),
        section(mode_badge(mode)),
        section("\n".join(draft_details(draft))),
        section(f"{estimate_line(draft, quote)}\n{quote_line(quote, draft.symbol)}"),
        section(market_line(market)),
        context(confirm_footer(valid_for_seconds)),
    ]
    return View(
        type="modal",
        callback_id=ids.TRADE_CONFIRM,
        title=confirm_title(mode),
        submit="Place order",
        close="Cancel",
        private_metadata=metadata,
        blocks=blocks,
    ).to_dict()
