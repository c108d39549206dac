"""Bot settings: sensible defaults, forgiving id lists, one-line errors naming the variable."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms_api.config import ConfigError
from slack_bot.config import BotConfigError, BotSettings, load_bot_settings

BOT_TOKEN = "xoxb-fake-bot-token-for-tests"
APP_TOKEN = "xapp-fake-app-token-for-tests"
SIGNING_SECRET = "fake-signing-secret-for-tests"
SECRETS = (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET)

BOT_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "OMS_URL",
    "OMS_API_TOKEN",
    "OMS_TIMEOUT_SECONDS",
    "OMS_TRADE_TIMEOUT_SECONDS",
    "SLACK_TRADER_USER_IDS",
    "SLACK_ADMIN_USER_IDS",
    "SLACK_ALLOWED_CHANNEL_IDS",
    "SLACK_OPEN_TO_WORKSPACE",
    "SLACK_RESULT_VISIBILITY",
    "PORT",
    "LOG_LEVEL",
    "SLACK_BOT_HOST",
    "SLACK_CONFIRMATION_EXPIRY_SECONDS",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for variable in BOT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def settings(**values) -> BotSettings:
    return load_bot_settings(_env_file=None, **values)


def test_defaults_need_nothing_and_are_ready_for_no_mode():
    bot = settings()
    assert bot.oms_url == "http://127.0.0.1:8000"
    assert bot.oms_api_url == "http://127.0.0.1:8000/api/v1"
    assert bot.oms_api_token is None
    assert bot.oms_timeout_seconds == Decimal("10")
    assert bot.oms_trade_timeout_seconds == Decimal("30")
    assert bot.slack_trader_user_ids == ()
    assert bot.slack_admin_user_ids == ()
    assert bot.slack_allowed_channel_ids == ()
    assert bot.slack_open_to_workspace is False
    assert bot.slack_result_visibility == "in_channel"
    assert bot.slack_api_url is None
    assert bot.port == 3000
    assert not bot.http_mode_ready
    assert not bot.socket_mode_ready


def test_http_and_socket_mode_readiness():
    http = settings(slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET)
    assert http.http_mode_ready and not http.socket_mode_ready
    socket = settings(slack_bot_token=BOT_TOKEN, slack_app_token=APP_TOKEN)
    assert socket.socket_mode_ready and not socket.http_mode_ready


def test_comma_separated_lists_from_the_environment(monkeypatch):
    monkeypatch.setenv("SLACK_TRADER_USER_IDS", " U01AAA , ,W02BBB,U01AAA,")
    monkeypatch.setenv("SLACK_ADMIN_USER_IDS", "U09ADMIN")
    monkeypatch.setenv("SLACK_ALLOWED_CHANNEL_IDS", "C0TRADING, G0PRIVATE")
    monkeypatch.setenv("SLACK_OPEN_TO_WORKSPACE", "true")
    monkeypatch.setenv("SLACK_RESULT_VISIBILITY", "ephemeral")
    monkeypatch.setenv("PORT", "10000")
    bot = settings()
    assert bot.slack_trader_user_ids == ("U01AAA", "W02BBB")
    assert bot.slack_admin_user_ids == ("U09ADMIN",)
    assert bot.slack_allowed_channel_ids == ("C0TRADING", "G0PRIVATE")
    assert bot.slack_open_to_workspace is True
    assert bot.slack_result_visibility == "ephemeral"
    assert bot.port == 10000


def test_empty_values_mean_unset(monkeypatch):
    monkeypatch.setenv("SLACK_TRADER_USER_IDS", "")
    monkeypatch.setenv("SLACK_APP_TOKEN", "")
    monkeypatch.setenv("OMS_API_TOKEN", "  ")
    bot = settings()
    assert bot.slack_trader_user_ids == ()
    assert bot.slack_app_token is None
    assert bot.oms_api_token is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://oms.internal:8000/", "http://oms.internal:8000"),
        ("https://oms.example.com/api/v1", "https://oms.example.com"),
        ("oms-api-ab12:10000", "http://oms-api-ab12:10000"),  # Render fromService hostport
    ],
)
def test_oms_url_is_normalised(given, expected):
    assert settings(oms_url=given).oms_url == expected


def test_slack_api_url_gets_the_trailing_slash_slack_sdk_needs():
    assert settings(slack_api_url="http://127.0.0.1:9999/api").slack_api_url == (
        "http://127.0.0.1:9999/api/"
    )


@pytest.mark.parametrize(
    ("values", "variable", "fragment"),
    [
        ({"slack_bot_token": "xoxp-fake-user-token"}, "SLACK_BOT_TOKEN", "xoxb-"),
        ({"slack_bot_token": APP_TOKEN}, "SLACK_BOT_TOKEN", "xoxb-"),
        ({"slack_app_token": BOT_TOKEN}, "SLACK_APP_TOKEN", "xapp-"),
        ({"slack_trader_user_ids": "U01AAA,bob"}, "SLACK_TRADER_USER_IDS", "'bob'"),
        ({"slack_admin_user_ids": "C0CHANNEL"}, "SLACK_ADMIN_USER_IDS", "user id"),
        ({"slack_allowed_channel_ids": "#trading"}, "SLACK_ALLOWED_CHANNEL_IDS", "channel id"),
        ({"slack_allowed_channel_ids": "U01AAA"}, "SLACK_ALLOWED_CHANNEL_IDS", "C0123ABCD"),
        ({"slack_open_to_workspace": "maybe"}, "SLACK_OPEN_TO_WORKSPACE", "boolean"),
        ({"slack_result_visibility": "public"}, "SLACK_RESULT_VISIBILITY", "ephemeral"),
        ({"oms_url": "ftp://oms"}, "OMS_URL", "http://127.0.0.1:8000"),
        ({"oms_timeout_seconds": "0"}, "OMS_TIMEOUT_SECONDS", "greater than 0"),
        ({"oms_trade_timeout_seconds": "5"}, "OMS_TRADE_TIMEOUT_SECONDS", "OMS_TIMEOUT_SECONDS"),
        ({"port": "0"}, "PORT", "greater than or equal to 1"),
        ({"slack_api_url": "slack.com/api"}, "SLACK_API_URL", "http"),
    ],
)
def test_bad_settings_fail_with_one_line_naming_the_variable(values, variable, fragment):
    with pytest.raises(BotConfigError) as raised:
        settings(**values)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("configuration error: ")
    assert variable in message
    assert fragment in message
    for secret in SECRETS:
        assert secret not in message


def test_bot_config_error_is_a_config_error_so_the_cli_reports_it_the_same_way():
    assert issubclass(BotConfigError, ConfigError)


@pytest.mark.parametrize(
    ("mode", "values", "variable"),
    [
        ("http", {}, "SLACK_BOT_TOKEN"),
        ("http", {"slack_bot_token": BOT_TOKEN}, "SLACK_SIGNING_SECRET"),
        ("socket", {"slack_bot_token": BOT_TOKEN}, "SLACK_APP_TOKEN"),
    ],
)
def test_require_mode_names_the_missing_variable(mode, values, variable):
    with pytest.raises(BotConfigError) as raised:
        settings(**values).require_mode(mode)
    assert variable in str(raised.value)
    assert "\n" not in str(raised.value)


def test_require_mode_passes_when_ready():
    settings(slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET).require_mode("http")
    settings(slack_bot_token=BOT_TOKEN, slack_app_token=APP_TOKEN).require_mode("socket")


def test_mode_summary_and_repr_show_what_is_configured_but_no_secret():
    bot = settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_app_token=APP_TOKEN,
        oms_api_token="fake-oms-token-for-tests",
        slack_trader_user_ids="U01AAA,U02BBB",
        slack_allowed_channel_ids="C0TRADING",
    )
    summary = bot.mode_summary()
    assert summary["http_mode_ready"] is True
    assert summary["socket_mode_ready"] is True
    assert summary["slack_bot_token"] == "set"
    assert summary["oms_api_token"] == "set"
    assert summary["oms_url"] == "http://127.0.0.1:8000"
    assert summary["traders"] == 2
    assert summary["allowed_channels"] == ["C0TRADING"]
    assert settings().mode_summary()["allowed_channels"] == "any"
    for text in (str(summary), repr(bot)):
        for secret in (*SECRETS, "fake-oms-token-for-tests"):
            assert secret not in text


def test_bind_loopback_by_default_and_the_host_setting_is_checked(monkeypatch):
    assert settings().slack_bot_host == "127.0.0.1"
    monkeypatch.setenv("SLACK_BOT_HOST", " 0.0.0.0 ")
    assert settings().slack_bot_host == "0.0.0.0"
    for bad in ("", "http://0.0.0.0", "0.0.0.0:3000/x", "my host"):
        monkeypatch.setenv("SLACK_BOT_HOST", bad)
        with pytest.raises(BotConfigError) as refused:
            settings()
        assert str(refused.value).startswith("configuration error: SLACK_BOT_HOST:")
