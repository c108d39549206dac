"""/portfolios, /portfolio new and /portfolio limits: the parsers and Block Kit builders apart,
then end to end — the real bolt app over signed HTTP requests, the fake Slack Web API and the
real OMS on the simulator. The new-portfolio modal shows the capital available before anything
is typed, and the OMS's refusals land on the field to fix; limits are set, cleared and shown;
non-admins are refused and the refusal is in the audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from slack_bot.blocks.portfolios import (
    NEW_CAPITAL,
    NEW_LOSS_LIMIT,
    NEW_NAME,
    PORTFOLIO_NEW_FORM,
    limits_message,
    limits_summary,
    portfolios_message,
)
from slack_bot.listeners.commands.portfolio import parse_limits_text, parse_portfolio_text
from slack_bot.listeners.common import UserFacingError
from slack_bot.listeners.views.portfolio_new import (
    PortfolioDraft,
    parse_portfolio_form,
    refusal_errors,
)
from slack_bot.oms_client import OmsClient, OmsError
from tests.oms import OMS, TOKEN
from tests.slack_fakes import form_values
from tests.slack_harness import (
    ADMIN,
    CHANNEL,
    OMS_URL,
    STRANGER,
    TRADER,
    Bot,
    bot_on_real_oms,
    mocked_oms_router,
    running_bot,
    text_of,
)
from tests.waiting import wait_until

NASTY = "<@U123> & <!channel>"
META = json.dumps({"channel_id": CHANNEL, "user_id": ADMIN})


def check_message(msg: dict[str, Any]) -> str:
    assert msg["text"] and len(msg["blocks"]) <= 50
    for block in msg["blocks"]:
        assert Block.parse(block).to_dict() == block  # type: ignore[union-attr]
    return json.dumps(msg, ensure_ascii=False)


def summary(name: str, **extra: Any) -> dict[str, Any]:
    base = {
        "id": 1,
        "name": name,
        "allocated_capital": "10000",
        "status": "active",
        "daily_loss_limit": None,
        "realized_pnl": "12.5",
        "unrealized_pnl": None,
        "today_pnl": "-3",
        "limits": {
            "allowed_symbols": None,
            "denied_symbols": None,
            "max_order_notional": None,
            "max_position_value": None,
        },
    }
    base.update(extra)
    return base


# ----------------------------------------------------------------------------- parsers
def test_limits_text_becomes_the_oms_fields() -> None:
    assert parse_limits_text(
        "allow aapl, MSFT deny TSLA max-order $5,000 max-position 20000.50"
    ) == {
        "allowed_symbols": ["AAPL", "MSFT"],
        "denied_symbols": ["TSLA"],
        "max_order_notional": Decimal("5000"),
        "max_position_value": Decimal("20000.50"),
    }
    assert parse_limits_text("clear allow,max-order") == {
        "allowed_symbols": None,
        "max_order_notional": None,
    }
    assert parse_limits_text("clear all") == dict.fromkeys(
        ["allowed_symbols", "denied_symbols", "max_order_notional", "max_position_value"]
    )
    assert parse_limits_text("deny TSLA clear allow") == {
        "denied_symbols": ["TSLA"],
        "allowed_symbols": None,
    }
    assert parse_limits_text("") == {}  # nothing asked: show them


@pytest.mark.parametrize(
    "text, says",
    [
        ("please AAPL", "I did not understand “please”"),
        ("allow", "“allow” needs symbols"),
        ("allow 123", "“123” is not a symbol"),
        ("max-order 0", "needs one positive dollar amount"),
        ("max-order 5.001", "needs one positive dollar amount"),
        ("max-order 5 6", "needs one positive dollar amount"),
        ("max-order 5 clear max-order", "cannot be set and cleared at once"),
        ("deny A deny B", "“deny” is given twice"),
        ("clear everything", "“everything” is not a limit"),
    ],
)
def test_limits_text_that_makes_no_sense_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(UserFacingError, match=says):
        parse_limits_text(text)


def test_portfolio_new_needs_no_name_the_others_do() -> None:
    assert parse_portfolio_text("new") == ("new", "", "")
    assert parse_portfolio_text("NEW growth 25000") == ("new", "growth", "25000")
    assert parse_portfolio_text("limits main allow AAPL") == ("limits", "main", "allow AAPL")
    with pytest.raises(UserFacingError, match=r"Which portfolio\?"):
        parse_portfolio_text("limits")


def test_the_new_portfolio_form_is_checked_field_by_field() -> None:
    values = form_values({NEW_NAME: " Growth ", NEW_CAPITAL: "$25,000", NEW_LOSS_LIMIT: "500"})
    assert parse_portfolio_form(values) == PortfolioDraft(
        "growth", Decimal("25000"), Decimal("500")
    )
    no_limit = form_values({NEW_NAME: "g", NEW_CAPITAL: "1", NEW_LOSS_LIMIT: None})
    assert parse_portfolio_form(no_limit) == PortfolioDraft("g", Decimal("1"), None)
    bad = form_values({NEW_NAME: "my fund!", NEW_CAPITAL: "-5", NEW_LOSS_LIMIT: "lots"})
    assert set(parse_portfolio_form(bad)) == {NEW_NAME, NEW_CAPITAL, NEW_LOSS_LIMIT}  # type: ignore[arg-type]


def test_the_oms_refusals_go_on_the_field_they_are_about() -> None:
    draft = PortfolioDraft("growth", Decimal("50000"), None)
    exceeded = OmsError(
        409,
        "capital_exceeds_available",
        "capital $50,000.00 exceeds the $1,000.00 available",
        {
            "capital": "50000.00",
            "available_capital": "1000.00",
            "buying_power": "11000.00",
            "allocated_capital": "10000.00",
        },
    )
    assert refusal_errors(exceeded, draft) == {
        NEW_CAPITAL: "Only $1,000.00 is available (buying power $11,000.00, $10,000.00 already "
        "given to portfolios): $50,000.00 is too much."
    }
    taken = OmsError(409, "portfolio_exists", "portfolio 'growth' already exists")
    assert refusal_errors(taken, draft) == {
        NEW_NAME: "A portfolio named growth already exists — choose another name."
    }
    malformed = OmsError(
        422,
        "malformed_request",
        "daily_loss_limit: too big",
        {"problems": [{"field": "daily_loss_limit", "problem": "too big"}]},
    )
    assert refusal_errors(malformed, draft) == {NEW_LOSS_LIMIT: "Too big."}


# ----------------------------------------------------------------------------- builders
def test_portfolios_message_shows_capital_pnl_status_loss_limit_and_limits() -> None:
    limits = {
        "allowed_symbols": ["AAPL", "MSFT"],
        "denied_symbols": ["TSLA"],
        "max_order_notional": "5000.00",
        "max_position_value": None,
    }
    msg = portfolios_message(
        [
            summary("main", daily_loss_limit="500.00", limits=limits),
            summary("growth", status="paused", allocated_capital="2500.50"),
        ],
        "paper",
    )
    text = check_message(msg)
    assert "Portfolios (2)" in text and "Capital given to portfolios: $12,500.50" in text
    assert (
        "*main* · :large_green_circle: active\\nCapital $10,000.00 · daily loss limit $500.00\\n"
        "P&L realized +$12.50 · unrealized — · today -$3.00\\n"
        "Limits: allow AAPL, MSFT · deny TSLA · max order $5,000.00"
    ) in text
    assert "*growth* · :double_vertical_bar: *paused*" in text
    assert "no daily loss limit" in text and "Limits: no limits" in text


def test_a_long_list_of_portfolios_stays_within_50_blocks() -> None:
    msg = portfolios_message([summary(f"p{n}") for n in range(60)], "paper")
    text = check_message(msg)
    assert "13 more not shown" in text


def test_limits_are_read_as_sentences_and_user_text_is_escaped() -> None:
    assert limits_summary(None) == "no limits"
    assert limits_summary({"allowed_symbols": []}) == "allow no symbol"
    msg = limits_message(
        NASTY,
        {"allowed_symbols": None, "denied_symbols": [NASTY], "max_order_notional": "1"},
        ADMIN,
        ["denied_symbols"],
    )
    text = check_message(msg)
    assert "<@U123>" not in text and "<!channel>" not in text
    assert "• *Symbols allowed:* any symbol" in text
    assert "• *Max order:* $1.00" in text and "• *Max position:* no limit" in text
    assert "_(changed)_" in text


# ----------------------------------------------------------------------------- end to end
@pytest.fixture
def real_bot(oms: OMS) -> Iterator[Bot]:
    with bot_on_real_oms(oms) as bot:
        yield bot


def refusals(oms: OMS) -> list[dict[str, Any]]:
    return oms.get("/audit", params={"action": "refused_by_bot"}).json()["entries"]


def audit_of(oms: OMS, action: str) -> list[dict[str, Any]]:
    return oms.get("/audit", params={"action": action}).json()["entries"]


def open_new_form(bot: Bot, text: str = "new") -> tuple[str, dict[str, Any]]:
    bot.command("/portfolio", text, user=ADMIN)
    [update] = bot.slack.wait_for(
        "views.update", where=lambda c: c.args["view"].get("callback_id") == PORTFOLIO_NEW_FORM
    )
    return update.args["view_id"], update.args["view"]


def test_portfolios_lists_every_portfolio_in_one_message(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    oms.create_portfolio("growth", "2500")
    limits = {"allowed_symbols": ["AAPL"], "max_order_notional": "5000"}
    assert oms.client.put("/api/v1/portfolios/main/limits", json=limits, headers=oms.headers)
    real_bot.oms_traffic.clear()  # type: ignore[attr-defined]

    real_bot.command("/portfolios", user=TRADER)
    reply = real_bot.wait_reply("portfolios")
    assert real_bot.oms_traffic.paths() == ["/portfolios"]  # type: ignore[attr-defined]
    assert reply["response_type"] == "ephemeral"
    text = check_message(reply)
    assert "Portfolios (2)" in text and "Capital given to portfolios: $12,500.00" in text
    assert "*growth* · :large_green_circle: active\\nCapital $2,500.00" in text
    assert "Limits: allow AAPL · max order $5,000.00" in text

    real_bot.command("/portfolios", user=STRANGER)
    assert "not allowed" in text_of(real_bot.wait_reply("portfolios", 2))


def test_portfolio_new_shows_the_capital_available_then_creates_it(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    view_id, form = open_new_form(real_bot, "new growth 25000")
    text = text_of(form)
    # $100,000 of buying power, $10,000 of it given to main.
    assert "*Capital available for a new portfolio:* :large_green_circle: *$90,000.00*" in text
    assert "of which $10,000.00 is already given to portfolios" in text
    inputs = {b["block_id"]: b["element"].get("initial_value") for b in form["blocks"][2:]}
    assert inputs == {NEW_NAME: "growth", NEW_CAPITAL: "25000", NEW_LOSS_LIMIT: None}
    View(**form).to_dict()

    values = form_values({NEW_NAME: "growth", NEW_CAPITAL: "25000", NEW_LOSS_LIMIT: "750"})
    answer = real_bot.submit(PORTFOLIO_NEW_FORM, values, META, user=ADMIN, view_id=view_id)
    assert answer["response_action"] == "update"
    assert "Portfolio growth created with capital $25,000.00." in text_of(answer["view"])
    created = {p["name"]: p for p in oms.get("/portfolios").json()}["growth"]
    assert (created["allocated_capital"], created["daily_loss_limit"]) == ("25000", "750")
    [posted] = real_bot.slack.wait_for("chat.postMessage")
    assert posted.args["channel"] == CHANNEL
    assert (
        f":new: Portfolio *growth* created by <@{ADMIN}> with capital *$25,000.00*, daily loss "
        "limit $750.00."
    ) in text_of(posted.args)
    [entry] = [e for e in audit_of(oms, "portfolio_create") if e["target"] == "portfolio growth"]
    assert entry["actor"] == ADMIN


def test_portfolio_new_refusals_show_on_the_fields_and_nothing_is_created(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    view_id, _ = open_new_form(real_bot)

    too_much = form_values({NEW_NAME: "growth", NEW_CAPITAL: "95000", NEW_LOSS_LIMIT: None})
    answer = real_bot.submit(PORTFOLIO_NEW_FORM, too_much, META, user=ADMIN, view_id=view_id)
    assert answer == {
        "response_action": "errors",
        "errors": {
            NEW_CAPITAL: "Only $90,000.00 is available (buying power $100,000.00, $10,000.00 "
            "already given to portfolios): $95,000.00 is too much."
        },
    }
    taken = form_values({NEW_NAME: "MAIN", NEW_CAPITAL: "10", NEW_LOSS_LIMIT: None})
    answer = real_bot.submit(PORTFOLIO_NEW_FORM, taken, META, user=ADMIN, view_id=view_id)
    assert answer["errors"] == {
        NEW_NAME: "A portfolio named main already exists — choose another name."
    }
    typo = form_values({NEW_NAME: "growth", NEW_CAPITAL: "ten", NEW_LOSS_LIMIT: None})
    answer = real_bot.submit(PORTFOLIO_NEW_FORM, typo, META, user=ADMIN, view_id=view_id)
    assert set(answer["errors"]) == {NEW_CAPITAL}
    assert [p["name"] for p in oms.get("/portfolios").json()] == ["main"]
    assert real_bot.slack.calls("chat.postMessage") == []


def test_an_oms_422_lands_on_its_field() -> None:
    with mocked_oms_router() as oms_api:
        oms_api.post("/portfolios").respond(
            422,
            json={
                "error": {
                    "code": "malformed_request",
                    "message": "daily_loss_limit: must not exceed the capital",
                    "details": {
                        "problems": [
                            {"field": "daily_loss_limit", "problem": "must not exceed the capital"}
                        ]
                    },
                }
            },
        )
        with running_bot(OmsClient(OMS_URL, TOKEN)) as bot:
            values = form_values({NEW_NAME: "g", NEW_CAPITAL: "10", NEW_LOSS_LIMIT: "20"})
            answer = bot.submit(PORTFOLIO_NEW_FORM, values, META, user=ADMIN)
    assert answer["errors"] == {NEW_LOSS_LIMIT: "Must not exceed the capital."}


def test_portfolio_new_and_limits_are_for_admins_and_refusals_are_audited(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    real_bot.command("/portfolio", "new", user=TRADER)
    assert "only OMS admins may create portfolios" in text_of(real_bot.wait_reply("portfolio"))
    real_bot.command("/portfolio", "limits main max-order 1", user=TRADER)
    said = text_of(real_bot.wait_reply("portfolio", 2))
    assert "only OMS admins may set portfolio limits" in said
    assert real_bot.slack.calls("views.open") == []
    wait_until(lambda: len(refusals(oms)) == 2, what="both refusals in the audit trail")
    assert {e["details"]["attempted"] for e in refusals(oms)} == {
        "/portfolio new",
        "/portfolio limits",
    }
    # A forged submission of the form is refused too.
    values = form_values({NEW_NAME: "g", NEW_CAPITAL: "10", NEW_LOSS_LIMIT: None})
    answer = real_bot.submit(PORTFOLIO_NEW_FORM, values, META, user=TRADER)
    assert "only OMS admins may create portfolios" in text_of(answer["view"])
    assert [p["name"] for p in oms.get("/portfolios").json()] == ["main"]
    limits = oms.get("/portfolios/main/limits").json()
    assert limits["max_order_notional"] is None


def test_portfolio_limits_are_set_cleared_and_shown(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    real_bot.command(
        "/portfolio",
        "limits main allow AAPL,MSFT deny TSLA max-order 5000 max-position 20000",
        user=ADMIN,
    )
    set_reply = real_bot.wait_reply("portfolio")
    assert set_reply["response_type"] == "in_channel"
    text = check_message(set_reply)
    assert f":straight_ruler: Limits of portfolio *main* set by <@{ADMIN}>:" in text
    assert "• *Symbols allowed:* AAPL, MSFT (only these) _(changed)_" in text
    assert "• *Max position:* $20,000.00 _(changed)_" in text
    limits = oms.get("/portfolios/main/limits").json()
    assert (limits["allowed_symbols"], limits["denied_symbols"]) == (["AAPL", "MSFT"], ["TSLA"])
    assert (limits["max_order_notional"], limits["max_position_value"]) == ("5000.00", "20000.00")
    [entry] = audit_of(oms, "portfolio_limits")
    assert (entry["actor"], entry["target"]) == (ADMIN, "portfolio main")

    real_bot.command("/portfolio", "limits main clear allow,max-order", user=ADMIN)
    cleared = text_of(real_bot.wait_reply("portfolio", 2))
    assert "• *Symbols allowed:* any symbol _(changed)_" in cleared
    assert "• *Symbols denied:* TSLA\\n" in cleared  # left as it was
    limits = oms.get("/portfolios/main/limits").json()
    assert (limits["allowed_symbols"], limits["max_order_notional"]) == (None, None)
    assert limits["denied_symbols"] == ["TSLA"]

    real_bot.command("/portfolio", "limits MAIN", user=ADMIN)
    shown = real_bot.wait_reply("portfolio", 3)
    assert shown["response_type"] == "ephemeral"
    assert "*Pre-trade limits of portfolio main*" in text_of(shown)
    assert len(audit_of(oms, "portfolio_limits")) == 2  # showing changes nothing


def test_portfolio_limits_mistakes_change_nothing(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    real_bot.command("/portfolio", "limits main max-order lots", user=ADMIN)
    assert "“max-order” needs one positive dollar amount" in text_of(
        real_bot.wait_reply("portfolio")
    )
    assert real_bot.oms_traffic.paths() == []  # type: ignore[attr-defined]  # nothing sent
    real_bot.command("/portfolio", "limits nope max-order 5", user=ADMIN)
    assert "does not exist — nothing was changed" in text_of(real_bot.wait_reply("portfolio", 2))
    assert oms.get("/portfolios/main/limits").json()["max_order_notional"] is None
