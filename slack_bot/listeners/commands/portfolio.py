"""/portfolio (admins): `new` (a modal that shows the capital still available), `limits NAME
…` (the portfolio's pre-trade limits), `pause NAME [reason]` and `resume NAME [reason]` (at
once) and `stop NAME [reason]` (after a confirmation: pause it, cancel its working orders,
close its holdings)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from slack_bot.auth import Attempt, Refusal
from slack_bot.blocks.controls import (
    PORTFOLIO_STOP_TITLE,
    portfolio_book,
    portfolio_status_message,
    portfolio_stop_confirm_view,
)
from slack_bot.blocks.home import capital_marker, capital_split
from slack_bot.blocks.portfolios import (
    PORTFOLIO_NEW_TITLE,
    available_line,
    limits_message,
    portfolio_new_view,
)
from slack_bot.deps import BotDeps
from slack_bot.forms import SYMBOL_PATTERN
from slack_bot.listeners.common import (
    UserFacingError,
    call_oms,
    deps_of,
    message,
    refuse,
    reply,
    trading_mode,
)
from slack_bot.listeners.controls import (
    call_control,
    control_metadata,
    open_loading,
    quietly,
    show_notice,
    show_view,
)

LIMITS_USAGE = (
    "/portfolio limits NAME [allow AAPL,MSFT] [deny TSLA] [max-order 5000] "
    "[max-position 20000] [clear allow|deny|max-order|max-position|all]"
)
USAGE = (
    "Use /portfolio pause NAME [reason], /portfolio resume NAME [reason] or "
    "/portfolio stop NAME [reason]; /portfolio new [NAME] [CAPITAL] for a new portfolio, and "
    f"{LIMITS_USAGE} for its pre-trade limits."
)
ACTIONS = {
    "pause": "pause portfolios",
    "resume": "resume portfolios",
    "stop": "stop portfolios",
    "new": "create portfolios",
    "limits": "set portfolio limits",
}
OPEN_ORDERS_COUNTED = 200  # one OMS page: beyond it the confirmation says "200+"

# /portfolio limits: each option's word → the OMS's field.
LIMIT_OPTIONS = {
    "allow": "allowed_symbols",
    "deny": "denied_symbols",
    "max-order": "max_order_notional",
    "max-position": "max_position_value",
}
_OPTION_ALIASES = {"max_order": "max-order", "max_position": "max-position"}
MAX_AMOUNT = Decimal("10") ** 16  # the OMS keeps money as NUMERIC(18, 2)


def parse_portfolio_text(text: str) -> tuple[str, str, str]:
    """(what, name, rest) from `pause main news pending`; `new` needs no name. A
    UserFacingError with the usage when it is not a /portfolio command."""
    words = text.split()
    if not words or words[0].lower() not in ACTIONS:
        if words and words[0].lower() != "help":
            raise UserFacingError(f"I did not understand “{text.strip()[:60]}”. {USAGE}")
        raise UserFacingError(USAGE)
    what = words[0].lower()
    if len(words) < 2 and what != "new":
        raise UserFacingError(f"Which portfolio? {USAGE}")
    return what, (words[1] if len(words) > 1 else ""), " ".join(words[2:])


def parse_amount(text: str) -> Decimal | None:
    """A positive dollar amount with at most cents (`5000`, `$5,000.50`); None otherwise."""
    cleaned = text.strip().removeprefix("$").replace(",", "")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0 or amount >= MAX_AMOUNT:
        return None
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        return None
    return amount


def _option(word: str) -> str | None:
    lowered = word.lower()
    lowered = _OPTION_ALIASES.get(lowered, lowered)
    return lowered if lowered in LIMIT_OPTIONS or lowered == "clear" else None


def _symbols(option: str, words: list[str]) -> list[str]:
    symbols = [s.strip().upper() for s in ",".join(words).split(",") if s.strip()]
    if not symbols:
        raise UserFacingError(
            f"“{option}” needs symbols, e.g. {option} AAPL,MSFT (clear {option} removes them)."
        )
    bad = [s for s in symbols if not SYMBOL_PATTERN.match(s)]
    if bad:
        raise UserFacingError(f"“{bad[0][:20]}” is not a symbol (e.g. AAPL, BRK.B).")
    return list(dict.fromkeys(symbols))


def _amount(option: str, words: list[str]) -> Decimal:
    amount = parse_amount(words[0]) if len(words) == 1 else None
    if amount is None:
        raise UserFacingError(
            f"“{option}” needs one positive dollar amount, e.g. {option} 5000 "
            f"(clear {option} removes the limit)."
        )
    return amount


def _cleared(words: list[str]) -> list[str]:
    names = [w.strip().lower() for w in ",".join(words).split(",") if w.strip()]
    if not names:
        raise UserFacingError(f"Clear what? {LIMITS_USAGE}")
    fields = []
    for name in names:
        name = _OPTION_ALIASES.get(name, name)
        if name == "all":
            fields += list(LIMIT_OPTIONS.values())
        elif name in LIMIT_OPTIONS:
            fields.append(LIMIT_OPTIONS[name])
        else:
            raise UserFacingError(
                f"“{name[:20]}” is not a limit: clear allow, deny, max-order, max-position or all."
            )
    return list(dict.fromkeys(fields))


def parse_limits_text(text: str) -> dict[str, Any]:
    """The changes `allow AAPL,MSFT deny TSLA max-order 5000 clear max-position` asks for,
    as the OMS's fields (None clears one); {} when nothing is asked (show the limits).
    A UserFacingError says what is wrong."""
    words = text.split()
    if words and _option(words[0]) is None:
        raise UserFacingError(f"I did not understand “{words[0][:30]}”. Use {LIMITS_USAGE}.")
    groups: list[tuple[str, list[str]]] = []
    for word in words:
        option = _option(word)
        # `clear` takes the one word after it (`clear allow,max-order`), whatever it is.
        if groups and groups[-1][0] == "clear" and not groups[-1][1]:
            groups[-1][1].append(word)
        elif option is not None:
            groups.append((option, []))
        else:
            groups[-1][1].append(word)
    changes: dict[str, Any] = {}
    for option, values in groups:
        if option == "clear":
            fields = _cleared(values)
            settled = [f for f in fields if f in changes and changes[f] is not None]
            if settled:
                raise UserFacingError("A limit cannot be set and cleared at once.")
            changes.update(dict.fromkeys(fields))
            continue
        field = LIMIT_OPTIONS[option]
        if field in changes:
            raise UserFacingError(f"“{option}” is given twice.")
        if field in ("allowed_symbols", "denied_symbols"):
            changes[field] = _symbols(option, values)
        else:
            changes[field] = _amount(option, values)
    return changes


def handle_portfolio(ack: Any, command: dict, client: Any, respond: Any, context: Any) -> None:
    ack()
    deps = deps_of(context)
    user, channel = command["user_id"], command.get("channel_id", "")
    text = command.get("text") or ""
    words = text.split()
    what = words[0].lower() if words and words[0].lower() in ACTIONS else None
    refusal: Refusal | None = deps.authorizer.check_admin(
        user,
        channel,
        ACTIONS.get(what or "", "manage portfolios"),
        attempt=Attempt(
            "/portfolio" + (f" {what}" if what else ""),
            command.get("user_name"),
            f"portfolio {words[1][:40]}" if what and len(words) > 1 else None,
        ),
    )
    if refusal is not None:
        refuse(respond, refusal.message)
        return
    try:
        what, name, rest = parse_portfolio_text(text)
    except UserFacingError as error:
        reply(respond, message(str(error)))
        return
    if what == "new":
        # The trigger_id lives 3 s: the modal opens before the OMS is asked anything.
        view_id = open_loading(client, command["trigger_id"], PORTFOLIO_NEW_TITLE)
        prefill = dict(zip(("name", "capital", "loss_limit"), words[1:4], strict=False))
        fill_portfolio_new(deps, client, view_id, channel, user, prefill)
        return
    if what == "limits":
        set_limits(deps, respond, command, name, rest)
        return
    if what == "stop":
        view_id = open_loading(client, command["trigger_id"], PORTFOLIO_STOP_TITLE)
        fill_portfolio_stop_confirm(deps, client, view_id, channel, user, name, rest)
        return
    status = "paused" if what == "pause" else "active"
    try:
        portfolio = call_control(
            lambda: deps.oms.set_portfolio_status(
                name,
                status,
                requested_by=user,
                requested_by_name=command.get("user_name"),
                reason=rest,
            )
        )
    except UserFacingError as error:
        reply(respond, message(str(error)))
        return
    reply(respond, portfolio_status_message(portfolio, user, rest), in_channel=True)


def fill_portfolio_new(
    deps: BotDeps,
    client: Any,
    view_id: str,
    channel: str,
    user: str,
    prefill: dict[str, str],
) -> None:
    """The new-portfolio form, under the capital still available (buying power minus what
    every portfolio was given), read before the admin types anything."""
    portfolios_f = deps.lookups.submit(quietly, deps.oms.portfolios, "the portfolios")
    account = quietly(deps.oms.account, "the account")
    portfolios = portfolios_f.result()
    if account is None:
        available_text = available_line(None, None, None, "")
    else:
        allocated, available = capital_split(account, portfolios)
        marker = capital_marker(available, account.get("buying_power"))
        available_text = available_line(available, account.get("buying_power"), allocated, marker)
    mode = str((account or {}).get("mode") or "") or trading_mode(deps)
    view = portfolio_new_view(available_text, mode, control_metadata(channel, user), prefill)
    show_view(client, view_id, view)


def _find(portfolios: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    wanted = name.strip().lower()
    return next((p for p in portfolios if str(p.get("name") or "").lower() == wanted), None)


def set_limits(deps: BotDeps, respond: Any, command: dict, name: str, text: str) -> None:
    """`/portfolio limits NAME …`: PUT the changes and post the limits in the channel; with
    no change asked, show the portfolio's limits to the admin alone."""
    try:
        changes = parse_limits_text(text)
    except UserFacingError as error:
        reply(respond, message(str(error)))
        return
    user = command["user_id"]
    if not changes:
        try:
            portfolios = call_oms(deps.oms.portfolios, reading="the portfolios")
        except UserFacingError as error:
            reply(respond, message(str(error)))
            return
        portfolio = _find(portfolios, name)
        if portfolio is None:
            reply(respond, message(f"There is no portfolio named “{name[:40]}”."))
            return
        shown = str(portfolio.get("name") or name)
        reply(respond, limits_message(shown, portfolio.get("limits") or {}, None))
        return
    try:
        limits = call_control(
            lambda: deps.oms.set_portfolio_limits(
                name,
                changes,
                requested_by=user,
                requested_by_name=command.get("user_name"),
            )
        )
    except UserFacingError as error:
        reply(respond, message(str(error)))
        return
    shown = str(limits.get("portfolio") or name.strip().lower())
    payload = limits_message(shown, limits, user, list(changes))
    reply(respond, payload, in_channel=True)


def fill_portfolio_stop_confirm(
    deps: BotDeps,
    client: Any,
    view_id: str,
    channel: str,
    user: str,
    name: str,
    reason: str,
) -> None:
    """What stopping the portfolio will do, counted from its book and its working orders."""
    book_f = deps.executor.submit(quietly, deps.oms.positions_by_portfolio, "positions")
    orders = quietly(
        lambda: deps.oms.list_trades(portfolio=name, open=True, limit=OPEN_ORDERS_COUNTED),
        "the portfolio's working orders",
    )
    book = book_f.result()
    portfolio = portfolio_book(book, name)
    if book is not None and portfolio is None:
        known = ", ".join(str(p.get("name")) for p in (book.get("portfolios") or [])[:20])
        show_notice(
            client,
            view_id,
            PORTFOLIO_STOP_TITLE,
            f"There is no portfolio named “{name[:40]}”"
            + (f" (there are: {known})." if known else "."),
            "error",
        )
        return
    canonical = str(portfolio.get("name")) if portfolio else name
    view = portfolio_stop_confirm_view(
        canonical,
        portfolio,
        len(orders.get("trades") or []) if orders else None,
        bool(orders and orders.get("next_cursor")),
        trading_mode(deps),
        reason,
        control_metadata(channel, user, portfolio=canonical),
    )
    show_view(client, view_id, view)
