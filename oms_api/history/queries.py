"""Reading the broker mirror: filtered, cursor-paged lists of mirrored orders and of trades.

Both lists are newest first. Orders page on (submitted_at, id); trades on (opened_at, trade_id),
where a trade's opened_at is its earliest member's submission. Cursors are opaque and tied to
their list: a cursor from elsewhere is refused with 400 `invalid_cursor`.
"""

from __future__ import annotations

import base64
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Engine

from oms_api.errors import ServiceError
from oms_api.history.models import BROKER_OPEN_STATUSES, BROKER_STATUSES, STRATEGIES
from oms_api.history.sync import MIRROR_COLUMNS, ORDERS, mirror_order
from oms_api.history.trades import TradeSummary, summarize
from oms_api.history.views import (
    MirrorOrderOut,
    MirrorOrderPage,
    NetOut,
    OptionOut,
    TradeDetailOut,
    TradeOut,
    TradePage,
)

VIEWS = ("trades", "orders")
TRADE_STATES = ("working", "open", "closed", "filled", "unfilled")
ORDER_STATUS_FILTERS = ("open", "closed", *BROKER_STATUSES)
_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.]{0,31}$")
_TRADE_ID = re.compile(r"^tr_[0-9a-f]{1,37}$")
_ORDER_CURSOR = "hord"
_TRADE_CURSOR = "htrd"
# Trades are summarized in batches of this many candidates while a state filter drops some.
_TRADE_BATCH = 200


@dataclass(frozen=True)
class HistoryFilters:
    view: str = "trades"
    symbol: str | None = None
    strategy: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _refuse(field: str, message: str, allowed: tuple[str, ...] | None = None) -> ServiceError:
    details: dict[str, Any] = {"field": field}
    if allowed is not None:
        details["allowed"] = list(allowed)
    return ServiceError(422, "invalid_filter", message, details)


def _time(field: str, raw: str | None) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise _refuse(field, f"{field}: not an ISO 8601 time: {raw[:40]!r}") from None
    if moment.tzinfo is None:
        raise _refuse(field, f"{field}: give a time zone, e.g. {raw[:30]}Z or {raw[:30]}+00:00")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise _refuse(field, f"{field}: out of range once converted to UTC") from None


def parse_filters(
    view: str | None,
    symbol: str | None,
    strategy: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
) -> HistoryFilters:
    """Validate GET /history's query: 422 `invalid_filter` naming the field (and what it
    accepts) for anything else."""
    view = (view or "trades").strip().lower()
    if view not in VIEWS:
        raise _refuse("view", f"view: unknown view {view[:30]!r}", VIEWS)
    wanted_symbol = None
    if symbol is not None and symbol.strip():
        wanted_symbol = symbol.strip().upper()
        if not _SYMBOL.match(wanted_symbol):
            raise _refuse("symbol", f"symbol: not a ticker or option symbol: {symbol[:40]!r}")
    wanted_strategy = None
    if strategy is not None and strategy.strip():
        wanted_strategy = strategy.strip().lower()
        if wanted_strategy not in STRATEGIES:
            raise _refuse("strategy", f"strategy: unknown {strategy[:30]!r}", STRATEGIES)
    wanted_status = None
    if status is not None and status.strip():
        wanted_status = status.strip().lower()
        allowed = TRADE_STATES if view == "trades" else ORDER_STATUS_FILTERS
        if wanted_status not in allowed:
            raise _refuse(
                "status", f"status: unknown for the {view} view: {status[:30]!r}", allowed
            )
    start, end = _time("since", since), _time("until", until)
    if start is not None and end is not None and start > end:
        raise _refuse("since", "since is after until")
    return HistoryFilters(view, wanted_symbol, wanted_strategy, wanted_status, start, end)


# ---------------------------------------------------------------------------- cursors
def _encode(prefix: str, moment: datetime | None, key: str) -> str:
    stamp = moment.astimezone(UTC).isoformat() if moment is not None else "-"
    text = f"{prefix}|{stamp}|{key}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(prefix: str, cursor: str) -> tuple[datetime | None, str]:
    bad = ServiceError(400, "invalid_cursor", "cursor is not one this API handed out")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
    except ValueError:
        raise bad from None
    parts = text.split("|")
    if len(parts) != 3 or parts[0] != prefix or not parts[2]:
        raise bad
    moment: datetime | None = None
    if parts[1] != "-":
        try:
            moment = datetime.fromisoformat(parts[1])
        except ValueError:
            raise bad from None
        if moment.tzinfo is None:
            raise bad
    return moment, parts[2]


# ---------------------------------------------------------------------------- shapes
def order_out(row: Any) -> MirrorOrderOut:
    m = row._mapping if hasattr(row, "_mapping") else row
    option = None
    if m["option_expiry"] is not None and m["option_strike"] is not None and m["option_type"]:
        option = OptionOut(
            expiry=m["option_expiry"], strike=m["option_strike"], type=m["option_type"]
        )
    return MirrorOrderOut(
        broker_order_id=m["broker_order_id"],
        client_order_id=m["client_order_id"],
        parent_broker_order_id=m["parent_broker_order_id"],
        leg_number=m["leg_number"],
        trade_id=m["trade_id"],
        strategy=m["strategy"],
        symbol=m["symbol"],
        underlying=m["underlying"],
        asset_class=m["asset_class"],
        side=m["side"],
        position_intent=m["position_intent"],
        qty=m["qty"],
        filled_qty=m["filled_qty"],
        filled_avg_price=m["filled_avg_price"],
        order_type=m["order_type"],
        order_class=m["order_class"],
        time_in_force=m["time_in_force"],
        limit_price=m["limit_price"],
        stop_price=m["stop_price"],
        status=m["status"],
        option=option,
        submitted_at=m["submitted_at"],
        filled_at=m["filled_at"],
        canceled_at=m["canceled_at"],
        expired_at=m["expired_at"],
        updated_at=m["updated_at"],
    )


def trade_out(summary: TradeSummary) -> TradeOut:
    net = None
    if summary.net_kind is not None:
        net = NetOut(kind=summary.net_kind, price=summary.net_price, amount=summary.net_amount)
    return TradeOut(
        trade_id=summary.trade_id,
        underlying=summary.underlying,
        strategy=summary.strategy,
        expiry=summary.expiry,
        legs=summary.legs,
        orders=summary.orders,
        state=summary.state,
        opened_at=summary.opened_at,
        closed_at=summary.closed_at,
        net=net,
        realized_pnl=summary.realized_pnl,
    )


_OUT_COLUMNS = (
    "id",
    "broker_order_id",
    "client_order_id",
    "parent_broker_order_id",
    "leg_number",
    "trade_id",
    "strategy",
    "symbol",
    "underlying",
    "asset_class",
    "side",
    "position_intent",
    "qty",
    "ratio_qty",
    "filled_qty",
    "filled_avg_price",
    "order_type",
    "order_class",
    "time_in_force",
    "limit_price",
    "stop_price",
    "status",
    "option_expiry",
    "option_strike",
    "option_type",
    "submitted_at",
    "filled_at",
    "canceled_at",
    "expired_at",
    "updated_at",
)
_SELECT = [ORDERS.c[c] for c in dict.fromkeys((*_OUT_COLUMNS, *MIRROR_COLUMNS))]


# ---------------------------------------------------------------------------- queries
class HistoryQueries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def orders(self, filters: HistoryFilters, limit: int, cursor: str | None) -> MirrorOrderPage:
        """Mirrored orders and legs, newest first."""
        conditions = []
        if filters.symbol:
            conditions.append(
                or_(ORDERS.c.symbol == filters.symbol, ORDERS.c.underlying == filters.symbol)
            )
        if filters.strategy:
            conditions.append(ORDERS.c.strategy == filters.strategy)
        if filters.status == "open":
            conditions.append(ORDERS.c.status.in_(sorted(BROKER_OPEN_STATUSES)))
        elif filters.status == "closed":
            conditions.append(ORDERS.c.status.not_in(sorted(BROKER_OPEN_STATUSES)))
        elif filters.status:
            conditions.append(ORDERS.c.status == filters.status)
        if filters.since:
            conditions.append(ORDERS.c.submitted_at >= filters.since)
        if filters.until:
            conditions.append(ORDERS.c.submitted_at < filters.until)
        if cursor:
            moment, key = _decode(_ORDER_CURSOR, cursor)
            if not key.isdigit() or moment is None:
                raise ServiceError(400, "invalid_cursor", "cursor is not one this API handed out")
            row_id = int(key)
            conditions.append(
                or_(
                    ORDERS.c.submitted_at < moment,
                    and_(ORDERS.c.submitted_at == moment, ORDERS.c.id < row_id),
                )
            )
        statement = (
            select(*_SELECT)
            .where(ORDERS.c.submitted_at.is_not(None), *conditions)
            .order_by(ORDERS.c.submitted_at.desc(), ORDERS.c.id.desc())
            .limit(limit + 1)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(statement).all()
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = _encode(_ORDER_CURSOR, last.submitted_at, str(last.id))
        return MirrorOrderPage(orders=[order_out(r) for r in rows[:limit]], next_cursor=next_cursor)

    def trades(self, filters: HistoryFilters, limit: int, cursor: str | None) -> TradePage:
        """Trades (one row per trade with its net and P&L), newest first by opening time."""
        opened = func.min(ORDERS.c.submitted_at)
        statement = select(ORDERS.c.trade_id, opened.label("opened_at")).where(
            ORDERS.c.trade_id.is_not(None)
        )
        if filters.symbol:
            matching = select(ORDERS.c.trade_id).where(
                ORDERS.c.trade_id.is_not(None),
                or_(ORDERS.c.symbol == filters.symbol, ORDERS.c.underlying == filters.symbol),
            )
            statement = statement.where(ORDERS.c.trade_id.in_(matching))
        if filters.strategy:
            statement = statement.where(ORDERS.c.strategy == filters.strategy)
        statement = statement.group_by(ORDERS.c.trade_id).having(opened.is_not(None))
        if filters.since:
            statement = statement.having(opened >= filters.since)
        if filters.until:
            statement = statement.having(opened < filters.until)
        after: tuple[datetime, str] | None = None
        if cursor:
            moment, key = _decode(_TRADE_CURSOR, cursor)
            if moment is None or not _TRADE_ID.match(key):
                raise ServiceError(400, "invalid_cursor", "cursor is not one this API handed out")
            after = (moment, key)
        statement = statement.order_by(opened.desc(), ORDERS.c.trade_id.desc())

        found: list[TradeSummary] = []
        more = False
        with self.engine.connect() as connection:
            while True:
                page = statement
                if after is not None:
                    page = page.having(
                        or_(
                            opened < after[0],
                            and_(opened == after[0], ORDERS.c.trade_id < after[1]),
                        )
                    )
                batch = _TRADE_BATCH if filters.status else limit + 1
                candidates = connection.execute(page.limit(batch)).all()
                if not candidates:
                    break
                summaries = self._summaries(connection, [c.trade_id for c in candidates])
                for candidate in candidates:
                    summary = summaries[candidate.trade_id]
                    if filters.status and summary.state != filters.status:
                        continue
                    if len(found) == limit:
                        more = True
                        break
                    found.append(summary)
                if more or len(candidates) < batch:
                    break
                last = candidates[-1]
                after = (last.opened_at, last.trade_id)
        next_cursor = None
        if more:
            last_summary = found[-1]
            next_cursor = _encode(_TRADE_CURSOR, last_summary.opened_at, last_summary.trade_id)
        return TradePage(trades=[trade_out(s) for s in found], next_cursor=next_cursor)

    def _summaries(self, connection: Any, trade_ids: list[str]) -> dict[str, TradeSummary]:
        rows = connection.execute(select(*_SELECT).where(ORDERS.c.trade_id.in_(trade_ids))).all()
        members: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            members[row.trade_id].append(mirror_order(row))
        return {trade_id: summarize(trade_id, members[trade_id]) for trade_id in members}

    def trade(self, trade_id: str) -> TradeDetailOut:
        """One trade with its members (each order followed by its legs in leg order)."""
        missing = ServiceError(404, "trade_not_found", f"no trade {trade_id[:40]!r} in the history")
        if not _TRADE_ID.match(trade_id):
            raise missing
        with self.engine.connect() as connection:
            rows = connection.execute(select(*_SELECT).where(ORDERS.c.trade_id == trade_id)).all()
        if not rows:
            raise missing
        summary = summarize(trade_id, [mirror_order(r) for r in rows])
        by_id = {r.broker_order_id: r for r in rows}

        def key(row: Any) -> tuple[Any, ...]:
            root = by_id.get(row.parent_broker_order_id) or row
            return (root.submitted_at, root.id, row.leg_number or 0)

        members = [order_out(r) for r in sorted(rows, key=key)]
        return TradeDetailOut(**trade_out(summary).model_dump(), members=members)
