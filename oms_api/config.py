"""All configuration, from the environment and an optional `.env` file."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from ipaddress import ip_address
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

PAPER_BASE_URL = "https://paper-api.alpaca.markets"
LIVE_BASE_URL = "https://api.alpaca.markets"
DATA_BASE_URL = "https://data.alpaca.markets"
PAPER_HOST = "paper-api.alpaca.markets"
LIVE_HOST = "api.alpaca.markets"
DATA_HOST = "data.alpaca.markets"
# What Alpaca allows per API key, counted across every process that uses the key.
BROKER_LIMIT_PER_MINUTE = 200
# The exact words an operator must set to trade real money; a plain "true" is not enough.
LIVE_CONFIRMATION = "I understand this trades real money"
DEFAULT_DATA_DIR = Path("data")
SLACK_API_URL = "https://slack.com/api/"
# Channels are C… (public) or G… (private, legacy): upper-case letters and digits.
SLACK_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,}")


class Mode(StrEnum):
    SIMULATOR = "SIMULATOR"
    PAPER = "PAPER"
    LIVE = "LIVE"


class Endpoint(NamedTuple):
    """A broker URL as the mode is decided from it: scheme, host (lower case, no trailing
    dot) and port, never a string compare of the whole URL."""

    scheme: str
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def secure(self) -> bool:
        return self.scheme in ("https", "wss")

    def is_alpaca(self, host: str) -> bool:
        """Alpaca's own host, over TLS on the standard port."""
        return self.host == host and self.secure and self.port == 443


def parse_endpoint(url: str) -> Endpoint:
    """Raises ValueError for a URL whose host or port cannot be read."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError("has no host")
    port = parts.port  # raises ValueError for a bad port
    scheme = parts.scheme.lower()
    if port is None:
        port = 443 if scheme in ("https", "wss") else 80
    return Endpoint(scheme, host, port)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_DATA_DIR / 'oms.db'}",
        description="SQLAlchemy URL; PostgreSQL in production, an SQLite file by default",
    )
    oms_api_token: SecretStr | None = Field(
        default=None, description="bearer token every API route but /health requires"
    )
    alpaca_api_key_id: str | None = None
    alpaca_secret_key: SecretStr | None = None
    alpaca_base_url: str = PAPER_BASE_URL
    alpaca_data_url: str = DATA_BASE_URL
    alpaca_stream_url: str | None = Field(
        default=None, description="trade_updates websocket; derived from ALPACA_BASE_URL if unset"
    )
    trading_mode: Literal["paper", "live"] = "paper"
    live_trading_confirmation: str | None = Field(
        default=None, description=f'must read "{LIVE_CONFIRMATION}" for TRADING_MODE=live'
    )
    broker_timeout_seconds: Decimal = Field(default=Decimal("10"), gt=0, le=120)
    alpaca_allowed_host: str | None = Field(
        default=None,
        description="a broker host that is neither Alpaca's nor this machine's, allowed anyway "
        "(a proxy, a staging broker); the banner and /health show it",
    )
    broker_requests_per_minute: int = Field(
        default=180,
        ge=1,
        le=BROKER_LIMIT_PER_MINUTE,
        description="the OMS's sustained broker request rate, shared by every worker",
    )
    broker_burst: int = Field(
        default=10,
        ge=1,
        le=50,
        description="requests the budget lets through at once after a quiet spell",
    )
    broker_probe_seconds: Decimal = Field(
        default=Decimal("30"),
        ge=1,
        le=3600,
        description="probe the broker for /health when no request succeeded for this long",
    )
    reject_when_market_closed: bool = False
    fill_wait_polls: int = Field(default=3, ge=0, le=10)
    fill_poll_interval_seconds: Decimal = Field(default=Decimal("1"), ge=0, le=10)
    order_poll_after_seconds: Decimal = Field(
        default=Decimal("5"),
        ge=0,
        description="with no trade stream: check working orders with the broker this often",
    )
    order_sweep_seconds: Decimal = Field(
        default=Decimal("60"),
        gt=0,
        le=3600,
        description="with the trade stream up: check working orders with the broker this often",
    )
    unknown_grace_seconds: Decimal = Field(
        default=Decimal("10"),
        ge=0,
        description="how long an order missing at the broker stays unknown before a re-send",
    )
    daily_loss_limit: Decimal | None = Field(
        default=None,
        gt=0,
        max_digits=18,
        decimal_places=2,
        description="dollars: today's account loss (equity - last_equity) that starts the "
        "emergency stop; unset: no limit",
    )
    loss_limit_check_seconds: Decimal = Field(
        default=Decimal("10"),
        ge=1,
        le=3600,
        description="how often the loss limit looks at the account (one broker call)",
    )
    stop_verify_seconds: Decimal = Field(
        default=Decimal("60"),
        ge=1,
        le=3600,
        description="how long an emergency stop verifies (and retries) before `incomplete`",
    )
    history_sync_seconds: Decimal = Field(
        default=Decimal("900"),
        ge=0,
        le=86400,
        description="how often the broker mirror (order history, positions) is brought up to "
        "date; 0: only at start-up and on demand",
    )
    reconcile_on_start: bool = Field(
        default=True,
        description="sync the broker mirror and reconcile at start-up, before trades are accepted",
    )
    reconcile_seconds: Decimal = Field(
        default=Decimal("300"),
        ge=0,
        le=86400,
        description="during market hours, reconcile this often (alerts only on change); "
        "0: only at start-up and on demand",
    )
    reconcile_grace_seconds: Decimal = Field(
        default=Decimal("60"),
        ge=0,
        le=3600,
        description="orders changed this recently are not judged yet (fills still in flight)",
    )
    reconcile_lookback_days: int = Field(
        default=7,
        ge=1,
        le=366,
        description="broker orders submitted this far back are compared; older ones are history",
    )
    stream_enabled: bool = True
    embedded_simulator: bool = Field(
        default=False, description="set by `oms up` when it runs the built-in simulator"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    slack_bot_token: SecretStr | None = Field(
        default=None,
        description="the OMS's own copy of the bot token (xoxb-…), used only to post alerts",
    )
    slack_alerts_channel_id: str | None = Field(
        default=None, description="channel id (C…/G…) that alerts are posted to"
    )
    slack_api_url: str = Field(
        default=SLACK_API_URL, description="Slack Web API base URL (tests point it at a fake)"
    )
    alert_on_fills: bool = Field(default=True, description="post an alert for each filled order")
    alert_on_rejections: bool = Field(
        default=True, description="post an alert for each order the broker rejected"
    )

    @field_validator("daily_loss_limit", mode="before")
    @classmethod
    def _no_loss_limit(cls, value: object) -> object:
        # `DAILY_LOSS_LIMIT=` (blank) or "none" means no limit.
        if isinstance(value, str) and value.strip().lower() in ("", "none", "off"):
            return None
        return value

    @field_validator("slack_bot_token", "slack_alerts_channel_id", "slack_api_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object, info: ValidationInfo) -> object:
        # `SLACK_BOT_TOKEN=` in a .env file means "not set", as it does for the bot.
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str) and not value.strip():
            return SLACK_API_URL if info.field_name == "slack_api_url" else None
        return value.strip() if isinstance(value, str) else value

    @field_validator("slack_bot_token")
    @classmethod
    def _slack_bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError(
                "must be the bot token starting with xoxb- (OAuth & Permissions → Bot User "
                "OAuth Token), not a user or app token"
            )
        return value

    @field_validator("slack_alerts_channel_id")
    @classmethod
    def _slack_alerts_channel_id(cls, value: str | None) -> str | None:
        if value is not None and not SLACK_CHANNEL_ID.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a Slack channel id: use an id like C0123ABCD from the bottom "
                "of the channel's details (not the channel's name)"
            )
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_url(cls, value: str) -> str:
        # The bot's rule, for the variable both read.
        if not value.startswith(("http://", "https://")) or not urlsplit(value).hostname:
            raise ValueError("must be an http(s):// URL such as https://slack.com/api/")
        # slack-sdk joins method names onto the base URL, which needs its trailing slash.
        return value.rstrip("/") + "/"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value.startswith("postgres://"):  # Render and Heroku hand out this spelling
            value = "postgresql+psycopg://" + value.removeprefix("postgres://")
        elif value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        if not value.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return value

    @field_validator("alpaca_base_url", "alpaca_data_url", "alpaca_stream_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if value.endswith("/v2"):
            value = value.removesuffix("/v2")
        parts = urlsplit(value)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https", "ws", "wss"):
            raise ValueError("must be an http(s):// or ws(s):// URL")
        endpoint = parse_endpoint(value)
        # One spelling of the host (lower case, no trailing dot, no default port), so what is
        # checked at start-up is exactly what is connected to.
        host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
        default_port = 443 if scheme in ("https", "wss") else 80
        netloc = host if endpoint.port == default_port else f"{host}:{endpoint.port}"
        return parts._replace(scheme=scheme, netloc=netloc).geturl()

    @field_validator("alpaca_allowed_host")
    @classmethod
    def _allowed_host(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        host = value.strip().lower().rstrip(".")
        if "/" in host or ":" in host or not host.isascii():
            raise ValueError("a bare host name, e.g. alpaca-proxy.internal (no scheme or port)")
        return host

    @model_validator(mode="after")
    def _check(self) -> Settings:
        key, secret = self.alpaca_api_key_id, self.alpaca_secret_key
        if bool(key) != bool(secret and secret.get_secret_value()):
            raise ValueError(
                "ALPACA_API_KEY_ID and ALPACA_SECRET_KEY go together: set both, or neither "
                "to use the embedded simulator"
            )
        if self.broker_requests_per_minute + self.broker_burst > BROKER_LIMIT_PER_MINUTE:
            raise ValueError(
                "BROKER_REQUESTS_PER_MINUTE + BROKER_BURST must stay within Alpaca's "
                f"{BROKER_LIMIT_PER_MINUTE} requests a minute (any minute may see both)"
            )
        self._check_endpoints()
        if self.trading_mode == "live":
            if self.live_trading_confirmation != LIVE_CONFIRMATION:
                raise ValueError(
                    "TRADING_MODE=live refuses to start: set LIVE_TRADING_CONFIRMATION to "
                    f'"{LIVE_CONFIRMATION}" to trade real money'
                )
            if not key:
                raise ValueError("TRADING_MODE=live needs ALPACA_API_KEY_ID and ALPACA_SECRET_KEY")
        return self

    def _check_endpoints(self) -> None:
        """Every URL the keys are sent to: Alpaca's own hosts, this machine, or the one host
        ALPACA_ALLOWED_HOST names. The trading host must agree with TRADING_MODE."""
        urls = {
            "ALPACA_BASE_URL": self.alpaca_base_url,
            "ALPACA_DATA_URL": self.alpaca_data_url,
            "ALPACA_STREAM_URL": self.stream_url,
        }
        endpoints: dict[str, Endpoint] = {}
        for variable, url in urls.items():
            try:
                endpoints[variable] = parse_endpoint(url)
            except ValueError as error:
                raise ValueError(f"{variable}: {error} ({url!r})") from None
        base = endpoints["ALPACA_BASE_URL"]
        alpaca_hosts = {
            "ALPACA_BASE_URL": (PAPER_HOST, LIVE_HOST),
            "ALPACA_DATA_URL": (DATA_HOST,),
            "ALPACA_STREAM_URL": (PAPER_HOST, LIVE_HOST),
        }
        for variable, endpoint in endpoints.items():
            if endpoint.loopback or endpoint.host == self.alpaca_allowed_host:
                continue
            if endpoint.host in alpaca_hosts[variable] and not endpoint.secure:
                raise ValueError(
                    f"{variable}: Alpaca is reached over TLS only (https:// or wss://)"
                )
            if endpoint.host not in alpaca_hosts[variable] or endpoint.port != 443:
                raise ValueError(
                    f"{variable}: {endpoint.host}:{endpoint.port} is not Alpaca's host for it "
                    "nor this machine, and the API keys are sent there; set ALPACA_ALLOWED_HOST "
                    "to that host if you mean it"
                )
        if self.trading_mode == "live" and base.loopback:
            raise ValueError(
                "TRADING_MODE=live but ALPACA_BASE_URL is this machine (the simulator): set it "
                f"to {LIVE_BASE_URL}"
            )
        if self.trading_mode == "live" and base.is_alpaca(PAPER_HOST):
            raise ValueError(
                f"TRADING_MODE=live but ALPACA_BASE_URL points at paper: set it to {LIVE_BASE_URL}"
            )
        if self.trading_mode == "paper" and base.is_alpaca(LIVE_HOST):
            raise ValueError(
                "ALPACA_BASE_URL is the live endpoint but TRADING_MODE is paper: use "
                f"{PAPER_BASE_URL}, or opt in to live trading explicitly"
            )
        stream = endpoints["ALPACA_STREAM_URL"]
        if stream.host != base.host and not (stream.loopback and base.loopback):
            raise ValueError(
                "ALPACA_STREAM_URL must be on the same host as ALPACA_BASE_URL "
                f"({base.host}): the trade stream must follow the account that trades"
            )

    @property
    def broker_endpoint(self) -> Endpoint:
        return parse_endpoint(self.alpaca_base_url)

    @property
    def custom_broker_host(self) -> str | None:
        """The broker host allowed through ALPACA_ALLOWED_HOST, when it is in use."""
        host = self.broker_endpoint.host
        return host if host == self.alpaca_allowed_host else None

    @property
    def mode(self) -> Mode:
        # A broker on this machine can only be the simulator, whatever keys it was given (live
        # trading refuses a loopback URL at start-up).
        local = self.broker_endpoint.loopback
        if not self.alpaca_api_key_id or self.embedded_simulator or local:
            return Mode.SIMULATOR
        return Mode.LIVE if self.trading_mode == "live" else Mode.PAPER

    @property
    def stream_url(self) -> str:
        if self.alpaca_stream_url:
            return self.alpaca_stream_url
        base = self.alpaca_base_url
        return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + "/stream"


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one line naming the variable."""


def describe_validation_error(error: ValidationError) -> str:
    first = error.errors()[0]
    location = first.get("loc") or ()
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if location:
        variable = str(location[0]).upper()
        return f"configuration error: {variable}: {message}"
    return f"configuration error: {message}"


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
