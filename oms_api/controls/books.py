"""Which portfolios' books an account-wide closing order closes."""

from __future__ import annotations

from decimal import Decimal

from oms_api.portfolios.service import HeldPosition

Books = dict[int, list[HeldPosition]]  # portfolio id -> its positions (PortfolioService)


def allot(books: Books, symbol: str, qty: Decimal, closing_longs: bool) -> dict[int, Decimal]:
    """Portfolio id -> the quantity of a closing order of `qty` that closes its holding: what
    each book holds of the symbol on the side being closed, in portfolio order, up to `qty`.
    What is left over closes what no book holds (e.g. a trade made in Alpaca's dashboard).
    `books` is one snapshot taken before the closing orders were sent."""
    left = qty
    shares: dict[int, Decimal] = {}
    for portfolio_id, positions in sorted(books.items()):
        for held in positions:
            if held.symbol != symbol or left <= 0:
                continue
            mine = held.qty if closing_longs else -held.qty
            if mine > 0:
                shares[portfolio_id] = min(mine, left)
                left -= shares[portfolio_id]
    return shares
