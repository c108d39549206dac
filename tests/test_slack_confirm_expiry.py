"""Confirmations expire: a confirmation older than SLACK_CONFIRMATION_EXPIRY_SECONDS (default 5
minutes) is never placed; the user reads that it expired and gets the form back, filled with
the same order and fresh prices. The bot's wall clock is a manual one: no test waits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from slack_bot.blocks import ids
from slack_bot.config import BotConfigError, load_bot_settings
from tests.slack_fakes import form_values, static_select
from tests.slack_harness import FORM_META, Bot, bot_on_real_oms, text_of, trade_values

FIVE_MINUTES = 300


@pytest.fixture
def real_bot(oms) -> Iterator[Bot]:
    with bot_on_real_oms(oms) as bot:
        yield bot


def _opened_view(bot: Bot, command: str, text: str) -> str:
    """Run a slash command that opens a modal; the modal's view id once its form is shown."""
    assert bot.command(command, text).status_code == 200
    bot.slack.wait_for("views.update")
    return bot.slack.last("views.update").args["view_id"]


def _trades(bot: Bot) -> list[dict[str, Any]]:
    return bot.oms.get("/trades").json()["trades"]  # type: ignore[attr-defined]


def _initial(view: dict[str, Any], block_id: str) -> Any:
    block = next(b for b in view["blocks"] if b.get("block_id") == block_id)
    element = block["element"]
    if "initial_option" in element:
        return element["initial_option"]["value"]
    return element.get("initial_value")


def _confirm_trade(bot: Bot, view_id: str) -> dict[str, Any]:
    answer = bot.submit(ids.TRADE_FORM, trade_values(), FORM_META, view_id=view_id)
    assert answer["response_action"] == "update"
    assert answer["view"]["callback_id"] == ids.TRADE_CONFIRM
    return answer["view"]


def test_confirmations_expire_after_five_minutes_and_nothing_is_sent(real_bot: Bot) -> None:
    view_id = _opened_view(real_bot, "/trade", "AAPL")
    confirm = _confirm_trade(real_bot, view_id)
    assert "5 minutes" in text_of(confirm)  # the confirmation says how long it is valid

    real_bot.clock.advance(FIVE_MINUTES + 1)
    answer = real_bot.submit(ids.TRADE_CONFIRM, {}, confirm["private_metadata"], view_id=view_id)

    assert answer["response_action"] == "update"
    told = text_of(answer["view"])
    assert "expired" in told and "Nothing was sent" in told
    updates = real_bot.slack.wait_for("views.update", count=2)
    form = real_bot.slack.view(view_id)
    assert form["callback_id"] == ids.TRADE_FORM  # the form again, one Review away
    assert updates[-1].args["view_id"] == view_id
    assert "expired" in text_of(form) and "$" in text_of(form)  # and the latest price
    assert _initial(form, ids.SYMBOL) == "AAPL"
    assert _initial(form, ids.AMOUNT) == "3"
    assert _initial(form, ids.PORTFOLIO) == "main"
    assert _initial(form, ids.REASON) == "test trade"
    assert _trades(real_bot) == []
    assert real_bot.slack.calls("chat.postMessage") == []

    # Review again: a fresh confirmation places the order.
    fresh = _confirm_trade(real_bot, view_id)
    real_bot.submit(ids.TRADE_CONFIRM, {}, fresh["private_metadata"], view_id=view_id)
    real_bot.slack.wait_for("chat.postMessage")
    assert [t["status"] for t in _trades(real_bot)] == ["filled"]


def test_confirmations_expire_not_before_their_time(real_bot: Bot) -> None:
    view_id = _opened_view(real_bot, "/trade", "AAPL")
    confirm = _confirm_trade(real_bot, view_id)
    real_bot.clock.advance(FIVE_MINUTES - 1)
    real_bot.submit(ids.TRADE_CONFIRM, {}, confirm["private_metadata"], view_id=view_id)
    real_bot.slack.wait_for("chat.postMessage")
    assert len(_trades(real_bot)) == 1


def test_confirmations_expire_from_the_future_are_not_trusted(real_bot: Bot) -> None:
    # A confirmation stamped well ahead of this bot's clock (another instance, a wrong clock)
    # cannot be shown to be fresh.
    view_id = _opened_view(real_bot, "/trade", "AAPL")
    confirm = _confirm_trade(real_bot, view_id)
    real_bot.clock.advance(-600)
    answer = real_bot.submit(ids.TRADE_CONFIRM, {}, confirm["private_metadata"], view_id=view_id)
    assert "expired" in text_of(answer["view"])
    assert _trades(real_bot) == []


def test_confirmations_expire_sell_confirmation_too(real_bot: Bot) -> None:
    assert real_bot.oms.trade(symbol="AAPL", qty="5").status_code == 201  # type: ignore[attr-defined]
    view_id = _opened_view(real_bot, "/sell", "AAPL")
    position = static_select(json.dumps({"symbol": "AAPL", "qty": "5", "portfolio": "main"}))
    values = form_values(
        {
            ids.POSITION: position,
            ids.QTY: "2",
            ids.ORDER_TYPE: static_select("limit"),
            ids.LIMIT_PRICE: "1.50",
            ids.TIME_IN_FORCE: static_select("gtc"),
            ids.REASON: "trim",
        }
    )
    answer = real_bot.submit(ids.SELL_FORM, values, FORM_META, view_id=view_id)
    assert answer["view"]["callback_id"] == ids.SELL_CONFIRM
    assert "5 minutes" in text_of(answer["view"])

    real_bot.clock.advance(FIVE_MINUTES + 1)
    told = real_bot.submit(
        ids.SELL_CONFIRM, {}, answer["view"]["private_metadata"], view_id=view_id
    )
    assert "expired" in text_of(told["view"]) and "Nothing was sent" in text_of(told["view"])
    real_bot.slack.wait_for("views.update", count=2)
    form = real_bot.slack.view(view_id)
    assert form["callback_id"] == ids.SELL_FORM
    assert "expired" in text_of(form)
    assert json.loads(_initial(form, ids.POSITION))["symbol"] == "AAPL"
    assert _initial(form, ids.QTY) == "2"
    assert _initial(form, ids.ORDER_TYPE) == "limit"
    assert _initial(form, ids.LIMIT_PRICE) == "1.5"
    assert _initial(form, ids.TIME_IN_FORCE) == "gtc"
    assert _initial(form, ids.REASON) == "trim"
    book = real_bot.oms.get("/portfolio/main").json()  # type: ignore[attr-defined]
    assert [Decimal(p["qty"]) for p in book["positions"] if p["symbol"] == "AAPL"] == [5]
    assert [t["side"] for t in _trades(real_bot)] == ["buy"]  # no sell was sent


def test_confirmations_expire_after_the_configured_time(oms) -> None:
    with bot_on_real_oms(oms, slack_confirmation_expiry_seconds=60) as bot:
        view_id = _opened_view(bot, "/trade", "AAPL")
        confirm = _confirm_trade(bot, view_id)
        assert "1 minute" in text_of(confirm)
        bot.clock.advance(61)
        answer = bot.submit(ids.TRADE_CONFIRM, {}, confirm["private_metadata"], view_id=view_id)
        assert "more than 1 minute ago" in text_of(answer["view"])
        assert _trades(bot) == []


@pytest.mark.parametrize("value", ["0", "5", "3601", "soon"])
def test_confirmations_expire_setting_is_checked(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SLACK_CONFIRMATION_EXPIRY_SECONDS", value)
    with pytest.raises(BotConfigError) as refused:
        load_bot_settings(_env_file=None)
    message = str(refused.value)
    assert message.startswith("configuration error: SLACK_CONFIRMATION_EXPIRY_SECONDS:")
    assert "\n" not in message


def test_confirmations_expire_by_default_after_five_minutes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SLACK_CONFIRMATION_EXPIRY_SECONDS", raising=False)
    assert load_bot_settings(_env_file=None).slack_confirmation_expiry_seconds == FIVE_MINUTES
