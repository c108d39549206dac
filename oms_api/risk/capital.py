"""Capital: what the portfolios are given out of the account's buying power, and what one
portfolio still has to buy with.

- The desk: `allocated_capital` is the sum of every portfolio's capital (paused ones too: a
  pause stops new orders, it does not hand the money back); `available` is the account's buying
  power less that sum. Creating a portfolio, raising its capital or resuming it must fit in
  what is available (an update leaves the portfolio's own capital out of the sum). A capital of
  0 never exceeds anything: such a portfolio can be created or resumed, and cannot buy.
- One portfolio: its free capital is its capital less the cost of its open long positions (from
  its own fills) less what its working buy orders still reserve. A buy that would cost more is
  refused before anything is written or sent.

The checks and the writes they guard run in one transaction under a lock, so two requests never
both pass against the same money: `serialise_capital_changes` for the desk's sum, the
portfolio's row (locked by the order writer) for one portfolio's buys.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from oms_api.broker.models import Account
from oms_api.db.engine import _lock_key
from oms_api.errors import ServiceError
from oms_api.orders.enums import TERMINAL_STATUSES, OrderStatus
from oms_api.orders.models import Order
from oms_api.portfolios.models import Portfolio

if TYPE_CHECKING:
    from oms_api.portfolios.service import HeldPosition

CENT = Decimal("0.01")
MINUS = "\N{MINUS SIGN}"  # the typographic minus, as amounts are written for people
PORTFOLIOS = Portfolio.__table__  # type: ignore[attr-defined]
ORDERS = Order.__table__  # type: ignore[attr-defined]
WORKING = sorted(s.value for s in OrderStatus if s not in TERMINAL_STATUSES)
CAPITAL_LOCK_KEY = _lock_key("oms-portfolio-capital")


class AccountReads(Protocol):
    """Where the account's buying power is read (the market service)."""

    def account(self) -> Account: ...


def money(value: Decimal) -> str:
    """$1,234.50 (and -$12.00): dollars as people read them."""
    cents = value.quantize(CENT)
    return f"-${-cents:,.2f}" if cents < 0 else f"${cents:,.2f}"


def cents(value: Decimal) -> str:
    """An amount as the API shows it: exact text, to the cent."""
    return str(value.quantize(CENT))


# ---------------------------------------------------------------------------- the desk
def read_buying_power(market: AccountReads | None) -> Decimal:
    """The account's buying power: one broker call. A broker that cannot be read refuses the
    change that needed it (503), with nothing written."""
    if market is None:  # an in-process caller that gave no way to ask the broker
        raise ServiceError(
            503,
            "broker_unavailable",
            "the account's buying power is needed to check the capital, and no broker was "
            "given — nothing was changed",
        )
    try:
        return market.account().buying_power
    except ServiceError as error:
        raise ServiceError(
            503 if error.status >= 500 else error.status,
            error.code,
            f"{error.message} — the capital could not be checked against the account's "
            "buying power, so nothing was changed",
            error.details,
        ) from None


def serialise_capital_changes(connection: Connection) -> None:
    """Hold the desk's capital lock until this transaction ends: a change that checks the sum
    of every portfolio's capital and then writes must not interleave with another one.
    PostgreSQL: a transaction advisory lock (every worker). SQLite: a write statement, even one
    that changes no row, takes the database's one write lock for the rest of the transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CAPITAL_LOCK_KEY})
    else:
        take_sqlite_write_lock(connection)


def take_sqlite_write_lock(connection: Connection) -> None:
    """SQLite locks the database, not rows: a write statement, even one that changes no row,
    takes its one write lock now, held until the transaction ends."""
    connection.execute(text("UPDATE portfolios SET status = status WHERE 0 = 1"))


def allocated_capital(connection: Connection, *, excluding: int | None = None) -> Decimal:
    """The sum of every portfolio's capital, paused ones included (one left out: `excluding`).
    Summed here, exactly: SQLite keeps these amounts as text."""
    query = select(PORTFOLIOS.c.allocated_capital)
    if excluding is not None:
        query = query.where(PORTFOLIOS.c.id != excluding)
    return sum((row[0] for row in connection.execute(query)), Decimal(0))


def capital_refusal(
    capital: Decimal, buying_power: Decimal, allocated_to_others: Decimal
) -> ServiceError | None:
    """The 409 for a capital that does not fit in what is available, or None when it fits."""
    available = buying_power - allocated_to_others
    if capital <= 0 or capital <= available:
        return None
    return ServiceError(
        409,
        "capital_exceeds_available",
        f"capital {money(capital)} exceeds the {money(available)} available (buying power "
        f"{money(buying_power)} {MINUS} {money(allocated_to_others)} allocated to other "
        "portfolios)",
        {
            "capital": cents(capital),
            "available_capital": cents(available),
            "buying_power": cents(buying_power),
            "allocated_capital": cents(allocated_to_others),
        },
    )


# ---------------------------------------------------------------------------- one portfolio
@dataclass(frozen=True)
class FreeCapital:
    capital: Decimal
    positions_cost: Decimal  # cost basis of the open long positions, from its own fills
    working_buys: Decimal  # what its working buy orders still reserve

    @property
    def free(self) -> Decimal:
        return self.capital - self.positions_cost - self.working_buys


def positions_cost(holdings: list[HeldPosition]) -> Decimal:
    return sum((h.cost_basis for h in holdings if h.qty > 0), Decimal(0))


def working_buys(connection: Connection, portfolio_id: int) -> Decimal:
    """What the portfolio's working buy orders still reserve: the unfilled quantity at the
    price each was estimated at (its limit price, else the latest price when it was placed),
    or the unfilled part of a dollar amount. An order recorded without an estimate (before
    estimates were kept, or adopted from the broker) counts at its limit or stop price, else
    nothing."""
    rows = connection.execute(
        select(
            ORDERS.c.qty,
            ORDERS.c.notional,
            ORDERS.c.filled_qty,
            ORDERS.c.filled_avg_price,
            ORDERS.c.estimated_price,
            ORDERS.c.limit_price,
            ORDERS.c.stop_price,
        ).where(
            ORDERS.c.status.in_(WORKING),
            ORDERS.c.portfolio_id == portfolio_id,
            ORDERS.c.side == "buy",
        )
    )
    reserved = Decimal(0)
    for qty, notional, filled, average, estimate, limit, stop in rows:
        if qty is not None:
            price = estimate or limit or stop or Decimal(0)
            reserved += max(qty - filled, Decimal(0)) * price
        elif notional is not None:
            reserved += max(notional - filled * (average or Decimal(0)), Decimal(0))
    return reserved


def free_capital(
    connection: Connection, portfolio_id: int, capital: Decimal, holdings: list[HeldPosition]
) -> FreeCapital:
    return FreeCapital(
        capital=capital,
        positions_cost=positions_cost(holdings),
        working_buys=working_buys(connection, portfolio_id),
    )


def buy_refusal(
    portfolio: str, symbol: str, cost: Decimal, capital: FreeCapital
) -> ServiceError | None:
    """The 402 for a buy that costs more than the portfolio's free capital, or None."""
    free = capital.free
    if cost <= free:
        return None
    return ServiceError(
        402,
        "portfolio_capital_exceeded",
        f"this buy of {symbol} costs about {money(cost)}, more than portfolio {portfolio}'s "
        f"free capital of {money(free)} (capital {money(capital.capital)} {MINUS} "
        f"{money(capital.positions_cost)} in open positions {MINUS} {money(capital.working_buys)} "
        "reserved by working buys) — nothing was sent",
        {
            "estimated_cost": cents(cost),
            "free_capital": cents(free),
            "capital": cents(capital.capital),
            "positions_cost": cents(capital.positions_cost),
            "working_buys": cents(capital.working_buys),
        },
    )
