"""The trading controls' views and messages: the confirmations of an emergency stop, a halt,
a resume and a portfolio stop (each says exactly what will happen, with counts), the trading
state in one line, and what is posted once a control acted.

Pure functions of the OMS's answers; every piece of user text is escaped."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from slack_sdk.models.blocks import (
    ButtonElement,
    CheckboxesElement,
    HeaderBlock,
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
)
from slack_sdk.models.views import View

from slack_bot import formatting
from slack_bot.blocks import ids
from slack_bot.blocks.common import (
    context,
    message,
    mode_badge,
    section,
    truncate,
    user_text,
)
from slack_bot.blocks.results import trade_result_message
from slack_bot.forms import MAX_REASON_CHARS

REASON_LIMIT = 1200
NAME_LIMIT = 60
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")

STOP_TITLE = "Emergency stop"
HALT_TITLE = "Halt trading"
RESUME_TITLE = "Resume trading"
PORTFOLIO_STOP_TITLE = "Stop portfolio"
STOP_CONFIRM_LABEL = "Yes — halt trading, cancel every open order and close every position now"


# --- pieces ---------------------------------------------------------------------------------
def actor_mention(user_id: object, name: object = None) -> str:
    """Who acted, for mrkdwn: a Slack user as a mention (`<@U…>`), the OMS itself as
    `system`, an API client as `api` (with the name it gave)."""
    ident = str(user_id or "").strip()
    if _SLACK_USER_ID.match(ident):
        return f"<@{ident}>"
    if ident == "system":
        return "system"
    shown = user_text(" ".join(str(name).split()), NAME_LIMIT) if name else ""
    if ident in ("", "api"):
        return f"api ({shown})" if shown else "api"
    return f"api ({user_text(ident, NAME_LIMIT)})"


def reason_text(reason: object, limit: int = REASON_LIMIT) -> str:
    text = " ".join(str(reason or "").split())
    return user_text(text, limit) if text else "no reason given"


def is_halted(state: dict[str, Any] | None) -> bool:
    return bool(state) and str(state.get("state")) == "halted"  # type: ignore[union-attr]


def trading_state_line(state: dict[str, Any] | None) -> str:
    """`:large_green_circle: Trading *ACTIVE*` or `:octagonal_sign: Trading *HALTED* by <@U…>
    since <!date…> — flash crash (emergency stop #3, still running)`."""
    if not state:
        return ":grey_question: Trading state unknown (the OMS could not say)."
    since = formatting.slack_time(state.get("since"))
    who = actor_mention(state.get("changed_by"), state.get("changed_by_name"))
    if not is_halted(state):
        if state.get("changed_by"):
            return f":large_green_circle: Trading *ACTIVE* (resumed by {who} {since})"
        return ":large_green_circle: Trading *ACTIVE*"
    stop = state.get("stop_id")
    cause = ""
    if stop is not None:
        running = ", still running" if state.get("stop_running") else ""
        cause = f" (emergency stop #{user_text(str(stop), 20)}{running})"
    return (
        f":octagonal_sign: Trading *HALTED* by {who} since {since}{cause}"
        f" — {reason_text(state.get('reason'))}"
    )


def reason_input(initial: str | None, placeholder: str) -> InputBlock:
    """The reason: required, kept in the audit trail and shown to the channel."""
    return InputBlock(
        block_id=ids.REASON,
        label="Reason",
        hint="Kept in the audit trail and shown in the channel.",
        element=PlainTextInputElement(
            action_id=ids.REASON,
            multiline=True,
            max_length=MAX_REASON_CHARS,
            placeholder=placeholder,
            initial_value=" ".join((initial or "").split())[:MAX_REASON_CHARS] or None,
        ),
    )


def resume_button() -> ButtonElement:
    """Opens the resume confirmation (the same as /resume)."""
    return ButtonElement(
        text="Resume trading…", action_id=ids.CONTROLS_RESUME, value="resume", style="primary"
    )


def _count(value: int | None, one: str, many: str) -> str:
    if value is None:
        return many
    return f"{value:,} {one if value == 1 else many}"


def _view(
    callback_id: str,
    title: str,
    blocks: list[Any],
    metadata: str,
    submit: str | None,
) -> dict[str, Any]:
    view = View(
        type="modal",
        callback_id=callback_id,
        title=truncate(title, 24),
        submit=submit,
        close="Cancel" if submit else "Close",
        private_metadata=metadata,
        blocks=blocks,
    )
    return view.to_dict()


# --- the emergency stop's confirmation ------------------------------------------------------
def positions_summary(book: dict[str, Any] | None) -> tuple[int | None, Decimal | None, int]:
    """(open positions, their total market value, how many have no price) in a
    `GET /positions/by-portfolio` answer: the books and what the broker holds beyond them."""
    if book is None:
        return None, None, 0
    held = [
        position
        for group in [
            *(p.get("positions") or [] for p in book.get("portfolios") or []),
            book.get("outside_portfolios") or [],
        ]
        for position in group
        if formatting.to_decimal(position.get("qty"))
    ]
    values = [formatting.to_decimal(p.get("market_value")) for p in held]
    priced = [v for v in values if v is not None]
    total = sum(priced, start=Decimal(0)) if priced else None
    return len(held), total, len(values) - len(priced)


def stop_confirm_view(
    *,
    open_orders: int | None,
    book: dict[str, Any] | None,
    state: dict[str, Any] | None,
    mode: str,
    reason: str | None,
    metadata: str,
    running_stop_id: int | None = None,
) -> dict[str, Any]:
    """What `/stop` will do, counted: halt, cancel every open order, close every position
    (with their total market value), stay halted; the reason (required) and an explicit
    "yes" before the red-lettered submit."""
    positions, total, unpriced = positions_summary(book)
    orders_line = (
        f"*Cancel all {_count(open_orders, 'open order', 'open orders')}*"
        if open_orders is not None
        else "*Cancel every open order* (the OMS could not count them just now)"
    )
    if positions is None:
        positions_line = "*Close every position* at market (the positions could not be read)"
    else:
        value = f"total market value *{formatting.money(total)}*" if total is not None else ""
        if unpriced:
            value += f"{', ' if value else ''}{unpriced} without a price"
        value = f" ({value})" if value else ""
        positions_line = (
            f"*Close all {_count(positions, 'position', 'positions')}*{value} at market"
        )
    steps = "\n".join(
        [
            "*This will, at once:*",
            "1. *Halt trading* — every new order is refused, from Slack and from the API.",
            f"2. {orders_line}.",
            f"3. {positions_line} — every position at the broker, in every portfolio.",
            "4. Keep trading *HALTED* until an admin runs /resume.",
        ]
    )
    blocks: list[Any] = [
        HeaderBlock(text=PlainTextObject(text=":rotating_light: Emergency stop", emoji=True)),
        section(mode_badge(mode)),
        section(steps),
    ]
    if running_stop_id is not None:
        blocks.append(
            section(
                f":warning: Emergency stop #{running_stop_id} is already running: submitting "
                "shows that one, nothing new starts."
            )
        )
    blocks.append(context(trading_state_line(state)))
    blocks.append(reason_input(reason, "Why stop everything? e.g. flash crash, broker incident"))
    option = Option(value="yes", label=STOP_CONFIRM_LABEL)
    blocks.append(
        InputBlock(
            block_id=ids.CONFIRM,
            label="Confirm",
            element=CheckboxesElement(action_id=ids.CONFIRM, options=[option]),
        )
    )
    return _view(ids.STOP_CONFIRM, STOP_TITLE, blocks, metadata, "STOP EVERYTHING")


# --- halt and resume ------------------------------------------------------------------------
def halt_confirm_view(
    state: dict[str, Any] | None, mode: str, reason: str | None, metadata: str
) -> dict[str, Any]:
    blocks: list[Any] = [
        section(mode_badge(mode)),
        section(
            "*Halt trading?* Every new order is refused from now on (from Slack and from the "
            "API) until an admin runs /resume; cancels still go through.\nNothing is canceled "
            "or closed: working orders keep working. To also cancel every order and close every "
            "position, use /stop."
        ),
        context(trading_state_line(state)),
    ]
    if is_halted(state):
        blocks.insert(1, section(":information_source: Trading is already halted."))
    blocks.append(reason_input(reason, "Why halt? e.g. news pending, broker incident"))
    return _view(ids.HALT_CONFIRM, HALT_TITLE, blocks, metadata, "Halt trading")


def resume_confirm_view(
    state: dict[str, Any] | None, mode: str, reason: str | None, metadata: str
) -> dict[str, Any]:
    """Resume, with who halted it and why; already active: nothing to confirm."""
    if state is not None and not is_halted(state):
        blocks = [
            section(":information_source: Trading is already *ACTIVE* — nothing to resume."),
            context(trading_state_line(state)),
        ]
        return _view(ids.RESUME_CONFIRM, RESUME_TITLE, blocks, metadata, None)
    blocks = [
        section(mode_badge(mode)),
        section(trading_state_line(state)),
        section(
            "*Resume trading?* New orders are accepted again, from Slack and from the API. "
            "Paused portfolios stay paused (/portfolio resume NAME)."
        ),
    ]
    if state and state.get("stop_running"):
        blocks.append(
            section(
                f":warning: Emergency stop #{user_text(str(state.get('stop_id')), 20)} is still "
                "running: the OMS refuses to resume until it has finished."
            )
        )
    blocks.append(reason_input(reason, "Why resume now? e.g. incident over, positions checked"))
    return _view(ids.RESUME_CONFIRM, RESUME_TITLE, blocks, metadata, "Resume trading")


def trading_state_message(
    state: dict[str, Any], user: str, *, halted: bool, already: bool = False
) -> dict[str, Any]:
    """Posted in the channel once trading was halted or resumed from Slack."""
    who = actor_mention(user)
    why = reason_text(state.get("reason"))
    when = formatting.slack_time(state.get("since"))
    if halted:
        head = (
            f":octagonal_sign: Trading was already *HALTED* — {trading_state_line(state)}"
            if already
            else f":octagonal_sign: Trading *HALTED* by {who} {when}.\n*Why:* {why}"
        )
        blocks: list[Any] = [
            section(head),
            section(
                "New orders are refused until an admin runs /resume; cancels still go through, "
                "and working orders keep working.",
                accessory=resume_button(),
            ),
        ]
        text = f"Trading HALTED by {who}: {why}"
    else:
        head = (
            ":arrow_forward: Trading was already *ACTIVE* — nothing changed."
            if already
            else f":arrow_forward: Trading *resumed* by {who} {when}.\n*Why:* {why}"
        )
        blocks = [section(head), section("New orders are accepted again.")]
        text = f"Trading resumed by {who}: {why}"
    return message(text, blocks)


# --- portfolios -----------------------------------------------------------------------------
def portfolio_book(book: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    """The portfolio named `name` (any case) in a `GET /positions/by-portfolio` answer."""
    wanted = name.strip().lower()
    for portfolio in (book or {}).get("portfolios") or []:
        if str(portfolio.get("name") or "").lower() == wanted:
            return portfolio
    return None


def portfolio_stop_confirm_view(
    name: str,
    portfolio: dict[str, Any] | None,
    working_orders: int | None,
    more_orders: bool,
    mode: str,
    reason: str | None,
    metadata: str,
) -> dict[str, Any]:
    shown = user_text(name, NAME_LIMIT)
    if portfolio is None:
        held_line = "*Close every holding* at market (the holdings could not be read)"
    else:
        held, total, _ = positions_summary({"portfolios": [portfolio]})
        value = f" (market value *{formatting.money(total)}*)" if total is not None else ""
        held_line = f"*Close its {_count(held, 'holding', 'holdings')}*{value} at market"
    if working_orders is None:
        orders_line = "*Cancel its working orders* (they could not be counted just now)"
    else:
        count = _count(working_orders, "working order", "working orders")
        orders_line = f"*Cancel its {count}{'+' if more_orders else ''}*"
    blocks: list[Any] = [
        section(mode_badge(mode)),
        section(
            f"*Stop portfolio {shown}?* This will, at once:\n"
            f"1. *Pause {shown}* — its new orders are refused until /portfolio resume {shown}.\n"
            f"2. {orders_line}.\n"
            f"3. {held_line}.\n"
            "Other portfolios are not touched."
        ),
        reason_input(reason, f"Why stop {name}?"),
    ]
    return _view(ids.PORTFOLIO_STOP_CONFIRM, PORTFOLIO_STOP_TITLE, blocks, metadata, "Stop it")


def portfolio_status_message(
    portfolio: dict[str, Any], user: str, reason: str | None
) -> dict[str, Any]:
    """Posted once a portfolio was paused or resumed from Slack."""
    name = user_text(str(portfolio.get("name") or "?"), NAME_LIMIT)
    who = actor_mention(user)
    why = f"\n*Why:* {reason_text(reason)}" if reason and reason.strip() else ""
    if portfolio.get("status") == "paused":
        head = f":double_vertical_bar: Portfolio *{name}* paused by {who}.{why}"
        rest = f"Its new orders are refused until an admin runs `/portfolio resume {name}`."
        text = f"Portfolio {name} paused by {who}"
    else:
        head = f":arrow_forward: Portfolio *{name}* resumed by {who}.{why}"
        rest = f"{name} accepts new orders again."
        text = f"Portfolio {name} resumed by {who}"
    return message(text, [section(head), context(rest)])


def _trade_ids(ids_: list[Any]) -> str:
    shown = ", ".join(f"#{user_text(str(i), 20)}" for i in ids_[:40])
    return shown + (f" and {len(ids_) - 40} more" if len(ids_) > 40 else "")


def portfolio_stop_message(
    result: dict[str, Any], user: str, reason: str, mode: str
) -> dict[str, Any]:
    """What POST /portfolios/{name}/stop did: paused, orders canceled, closing orders, and
    anything it could not do."""
    name = user_text(str(result.get("portfolio") or "?"), NAME_LIMIT)
    canceled = list(result.get("canceled_trade_ids") or [])
    closing = list(result.get("closing_trade_ids") or [])
    problems = [str(p) for p in result.get("problems") or []]
    tone = ":warning:" if problems else ":octagonal_sign:"
    lines = [
        f"{tone} Portfolio *{name}* stopped by {actor_mention(user)}.",
        f"*Why:* {reason_text(reason)}",
        (
            f":double_vertical_bar: *Paused* — its new orders are refused until "
            f"`/portfolio resume {name}`."
            if result.get("paused")
            else ":warning: *Not paused* — check /positions."
        ),
        f"*Orders canceled:* {len(canceled)}" + (f" ({_trade_ids(canceled)})" if canceled else ""),
        f"*Closing orders placed:* {len(closing)}"
        + (f" ({_trade_ids(closing)}; /orders shows their fills)" if closing else ""),
    ]
    blocks: list[Any] = [section("\n".join(lines))]
    if problems:
        listed = "\n".join(f"• {user_text(p, 300)}" for p in problems[:20])
        more = f"\n…and {len(problems) - 20} more." if len(problems) > 20 else ""
        blocks.append(section(f":x: *Could not be done:*\n{listed}{more}"))
    blocks.append(context(mode_badge(mode)))
    text = f"Portfolio {name} stopped: {len(canceled)} orders canceled, {len(closing)} closing" + (
        f", {len(problems)} problems" if problems else ""
    )
    return message(text, blocks)


# --- emergency sells ------------------------------------------------------------------------
def emergency_sell_message(
    trade: dict[str, Any],
    user: str,
    mode: str,
    *,
    portfolio: str | None,
    whole_account: bool = False,
) -> dict[str, Any]:
    """The result of an emergency sell: the trade (ids, status, fills) and what it did to the
    portfolio (paused)."""
    result = trade_result_message(trade, user, mode)
    symbol = user_text(str(trade.get("symbol") or "?"), 21)
    if whole_account:
        head = (
            f":rotating_light: *Emergency close of the unmanaged {symbol} position* by "
            f"{actor_mention(user)}, at the broker."
        )
        tail = "Only what no portfolio holds was closed: the portfolios' holdings are untouched."
    else:
        name = user_text(str(portfolio or trade.get("portfolio") or "?"), NAME_LIMIT)
        head = f":rotating_light: *Emergency sell* of {name}'s {symbol} by {actor_mention(user)}."
        tail = (
            f":double_vertical_bar: Portfolio *{name}* is paused — an admin can "
            f"`/portfolio resume {name}`."
        )
    blocks = [section(head), *result["blocks"], section(tail)]
    return message(f"Emergency sell: {result['text']}", blocks)
