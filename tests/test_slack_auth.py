"""Who may trade, administer and read from Slack, and what a refused user is told."""

from __future__ import annotations

import logging

import pytest

from slack_bot.auth import Authorizer
from slack_bot.config import load_bot_settings

TRADER, ADMIN, OTHER = "U0TRADER", "U0ADMIN", "U0OTHER"
ALLOWED, ELSEWHERE = "C0TRADING", "C0RANDOM"


def authorizer(open_to_workspace: bool = False, channels: str = ALLOWED) -> Authorizer:
    settings = load_bot_settings(
        _env_file=None,
        slack_trader_user_ids=TRADER,
        slack_admin_user_ids=ADMIN,
        slack_allowed_channel_ids=channels,
        slack_open_to_workspace=open_to_workspace,
    )
    return Authorizer(settings)


# (user, channel, open_to_workspace) -> may trade, may use admin commands, may read
TABLE = [
    (TRADER, ALLOWED, False, True, False, True),
    (TRADER, ELSEWHERE, False, False, False, True),
    (TRADER, ALLOWED, True, True, False, True),
    (TRADER, ELSEWHERE, True, False, False, True),
    (ADMIN, ALLOWED, False, True, True, True),
    (ADMIN, ELSEWHERE, False, False, False, True),
    (ADMIN, ALLOWED, True, True, True, True),
    (ADMIN, ELSEWHERE, True, False, False, True),
    (OTHER, ALLOWED, False, False, False, False),
    (OTHER, ELSEWHERE, False, False, False, False),
    (OTHER, ALLOWED, True, True, False, True),
    (OTHER, ELSEWHERE, True, False, False, True),
]


@pytest.mark.parametrize(("user", "channel", "open_", "trade", "admin", "read"), TABLE)
def test_permission_table(user, channel, open_, trade, admin, read):
    auth = authorizer(open_to_workspace=open_)
    assert (auth.check_trade(user, channel) is None) is trade
    assert (auth.check_admin(user, channel) is None) is admin
    assert (auth.check_read(user, channel) is None) is read


def test_without_allowed_channels_every_channel_works():
    auth = authorizer(channels="")
    assert auth.check_trade(TRADER, "C0ANYWHERE") is None
    assert auth.check_trade(TRADER, "D0DIRECT") is None
    assert auth.check_admin(ADMIN, "G0PRIVATE") is None


def test_nobody_may_trade_when_no_trader_is_configured():
    auth = Authorizer(load_bot_settings(_env_file=None))
    refusal = auth.check_trade(OTHER, ALLOWED)
    assert refusal is not None
    assert refusal.reason == "not_trader"


def test_refused_trader_is_told_how_to_get_access():
    refusal = authorizer().check_trade(OTHER, ALLOWED)
    assert refusal is not None
    assert refusal.message == (
        "Sorry, you are not allowed to trade from Slack. Ask an admin to add your user id "
        "(U0OTHER) to SLACK_TRADER_USER_IDS."
    )


def test_refusal_words_the_action():
    refusal = authorizer().check_trade(OTHER, ALLOWED, action="sell")
    assert refusal is not None
    assert "not allowed to sell from Slack" in refusal.message
    assert refusal.action == "sell"


def test_non_admin_is_pointed_at_the_admin_list():
    refusal = authorizer().check_admin(TRADER, ALLOWED)
    assert refusal is not None
    assert refusal.reason == "not_admin"
    assert "SLACK_ADMIN_USER_IDS" in refusal.message
    assert "(U0TRADER)" in refusal.message


def test_wrong_channel_lists_the_channels_to_use():
    auth = authorizer(channels=f"{ALLOWED},C0DESK")
    refusal = auth.check_trade(TRADER, ELSEWHERE)
    assert refusal is not None
    assert refusal.reason == "channel_not_allowed"
    assert refusal.message == (
        "Sorry, you cannot trade from this channel; please use <#C0TRADING>, <#C0DESK>."
    )


def test_refusals_are_logged_with_user_channel_and_action(caplog):
    caplog.set_level(logging.WARNING, logger="slack_bot.auth")
    authorizer().check_trade(OTHER, ELSEWHERE, action="cancel orders")
    record = caplog.records[-1]
    assert record.levelno == logging.WARNING
    assert OTHER in record.getMessage()
    assert ELSEWHERE in record.getMessage()
    assert "cancel orders" in record.getMessage()


def test_allowed_requests_are_not_logged_as_refusals(caplog):
    caplog.set_level(logging.WARNING, logger="slack_bot.auth")
    assert authorizer().check_trade(TRADER, ALLOWED) is None
    assert not caplog.records


def test_helpers_for_tailoring_help():
    auth = authorizer()
    assert auth.may_trade(ADMIN) and auth.may_trade(TRADER) and not auth.may_trade(OTHER)
    assert auth.is_admin(ADMIN) and not auth.is_admin(TRADER)
    assert auth.channel_allowed(ALLOWED) and not auth.channel_allowed(ELSEWHERE)
