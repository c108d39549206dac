"""Slack bot settings, from the environment and an optional `.env` file.

Every bad value stops start-up with one line naming the variable and the fix, like the OMS's own
settings (`oms_api.config`). Secrets are `SecretStr` so they never show up in reprs or logs.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from oms_api.config import ConfigError, describe_validation_error

DEFAULT_OMS_URL = "http://127.0.0.1:8000"
# HTTP mode listens on this machine only unless told otherwise: a public bind is a choice
# (Render's start command passes --host 0.0.0.0), never an accident on a laptop.
DEFAULT_BOT_HOST = "127.0.0.1"
DEFAULT_CONFIRMATION_EXPIRY_SECONDS = 300
SLACK_API_URL = "https://slack.com/api/"

# Slack ids are upper-case letters and digits after a one-letter kind prefix.
# Users are U… (or W… on Enterprise Grid); channels are C… (public) or G… (private, legacy).
USER_ID_PATTERN = re.compile(r"^[UW][A-Z0-9]{2,}$")
CHANNEL_ID_PATTERN = re.compile(r"^[CG][A-Z0-9]{2,}$")

IdList = Annotated[tuple[str, ...], NoDecode]  # NoDecode: "U1,U2" is not JSON, we split it


class BotConfigError(ConfigError):
    """A bot setting is missing or invalid; the message is one line naming the variable."""


def _split_ids(value: object) -> object:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(str(part).strip() for part in value if str(part).strip())
    return value


def _check_ids(ids: tuple[str, ...], pattern: re.Pattern[str], kind: str) -> tuple[str, ...]:
    bad = [item for item in ids if not pattern.match(item)]
    if bad:
        example, where = (
            ("U0123ABCD", "the member's profile → ⋮ → Copy member ID")
            if kind == "user"
            else ("C0123ABCD", "the bottom of the channel's details")
        )
        raise ValueError(
            f"{bad[0]!r} is not a Slack {kind} id: use ids like {example} from {where}, "
            "separated by commas"
        )
    # Keep the configured order but drop repeats.
    return tuple(dict.fromkeys(ids))


class BotSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    slack_bot_token: SecretStr | None = Field(
        default=None, description="bot user OAuth token (xoxb-…), from OAuth & Permissions"
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="signing secret from Basic Information; HTTP mode needs it"
    )
    slack_app_token: SecretStr | None = Field(
        default=None, description="app-level token (xapp-…, connections:write); Socket Mode"
    )
    slack_api_url: str | None = Field(
        default=None, description="Slack Web API base URL override (tests, a local fake Slack)"
    )
    oms_url: str = Field(
        default=DEFAULT_OMS_URL,
        description="OMS API base URL; host:port without a scheme means http://host:port",
    )
    oms_api_token: SecretStr | None = Field(
        default=None, description="the OMS's bearer token (same value as on the OMS)"
    )
    oms_timeout_seconds: Decimal = Field(default=Decimal("10"), gt=0, le=120)
    oms_trade_timeout_seconds: Decimal = Field(
        default=Decimal("30"), gt=0, le=300, description="placing and cancelling trades"
    )
    slack_trader_user_ids: IdList = Field(default=(), description="comma-separated user ids")
    slack_admin_user_ids: IdList = Field(default=(), description="comma-separated user ids")
    slack_allowed_channel_ids: IdList = Field(
        default=(), description="comma-separated channel ids; empty means any channel"
    )
    slack_open_to_workspace: bool = Field(
        default=False, description="everyone in the workspace may trade and read"
    )
    slack_result_visibility: Literal["in_channel", "ephemeral"] = "in_channel"
    slack_bot_host: str = Field(
        default=DEFAULT_BOT_HOST,
        description="HTTP mode interface; 0.0.0.0 listens on every interface (hosted bots)",
    )
    port: int = Field(default=3000, ge=1, le=65535, description="HTTP mode listening port")
    slack_confirmation_expiry_seconds: int = Field(
        default=DEFAULT_CONFIRMATION_EXPIRY_SECONDS,
        ge=10,
        le=3600,
        description="a confirmation older than this is shown again for review: prices move",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "oms_api_token",
        "slack_api_url",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # `SLACK_APP_TOKEN=` in a .env file means "not set", not "set to nothing".
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError(
                "must be the bot token starting with xoxb- (OAuth & Permissions → Bot User "
                "OAuth Token), not a user or app token"
            )
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError(
                "must be an app-level token starting with xapp- (Basic Information → App-Level "
                "Tokens, scope connections:write)"
            )
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")) or not urlsplit(value).hostname:
            raise ValueError("must be an http(s):// URL such as https://slack.com/api/")
        # slack-sdk joins method names onto the base URL, which needs its trailing slash.
        return value.rstrip("/") + "/"

    @field_validator("slack_bot_host")
    @classmethod
    def _bot_host(cls, value: str) -> str:
        value = value.strip()
        # An interface name or address, nothing else: uvicorn would fail later with a traceback.
        if not value or not re.fullmatch(r"[A-Za-z0-9.:_-]+", value):
            raise ValueError(
                "must be an interface address such as 127.0.0.1 (this machine only) or 0.0.0.0 "
                "(every interface)"
            )
        return value

    @field_validator("oms_url")
    @classmethod
    def _oms_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if "://" not in value:
            # Render's `fromService … property: hostport` gives "host:port" on the private
            # network, which speaks plain HTTP.
            value = "http://" + value
        value = value.removesuffix("/api/v1")
        if not value.startswith(("http://", "https://")) or not urlsplit(value).hostname:
            raise ValueError("must be the OMS base URL, e.g. http://127.0.0.1:8000")
        return value

    @field_validator("slack_trader_user_ids", "slack_admin_user_ids", mode="before")
    @classmethod
    def _split_user_ids(cls, value: object) -> object:
        return _split_ids(value)

    @field_validator("slack_allowed_channel_ids", mode="before")
    @classmethod
    def _split_channel_ids(cls, value: object) -> object:
        return _split_ids(value)

    @field_validator("slack_trader_user_ids", "slack_admin_user_ids")
    @classmethod
    def _user_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_ids(value, USER_ID_PATTERN, "user")

    @field_validator("slack_allowed_channel_ids")
    @classmethod
    def _channel_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_ids(value, CHANNEL_ID_PATTERN, "channel")

    @model_validator(mode="after")
    def _check(self) -> BotSettings:
        if self.oms_trade_timeout_seconds < self.oms_timeout_seconds:
            raise ValueError(
                "OMS_TRADE_TIMEOUT_SECONDS must be at least OMS_TIMEOUT_SECONDS: placing a trade "
                "waits for the broker and is the slowest OMS call"
            )
        return self

    @property
    def http_mode_ready(self) -> bool:
        return self.slack_bot_token is not None and self.slack_signing_secret is not None

    @property
    def socket_mode_ready(self) -> bool:
        return self.slack_bot_token is not None and self.slack_app_token is not None

    @property
    def oms_api_url(self) -> str:
        """Where the OMS's versioned routes live."""
        return f"{self.oms_url}/api/v1"

    def require_mode(self, mode: Literal["http", "socket"]) -> None:
        """Raise BotConfigError naming the first missing variable the mode needs."""
        if self.slack_bot_token is None:
            raise BotConfigError(
                "configuration error: SLACK_BOT_TOKEN is not set: copy the xoxb- Bot User OAuth "
                "Token from the Slack app's OAuth & Permissions page"
            )
        if mode == "http" and self.slack_signing_secret is None:
            raise BotConfigError(
                "configuration error: SLACK_SIGNING_SECRET is not set: HTTP mode needs the "
                "Signing Secret from the Slack app's Basic Information page"
            )
        if mode == "socket" and self.slack_app_token is None:
            raise BotConfigError(
                "configuration error: SLACK_APP_TOKEN is not set: Socket Mode needs an xapp- "
                "app-level token with connections:write (Basic Information → App-Level Tokens)"
            )

    def mode_summary(self) -> dict[str, object]:
        """What is configured, safe to log or print: secrets only as "set"/"not set"."""

        def state(secret: SecretStr | None) -> str:
            return "set" if secret is not None else "not set"

        return {
            "http_mode_ready": self.http_mode_ready,
            "socket_mode_ready": self.socket_mode_ready,
            "slack_bot_token": state(self.slack_bot_token),
            "slack_signing_secret": state(self.slack_signing_secret),
            "slack_app_token": state(self.slack_app_token),
            "slack_api_url": self.slack_api_url or SLACK_API_URL,
            "oms_url": self.oms_url,
            "oms_api_token": state(self.oms_api_token),
            "traders": len(self.slack_trader_user_ids),
            "admins": len(self.slack_admin_user_ids),
            "allowed_channels": list(self.slack_allowed_channel_ids) or "any",
            "open_to_workspace": self.slack_open_to_workspace,
            "result_visibility": self.slack_result_visibility,
            "http_bind": f"{self.slack_bot_host}:{self.port}",
            "confirmation_expiry_seconds": self.slack_confirmation_expiry_seconds,
        }


def load_bot_settings(**overrides: object) -> BotSettings:
    """Settings from the environment (and .env), with keyword overrides; one-line errors."""
    try:
        return BotSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise BotConfigError(describe_validation_error(error)) from None
