"""Settings: each bad value stops start-up with one line naming the variable and the fix."""

from __future__ import annotations

import subprocess
import sys

import pytest

from oms_api.config import LIVE_CONFIRMATION, ConfigError, Mode, load_settings

PAPER_KEYS = {"alpaca_api_key_id": "PKTEST", "alpaca_secret_key": "s3cr3t-value"}


def settings(**values):
    return load_settings(_env_file=None, **values)


@pytest.mark.parametrize(
    ("values", "variable", "fragment"),
    [
        (
            {"alpaca_api_key_id": "PKTEST"},
            "",
            "ALPACA_API_KEY_ID and ALPACA_SECRET_KEY go together",
        ),
        (
            {**PAPER_KEYS, "trading_mode": "live", "alpaca_base_url": "https://api.alpaca.markets"},
            "",
            "LIVE_TRADING_CONFIRMATION",
        ),
        (
            {**PAPER_KEYS, "trading_mode": "live", "live_trading_confirmation": LIVE_CONFIRMATION},
            "",
            "points at paper",
        ),
        (
            {**PAPER_KEYS, "alpaca_base_url": "https://api.alpaca.markets"},
            "",
            "TRADING_MODE is paper",
        ),
        ({"trading_mode": "real"}, "TRADING_MODE", "'paper' or 'live'"),
        ({"database_url": "mysql://x"}, "DATABASE_URL", "sqlite:// or postgresql://"),
        ({"broker_timeout_seconds": "0"}, "BROKER_TIMEOUT_SECONDS", "greater than 0"),
        ({"broker_requests_per_minute": "500"}, "BROKER_REQUESTS_PER_MINUTE", "200"),
        ({"alpaca_base_url": "paper-api.alpaca.markets"}, "ALPACA_BASE_URL", "http"),
        ({"reject_when_market_closed": "maybe"}, "REJECT_WHEN_MARKET_CLOSED", "boolean"),
    ],
)
def test_bad_settings_fail_with_one_line_naming_the_variable(values, variable, fragment):
    with pytest.raises(ConfigError) as raised:
        settings(**values)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("configuration error: ")
    assert variable in message
    assert fragment in message
    assert "s3cr3t-value" not in message


def test_modes_follow_the_keys_and_the_explicit_live_opt_in():
    assert settings().mode is Mode.SIMULATOR
    assert settings(**PAPER_KEYS).mode is Mode.PAPER
    live = settings(
        **PAPER_KEYS,
        trading_mode="live",
        live_trading_confirmation=LIVE_CONFIRMATION,
        alpaca_base_url="https://api.alpaca.markets",
    )
    assert live.mode is Mode.LIVE
    # A broker on this machine is the simulator, whatever keys it is given.
    assert settings(**PAPER_KEYS, alpaca_base_url="http://127.0.0.1:5055").mode is Mode.SIMULATOR


def test_render_style_database_urls_are_accepted():
    url = settings(database_url="postgres://u:p@db:5432/oms").database_url
    assert url == "postgresql+psycopg://u:p@db:5432/oms"


def test_stream_url_is_derived_from_the_trading_url():
    assert settings(**PAPER_KEYS).stream_url == "wss://paper-api.alpaca.markets/stream"
    local = settings(**PAPER_KEYS, alpaca_base_url="http://127.0.0.1:5055/v2/")
    assert local.stream_url == "ws://127.0.0.1:5055/stream"


def test_secrets_do_not_show_in_settings_repr():
    s = settings(**PAPER_KEYS, oms_api_token="tok-secret-123")
    assert "s3cr3t-value" not in repr(s) and "tok-secret-123" not in repr(s)


def _oms(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oms_api.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def test_oms_api_refuses_to_start_without_broker_keys(tmp_path):
    result = _oms("api", env={"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode == 2
    assert result.stderr.strip().startswith("configuration error: ALPACA_API_KEY_ID")
    assert len(result.stderr.strip().splitlines()) == 1


def test_oms_migrate_reports_a_bad_setting_in_one_line(tmp_path):
    result = _oms("migrate", env={"DATABASE_URL": "mysql://nope"})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "configuration error: DATABASE_URL: must start with sqlite:// or postgresql://"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://api.alpaca.markets:443",
        "https://API.Alpaca.Markets",
        "https://api.alpaca.markets.",
        "https://api.alpaca.markets/v2",
    ],
)
def test_paper_mode_refuses_every_spelling_of_the_live_host(url):
    """These used to start in PAPER mode pointed at the live host (a string compare)."""
    with pytest.raises(ConfigError, match="live endpoint but TRADING_MODE is paper"):
        settings(**PAPER_KEYS, alpaca_base_url=url)


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("alpaca_base_url", "https://alpaca.example.com"),
        ("alpaca_base_url", "https://paper-api.alpaca.markets:8443"),
        ("alpaca_base_url", "http://paper-api.alpaca.markets"),
        ("alpaca_data_url", "https://data.example.com"),
        ("alpaca_stream_url", "wss://stream.example.com/stream"),
    ],
)
def test_a_broker_host_that_is_not_alpacas_nor_this_machine_is_refused(variable, url):
    with pytest.raises(ConfigError) as refused:
        settings(**PAPER_KEYS, **{variable: url})
    assert variable.upper() in str(refused.value)
    assert "s3cr3t-value" not in str(refused.value)


def test_another_broker_host_needs_the_explicit_setting_and_is_shown():
    allowed = settings(
        **PAPER_KEYS,
        alpaca_base_url="https://Alpaca-Proxy.internal./",
        alpaca_data_url="https://alpaca-proxy.internal",
        alpaca_allowed_host="alpaca-proxy.internal",
    )
    assert allowed.mode is Mode.PAPER
    assert allowed.custom_broker_host == "alpaca-proxy.internal"
    assert settings(**PAPER_KEYS).custom_broker_host is None


def test_live_mode_refuses_the_paper_host_and_this_machine():
    live = {**PAPER_KEYS, "trading_mode": "live", "live_trading_confirmation": LIVE_CONFIRMATION}
    with pytest.raises(ConfigError, match="points at paper"):
        settings(**live, alpaca_base_url="https://PAPER-API.alpaca.markets:443")
    with pytest.raises(ConfigError, match="this machine"):
        settings(**live, alpaca_base_url="http://127.0.0.1:5055")
    assert settings(**live, alpaca_base_url="https://api.alpaca.markets.").mode is Mode.LIVE


def test_the_budget_and_its_burst_stay_within_alpacas_limit():
    with pytest.raises(ConfigError, match="200 requests a minute"):
        settings(broker_requests_per_minute="195", broker_burst="10")
    assert settings(broker_requests_per_minute="190", broker_burst="10").broker_burst == 10


def test_broker_urls_are_kept_in_one_spelling():
    live = {**PAPER_KEYS, "trading_mode": "live", "live_trading_confirmation": LIVE_CONFIRMATION}
    assert settings(
        **live, alpaca_base_url="HTTPS://API.Alpaca.Markets.:443/v2/"
    ).alpaca_base_url == ("https://api.alpaca.markets")
    assert settings(alpaca_base_url="http://[::1]:5055").stream_url == "ws://[::1]:5055/stream"
