"""Per-portfolio pre-trade limits: which symbols it may trade, how large one order may be, and
how large a position in one symbol may grow. Set with PUT /portfolios/{name}/limits (audited,
before and after); checked by the pre-trade checks (`oms_api.risk.pretrade`) before an order is
written or sent.

Refusals are 403s: `symbol_not_allowed`, `symbol_denied`, `order_notional_exceeded`,
`position_limit_exceeded`. An order that makes a position smaller is never refused for the
position's size, even when it stays above the limit (e.g. a limit lowered under a position):
refusing it would keep the risk the limit is there to cut.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from oms_api.audit.models import AuditResult
from oms_api.audit.service import Actor, AuditAction, record
from oms_api.db.types import utcnow
from oms_api.errors import ServiceError
from oms_api.portfolios.models import Portfolio, portfolio_key
from oms_api.risk.capital import CENT, cents, money, take_sqlite_write_lock
from oms_api.risk.models import PortfolioLimits, PortfolioLimitsPublic
from oms_api.risk.requests import PortfolioLimitsUpdate

LIMITS = PortfolioLimits.__table__  # type: ignore[attr-defined]
PORTFOLIOS = Portfolio.__table__  # type: ignore[attr-defined]
LIMIT_FIELDS = ("allowed_symbols", "denied_symbols", "max_order_notional", "max_position_value")
SHOWN_SYMBOLS = 10  # symbols named in a refusal's message (all are in its details)


def read_limits(connection: Connection, portfolio_id: int) -> PortfolioLimits | None:
    row = connection.execute(select(LIMITS).where(LIMITS.c.portfolio_id == portfolio_id)).first()
    return PortfolioLimits.model_construct(**row._mapping) if row is not None else None


def _limits_of(row: PortfolioLimits | None) -> dict[str, Any]:
    return {name: getattr(row, name) if row is not None else None for name in LIMIT_FIELDS}


class LimitsService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, name: str) -> PortfolioLimitsPublic:
        with self.engine.connect() as connection:
            portfolio_id, stored_name = self._portfolio(connection, name)
            limits = read_limits(connection, portfolio_id)
        return _public(stored_name, limits)

    def update(
        self, name: str, data: PortfolioLimitsUpdate, actor: Actor | None = None
    ) -> PortfolioLimitsPublic:
        """Set the limits `data` gives (a null clears one; the rest stay), with the
        `portfolio_limits` audit row (before and after) in the same transaction. The
        portfolio's row is held meanwhile, so an order being checked sees the limits before
        or after the change, never half of it. An unknown name is a 404, recorded as refused."""
        actor = actor or Actor.system()
        changes = data.changes()
        if changes.get("denied_symbols") == []:
            changes["denied_symbols"] = None  # none denied: one way to say it
        for key in ("max_order_notional", "max_position_value"):
            if changes.get(key) is not None:
                changes[key] = changes[key].quantize(CENT)
        key = portfolio_key(name)
        with self.engine.begin() as connection:
            found = connection.execute(
                _locked(select(PORTFOLIOS.c.id, PORTFOLIOS.c.name), connection).where(
                    PORTFOLIOS.c.name == key
                )
            ).first()
            if found is None:
                asked = {k: _audit_value(v) for k, v in changes.items()}
                record(
                    connection,
                    actor,
                    AuditAction.PORTFOLIO_LIMITS,
                    f"portfolio {key}",
                    {"refused": "portfolio_not_found", "asked": asked},
                    AuditResult.REFUSED,
                )
                refusal = ServiceError(
                    404, "portfolio_not_found", f"portfolio {name!r} does not exist"
                )
            else:
                refusal = None
                portfolio_id, stored_name = found
                current = read_limits(connection, portfolio_id)
                before = _limits_of(current)
                after = before | changes
                now = utcnow()
                if current is None:
                    connection.execute(
                        LIMITS.insert().values(portfolio_id=portfolio_id, updated_at=now, **after)
                    )
                else:
                    connection.execute(
                        update(LIMITS)
                        .where(LIMITS.c.portfolio_id == portfolio_id)
                        .values(updated_at=now, **after)
                    )
                record(
                    connection,
                    actor,
                    AuditAction.PORTFOLIO_LIMITS,
                    f"portfolio {stored_name}",
                    {
                        "before": {k: _audit_value(v) for k, v in before.items()},
                        "after": {k: _audit_value(v) for k, v in after.items()},
                    },
                )
                stored = read_limits(connection, portfolio_id)
        if refusal is not None:
            raise refusal
        return _public(stored_name, stored)

    @staticmethod
    def _portfolio(connection: Connection, name: str) -> tuple[int, str]:
        found = connection.execute(
            select(PORTFOLIOS.c.id, PORTFOLIOS.c.name).where(
                PORTFOLIOS.c.name == portfolio_key(name)
            )
        ).first()
        if found is None:
            raise ServiceError(404, "portfolio_not_found", f"portfolio {name!r} does not exist")
        return found[0], found[1]


def _locked(query: Any, connection: Connection) -> Any:
    """The portfolio's row held until the transaction ends (SQLite: the database's write lock,
    taken by a write that changes nothing)."""
    if connection.dialect.name == "postgresql":
        return query.with_for_update()
    take_sqlite_write_lock(connection)
    return query


def _audit_value(value: Any) -> Any:
    return cents(value) if isinstance(value, Decimal) else value


def _public(name: str, limits: PortfolioLimits | None) -> PortfolioLimitsPublic:
    return PortfolioLimitsPublic(
        portfolio=name,
        **_limits_of(limits),
        updated_at=limits.updated_at if limits is not None else None,
    )


# ---------------------------------------------------------------------------- the checks
def symbol_refusal(
    limits: PortfolioLimits | None, portfolio: str, symbol: str
) -> ServiceError | None:
    if limits is None:
        return None
    if limits.denied_symbols and symbol in limits.denied_symbols:
        return ServiceError(
            403,
            "symbol_denied",
            f"portfolio {portfolio} may not trade {symbol} (it is among its denied symbols) "
            "— nothing was sent",
            {"symbol": symbol, "denied_symbols": limits.denied_symbols},
        )
    allowed = limits.allowed_symbols
    if allowed is not None and symbol not in allowed:
        shown = ", ".join(allowed[:SHOWN_SYMBOLS]) + (
            f" and {len(allowed) - SHOWN_SYMBOLS} more" if len(allowed) > SHOWN_SYMBOLS else ""
        )
        return ServiceError(
            403,
            "symbol_not_allowed",
            f"portfolio {portfolio} may only trade {shown}; {symbol} is not among them "
            "— nothing was sent",
            {"symbol": symbol, "allowed_symbols": allowed},
        )
    return None


def notional_refusal(
    limits: PortfolioLimits | None, portfolio: str, estimated_notional: Decimal
) -> ServiceError | None:
    ceiling = limits.max_order_notional if limits is not None else None
    if ceiling is None or estimated_notional <= ceiling:
        return None
    return ServiceError(
        403,
        "order_notional_exceeded",
        f"this order is worth about {money(estimated_notional)}, more than portfolio "
        f"{portfolio}'s limit of {money(ceiling)} per order — nothing was sent",
        {"estimated_notional": cents(estimated_notional), "max_order_notional": cents(ceiling)},
    )


def position_refusal(
    limits: PortfolioLimits | None,
    portfolio: str,
    symbol: str,
    held: Decimal,
    after: Decimal,
    price: Decimal,
) -> ServiceError | None:
    """Refuse an order that leaves the position in `symbol` (signed quantities, before and
    after it) worth more than the limit at `price`, unless it makes the position smaller."""
    ceiling = limits.max_position_value if limits is not None else None
    if ceiling is None or abs(after) <= abs(held):
        return None
    value = abs(after) * price
    if value <= ceiling:
        return None
    side = "long" if after > 0 else "short"
    return ServiceError(
        403,
        "position_limit_exceeded",
        f"after this order portfolio {portfolio} would hold {symbol} worth about {money(value)} "
        f"({side}), more than its limit of {money(ceiling)} per symbol — nothing was sent",
        {
            "symbol": symbol,
            "position_value_after": cents(value),
            "max_position_value": cents(ceiling),
        },
    )
