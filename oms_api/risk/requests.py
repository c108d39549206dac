"""What a change of a portfolio's pre-trade limits may contain. Symbols are read as trade
symbols are (trimmed, upper-cased, ASCII tickers); amounts are positive dollars in cents."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from oms_api.orders.requests import SYMBOL_RULE, StorableText, normalise_symbol
from oms_api.portfolios.models import REQUESTED_BY_HELP, REQUESTED_BY_NAME_HELP

MAX_SYMBOLS = 500


def _symbol(value: str) -> str:
    symbol = normalise_symbol(value)
    if symbol is None:
        raise PydanticCustomError(
            "invalid_symbol",
            "invalid symbol '{symbol}' ({rule})",
            {"symbol": value, "rule": SYMBOL_RULE},
        )
    return symbol


def _distinct(symbols: list[str]) -> list[str]:
    return list(dict.fromkeys(symbols))  # " aapl" and "AAPL" are one symbol, kept once, in order


LimitSymbol = Annotated[StorableText, Field(max_length=21), AfterValidator(_symbol)]
# Counted as sent (at most MAX_SYMBOLS), then kept once each.
AllowedSymbols = Annotated[
    list[LimitSymbol], Field(min_length=1, max_length=MAX_SYMBOLS), AfterValidator(_distinct)
]
DeniedSymbols = Annotated[
    list[LimitSymbol], Field(max_length=MAX_SYMBOLS), AfterValidator(_distinct)
]
LimitAmount = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=2)]


class PortfolioLimitsUpdate(BaseModel):
    """PUT /api/v1/portfolios/{name}/limits: each field given is set (null clears it); fields
    left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    allowed_symbols: AllowedSymbols | None = Field(
        default=None,
        description="Only these symbols may be traded (null: any). At least one; "
        f"at most {MAX_SYMBOLS}.",
    )
    denied_symbols: DeniedSymbols | None = Field(
        default=None,
        description=f"These symbols may not be traded (null or []: none). At most {MAX_SYMBOLS}.",
    )
    max_order_notional: LimitAmount | None = Field(
        default=None,
        description="The largest single order in dollars (its notional, or qty x its limit "
        "price, else qty x the latest price). null: no limit.",
    )
    max_position_value: LimitAmount | None = Field(
        default=None,
        description="The largest position in any one symbol, in dollars, long or short, after "
        "an order (|qty| x price). null: no limit.",
    )
    requested_by: StorableText | None = Field(
        default=None, max_length=100, description=REQUESTED_BY_HELP
    )
    requested_by_name: StorableText | None = Field(
        default=None, max_length=100, description=REQUESTED_BY_NAME_HELP
    )

    def changes(self) -> dict[str, object]:
        """The limits this request sets (a null among them clears that one)."""
        limits = ("allowed_symbols", "denied_symbols", "max_order_notional", "max_position_value")
        return {name: getattr(self, name) for name in limits if name in self.model_fields_set}
