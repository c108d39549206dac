"""What the trading-control routes accept (unknown fields are refused, text is storable)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from oms_api.orders.requests import StorableText


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    requested_by: StorableText | None = Field(default=None, max_length=100)
    requested_by_name: StorableText | None = Field(default=None, max_length=100)


class ControlRequest(_Request):
    """POST /halt, POST /resume."""

    reason: StorableText = Field(min_length=1, max_length=500)


class StopRequest(_Request):
    """POST /emergency-stop."""

    reason: StorableText = Field(min_length=1, max_length=500)
    # The Slack channel it was started from: the result goes there too.
    channel_id: StorableText | None = Field(default=None, pattern=r"^[CGD][A-Z0-9]{2,30}$")


class ClosePositionRequest(_Request):
    """POST /positions/{symbol}/close: one portfolio's holding, or (`whole_account`) all the
    account holds of the symbol, or (`unmanaged`) only what no portfolio's book holds."""

    portfolio: StorableText | None = Field(default=None, min_length=1, max_length=40)
    whole_account: bool = False
    unmanaged: bool = False
    reason: StorableText = Field(min_length=1, max_length=500)
    pause_portfolio: bool = True


class PortfolioStopRequest(_Request):
    """POST /portfolios/{name}/stop."""

    reason: StorableText = Field(min_length=1, max_length=500)
