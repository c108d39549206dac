"""client_order_id: `bot-{portfolio id, 8 digits}-{16 random hex}`, parseable back to its
portfolio (orders the broker shows us that we did not place lack the prefix)."""

from __future__ import annotations

import re
import secrets

_PATTERN = re.compile(r"^bot-(\d{8})-([0-9a-f]{16})$")


def new_client_order_id(portfolio_id: int) -> str:
    if not 0 < portfolio_id < 10**8:
        raise ValueError("portfolio id out of range for a client_order_id")
    return f"bot-{portfolio_id:08d}-{secrets.token_hex(8)}"


def portfolio_id_of(client_order_id: str) -> int | None:
    match = _PATTERN.match(client_order_id)
    return int(match.group(1)) if match else None
