"""All configuration, from the environment and an optional `.env` file."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PAPER_BASE_URL = "https://paper-api.alpaca.markets"
LIVE_BASE_URL = "https://api.alpaca.markets"
DATA_BASE_URL = "https://data.alpaca.markets"
# The exact words an operator must set to trade real money; a plain "true" is not enough.
LIVE_CONFIRMATION = "I understand this trades real money"
DEFAULT_DATA_DIR = Path("data")


class Mode(StrEnum):
    SIMULATOR = "SIMULATOR"
    PAPER = "PAPER"
    LIVE = "LIVE"


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
    broker_requests_per_minute: int = Field(
        default=180, ge=1, le=200, description="client-side budget, below Alpaca's 200/min"
    )
    reject_when_market_closed: bool = False
    fill_wait_polls: int = Field(default=3, ge=0, le=10)
    fill_poll_interval_seconds: Decimal = Field(default=Decimal("1"), ge=0, le=10)
    order_poll_after_seconds: Decimal = Field(
        default=Decimal("5"), ge=0, description="poll orders the stream said nothing about"
    )
    unknown_grace_seconds: Decimal = Field(
        default=Decimal("10"),
        ge=0,
        description="how long an order missing at the broker stays unknown before a re-send",
    )
    stream_enabled: bool = True
    embedded_simulator: bool = Field(
        default=False, description="set by `oms up` when it runs the built-in simulator"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

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
        value = value.rstrip("/")
        if value.endswith("/v2"):
            value = value.removesuffix("/v2")
        if not value.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("must be an http(s):// or ws(s):// URL")
        return value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        key, secret = self.alpaca_api_key_id, self.alpaca_secret_key
        if bool(key) != bool(secret and secret.get_secret_value()):
            raise ValueError(
                "ALPACA_API_KEY_ID and ALPACA_SECRET_KEY go together: set both, or neither "
                "to use the embedded simulator"
            )
        if self.trading_mode == "live":
            if self.live_trading_confirmation != LIVE_CONFIRMATION:
                raise ValueError(
                    "TRADING_MODE=live refuses to start: set LIVE_TRADING_CONFIRMATION to "
                    f'"{LIVE_CONFIRMATION}" to trade real money'
                )
            if not key:
                raise ValueError("TRADING_MODE=live needs ALPACA_API_KEY_ID and ALPACA_SECRET_KEY")
            if "paper-api" in self.alpaca_base_url:
                raise ValueError(
                    "TRADING_MODE=live but ALPACA_BASE_URL points at paper: set it to "
                    f"{LIVE_BASE_URL}"
                )
        elif key and self.alpaca_base_url == LIVE_BASE_URL:
            raise ValueError(
                "ALPACA_BASE_URL is the live endpoint but TRADING_MODE is paper: use "
                f"{PAPER_BASE_URL}, or opt in to live trading explicitly"
            )
        return self

    @property
    def mode(self) -> Mode:
        # A broker on this machine can only be the simulator, whatever keys it was given.
        local = urlsplit(self.alpaca_base_url).hostname in ("127.0.0.1", "localhost", "::1")
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
