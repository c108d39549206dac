"""The history sync: keeps the broker mirror (`broker_orders`, `broker_positions`) in step with
what the broker reports.

- The first run (or `full=True`) walks the account's whole order history, oldest first, in pages
  of 500 (`GET /v2/orders?status=all&direction=asc&nested=true`); later runs start at the stored
  cursor minus a small overlap, so the common case is one orders call and one positions call.
- Each page is one transaction: one SELECT of the page's rows already stored, INSERT of the new
  ones, UPDATE of those whose content changed (and only then `updated_at`), the cursor advanced
  with them. A re-sync that brings nothing new writes nothing.
- Option orders are grouped into trades per underlying (`oms_api.history.grouping`); an equity
  order is its own trade from the moment it is stored.
- Positions are a snapshot: replaced as a whole from one `GET /v2/positions`.

One worker at a time (`singleton_lock`); a second caller gets 409 `sync_running`.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import operator
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, Integer, bindparam, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from oms_api.broker.budget import Priority
from oms_api.broker.models import BrokerBusy, BrokerRejected, BrokerUnavailable
from oms_api.db.engine import singleton_lock
from oms_api.db.types import ExactDecimal, UTCDateTime, utcnow
from oms_api.errors import ServiceError, broker_busy
from oms_api.history.models import (
    BROKER_OPEN_STATUSES,
    BrokerOrderRecord,
    BrokerPositionRecord,
    BrokerSyncState,
)
from oms_api.history.parse import (
    ORDER_COLUMNS,
    POSITION_COLUMNS,
    parse_orders,
    position_row,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 500
LOCK_NAME = "oms-history-sync"
STATE_NAME = "orders"
# Pages never overlap by less than this: orders submitted in the same microsecond as a page's
# newest are read again (and dropped as already seen) instead of being skipped.
PAGE_OVERLAP = timedelta(microseconds=1)
# A walk stops here even if the broker keeps answering full pages (10 million orders).
MAX_PAGES = 20_000

ORDERS = BrokerOrderRecord.__table__  # type: ignore[attr-defined]
POSITIONS = BrokerPositionRecord.__table__  # type: ignore[attr-defined]
SYNC_STATE = BrokerSyncState.__table__  # type: ignore[attr-defined]

# The broker_orders columns `grouping.MirrorOrder` is built from.
MIRROR_COLUMNS: tuple[str, ...] = (
    "broker_order_id",
    "parent_broker_order_id",
    "leg_number",
    "order_class",
    "asset_class",
    "symbol",
    "underlying",
    "side",
    "position_intent",
    "qty",
    "ratio_qty",
    "filled_qty",
    "filled_avg_price",
    "option_expiry",
    "option_strike",
    "option_type",
    "status",
    "submitted_at",
    "filled_at",
)


@dataclass(frozen=True)
class SyncResult:
    full: bool
    pages: int
    orders_seen: int
    inserted: int
    updated: int
    unchanged: int
    positions: int
    broker_calls: int
    cursor_at: datetime | None
    started_at: datetime
    finished_at: datetime


@dataclass
class _Counts:
    pages: int = 0
    orders_seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0


_MIRROR_VALUES = operator.itemgetter(*MIRROR_COLUMNS)


def mirror_order(row: Any) -> Any:
    """A `grouping.MirrorOrder` from a broker_orders row (mapping or Row)."""
    from oms_api.history.grouping import MirrorOrder

    if isinstance(row, dict) and row.get("filled_qty") is not None:
        # A parsed row holds every column, already typed: the fast path.
        return MirrorOrder._make(_MIRROR_VALUES(row))
    get = row.get if isinstance(row, dict) else row._mapping.get
    return MirrorOrder(
        broker_order_id=get("broker_order_id"),
        parent_broker_order_id=get("parent_broker_order_id"),
        leg_number=get("leg_number"),
        order_class=get("order_class") or "simple",
        asset_class=get("asset_class") or "",
        symbol=get("symbol") or "",
        underlying=get("underlying") or "",
        side=get("side"),
        position_intent=get("position_intent"),
        qty=get("qty"),
        ratio_qty=get("ratio_qty"),
        filled_qty=get("filled_qty") if get("filled_qty") is not None else Decimal(0),
        filled_avg_price=get("filled_avg_price"),
        option_expiry=get("option_expiry"),
        option_strike=get("option_strike"),
        option_type=get("option_type"),
        status=get("status"),
        submitted_at=get("submitted_at"),
        filled_at=get("filled_at"),
    )


def _is_option_order(rows: list[dict[str, Any]]) -> bool:
    """Whether one order's rows (parent first) are grouped as options."""
    return [row["option_type"] for row in rows if row["option_type"] is not None] != []


class HistorySync:
    """Mirrors the broker's order history and positions (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        gateway: Any,
        *,
        now: Callable[[], datetime] = utcnow,
        overlap: timedelta = timedelta(seconds=2),
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.engine = engine
        self.gateway = gateway
        self._now = now
        self.overlap = overlap
        self.page_size = page_size
        # Writers of the same rows in this process (run and record) take turns.
        self._write_lock = threading.RLock()
        # Regrouping reads the rows stored before this batch from the database, and the option
        # rows the batch inserted from here (a first sync need not read back what it wrote).
        self._watermark: int = 0
        self._fresh_options: dict[str, Any] = {}  # broker_order_id -> grouping.MirrorOrder

    # ------------------------------------------------------------------ public
    def run(self, *, full: bool = False) -> SyncResult:
        """Sync once; 409 `sync_running` when another worker is syncing right now."""
        with singleton_lock(self.engine, LOCK_NAME) as got:
            if not got:
                raise ServiceError(
                    409,
                    "sync_running",
                    "a history sync is already running; try again when it has finished",
                )
            self._begin_batch()
            with _collector_paused():
                return self._run(full)

    def record(self, raw_orders: list[dict[str, Any]]) -> None:
        """Upsert orders given as Alpaca order JSON (legs nested) in one transaction, and
        regroup their underlyings' trades. The cursor does not move. Waits for a sync running
        elsewhere: the mirror has one writer at a time."""
        parsed = parse_orders(raw_orders)
        if not parsed.rows:
            return
        with singleton_lock(self.engine, LOCK_NAME, blocking=True):
            self._begin_batch()
            counts = _Counts()
            regroup: set[str] = set()
            self._store(parsed.rows, counts, regroup, cursor_at=None)
            self._regroup(regroup)

    def _begin_batch(self) -> None:
        with self.engine.connect() as connection:
            self._watermark = int(connection.execute(select(func.max(ORDERS.c.id))).scalar() or 0)
        self._fresh_options = {}

    def state(self) -> dict[str, Any]:
        """Where the sync stands, and how much the mirror holds (GET /api/v1/sync)."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(SYNC_STATE).where(SYNC_STATE.c.name == STATE_NAME)
            ).first()
            orders = connection.execute(
                select(func.count())
                .select_from(ORDERS)
                .where(ORDERS.c.parent_broker_order_id.is_(None))
            ).scalar_one()
            positions = connection.execute(select(func.count()).select_from(POSITIONS)).scalar_one()
        mapping = row._mapping if row is not None else {}
        return {
            "cursor_at": mapping.get("cursor_at"),
            "full_synced_at": mapping.get("full_synced_at"),
            "last_run_at": mapping.get("last_run_at"),
            "last_success_at": mapping.get("last_success_at"),
            "last_error": mapping.get("last_error"),
            "orders_mirrored": int(orders),
            "positions_mirrored": int(positions),
        }

    # ------------------------------------------------------------------ the run
    def _run(self, full: bool) -> SyncResult:
        started = self._now()
        calls_before = self.gateway.request_count
        state = self._load_state()
        cursor: datetime | None = state.get("cursor_at")
        full = full or cursor is None
        self._save_state(last_run_at=started)
        counts = _Counts()
        regroup: set[str] = set()
        try:
            after = None if full or cursor is None else cursor - self.overlap
            cursor = self._walk(after, counts, regroup, cursor)
            if not full and after is not None:
                self._refresh_old_open(after, counts, regroup)
            self._regroup(regroup)
            positions = self._sync_positions()
        except Exception as error:
            self._save_state(
                last_error=_describe(error)[:500],
                last_broker_calls=self.gateway.request_count - calls_before,
            )
            log.warning("history sync failed: %s", _describe(error))
            raise _service_error(error) from None
        finished = self._now()
        broker_calls = self.gateway.request_count - calls_before
        values: dict[str, Any] = {
            "last_success_at": finished,
            "last_error": None,
            "last_broker_calls": broker_calls,
        }
        if full:
            values["full_synced_at"] = finished
        self._save_state(**values)
        if counts.skipped:
            log.warning("history sync: %d broker orders could not be stored", counts.skipped)
        result = SyncResult(
            full=full,
            pages=counts.pages,
            orders_seen=counts.orders_seen,
            inserted=counts.inserted,
            updated=counts.updated,
            unchanged=counts.unchanged,
            positions=positions,
            broker_calls=broker_calls,
            cursor_at=cursor,
            started_at=started,
            finished_at=finished,
        )
        log.info(
            "history sync (%s): %d pages, %d orders, %d new, %d changed, %d broker calls",
            "full" if full else "incremental",
            result.pages,
            result.orders_seen,
            result.inserted,
            result.updated,
            result.broker_calls,
        )
        return result

    def _walk(
        self,
        after: datetime | None,
        counts: _Counts,
        regroup: set[str],
        cursor: datetime | None,
    ) -> datetime | None:
        """Read every order submitted after `after`, oldest first; returns the new cursor."""
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = self.gateway.list_orders_json(
                status="all",
                after=after,
                direction="asc",
                limit=self.page_size,
                nested=True,
                priority=Priority.READ,
            )
            counts.pages += 1
            fresh = [o for o in page if not (isinstance(o, dict) and o.get("id") in seen)]
            seen.update(o.get("id") for o in fresh if isinstance(o, dict))
            parsed = parse_orders(fresh)
            counts.skipped += parsed.skipped
            counts.orders_seen += len(parsed.order_ids)
            newest = max(
                (r["submitted_at"] for r in parsed.rows if r["submitted_at"] is not None),
                default=None,
            )
            if newest is not None and (cursor is None or newest > cursor):
                cursor = newest
            self._store(parsed.rows, counts, regroup, cursor_at=cursor)
            if len(page) < self.page_size:
                return cursor
            if newest is None:
                log.warning("history sync: a full page without submission times; stopping")
                return cursor
            next_after = newest - PAGE_OVERLAP
            if not fresh or (after is not None and next_after <= after):
                # A full page of orders already seen (more than a page submitted in the same
                # microsecond): step past it rather than read it forever.
                log.warning("history sync: a full page brought nothing new at %s", newest)
                next_after = newest if after is None or newest > after else after + PAGE_OVERLAP
            after = next_after
        log.warning("history sync: stopped after %d pages", MAX_PAGES)
        return cursor

    def _refresh_old_open(self, after: datetime, counts: _Counts, regroup: set[str]) -> None:
        """Orders the mirror holds as open, submitted before this run's window: ask the broker
        for its open orders once, then look up one by one only those in neither answer."""
        with self.engine.connect() as connection:
            stale = set(
                connection.execute(
                    select(ORDERS.c.broker_order_id).where(
                        ORDERS.c.parent_broker_order_id.is_(None),
                        ORDERS.c.status.in_(sorted(BROKER_OPEN_STATUSES)),
                        ORDERS.c.submitted_at <= after,
                    )
                ).scalars()
            )
        if not stale:
            return
        open_now = self.gateway.list_orders_json(
            status="open", direction="asc", limit=self.page_size, nested=True
        )
        parsed = parse_orders(open_now)
        counts.skipped += parsed.skipped
        self._store(parsed.rows, counts, regroup, cursor_at=None)
        missing = stale - set(parsed.order_ids)
        if len(open_now) >= self.page_size:
            # More open orders than one page: the rest are looked up one by one below.
            log.info("history sync: %d+ open orders at the broker", len(open_now))
        looked_up: list[dict[str, Any]] = []
        for broker_order_id in sorted(missing):
            order = self.gateway.get_order_json(broker_order_id)
            if order is None:
                log.warning("history sync: order %s is gone at the broker", broker_order_id)
                continue
            looked_up.append(order)
        if looked_up:
            parsed = parse_orders(looked_up)
            counts.skipped += parsed.skipped
            self._store(parsed.rows, counts, regroup, cursor_at=None)

    # ------------------------------------------------------------------ writing orders
    def _store(
        self,
        rows: list[dict[str, Any]],
        counts: _Counts,
        regroup: set[str],
        cursor_at: datetime | None,
    ) -> None:
        """One page in one transaction (retried once if another writer inserted a row first)."""
        with self._write_lock:
            for attempt in (1, 2):
                page_counts = _Counts()
                page_regroup: set[str] = set()
                try:
                    with self.engine.begin() as connection:
                        self._store_in(
                            connection,
                            rows,
                            page_counts,
                            page_regroup,
                            cursor_at,
                            by_time=attempt == 1,
                        )
                except IntegrityError:
                    if attempt == 2:
                        raise
                    log.info("history sync: a row was written concurrently; retrying the page")
                    continue
                break
        counts.inserted += page_counts.inserted
        counts.updated += page_counts.updated
        counts.unchanged += page_counts.unchanged
        regroup.update(page_regroup)

    def _store_in(
        self,
        connection: Connection,
        rows: list[dict[str, Any]],
        counts: _Counts,
        regroup: set[str],
        cursor_at: datetime | None,
        *,
        by_time: bool = True,
    ) -> None:
        now = self._now()
        existing: dict[str, tuple[str, str | None]] = {}
        if rows:
            ids = {row["broker_order_id"] for row in rows}
            stored = select(ORDERS.c.broker_order_id, ORDERS.c.content_hash, ORDERS.c.trade_id)
            times = [row["submitted_at"] for row in rows]
            if by_time and None not in times:
                # The rows stored for the page's submission times (an order's never changes):
                # two parameters, where a list of a thousand ids costs more to send than to
                # answer. A row stored under another time would fail the insert; the retry
                # then looks the ids up.
                stored = stored.where(ORDERS.c.submitted_at.between(min(times), max(times)))
            else:
                stored = stored.where(ORDERS.c.broker_order_id.in_(sorted(ids)))
            for broker_order_id, digest, trade_id in connection.execute(stored):
                if broker_order_id in ids:
                    existing[broker_order_id] = (digest, trade_id)

        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        # Equity orders' trades are known from the order alone: assigned as they are stored.
        equity_rows: list[dict[str, Any]] = []
        for order in _orders_of(rows):
            option = _is_option_order(order)
            equity_pending = False
            for row in order:
                stored = existing.get(row["broker_order_id"])
                if stored is None:
                    # The parsed row is this batch's own: completed in place, not copied.
                    row.update(first_seen_at=now, updated_at=now, trade_id=None)
                    inserts.append(row)
                    if not row["parent_broker_order_id"]:
                        counts.inserted += 1
                elif stored[0] != row["content_hash"]:
                    updates.append({**row, "_id": row["broker_order_id"], "updated_at": now})
                    if row["broker_order_id"] in self._fresh_options:  # inserted by this batch
                        self._fresh_options[row["broker_order_id"]] = mirror_order(row)
                    if not row["parent_broker_order_id"]:
                        counts.updated += 1
                elif not row["parent_broker_order_id"]:
                    counts.unchanged += 1
                changed = stored is None or stored[0] != row["content_hash"]
                needs_trade = changed or stored[1] is None  # type: ignore[index]
                if option and needs_trade and row["underlying"]:
                    regroup.add(row["underlying"])
                elif not option and needs_trade:
                    equity_pending = True
            if equity_pending:
                # The whole order (parent and legs): its trade is anchored on the parent.
                equity_rows.extend(order)

        trades = _equity_trades(equity_rows)
        fresh = self._fresh_options
        for row in inserts:
            if row["option_type"] is not None or row["order_class"] == "mleg":
                fresh[row["broker_order_id"]] = mirror_order(row)
            assignment = trades.get(row["broker_order_id"])
            row["trade_id"] = assignment.trade_id if assignment else None
            row["strategy"] = assignment.strategy if assignment else None
        if inserts:
            _insert_orders(connection, inserts)
        if updates:
            columns = [c for c in ORDER_COLUMNS if c != "broker_order_id"] + ["updated_at"]
            connection.execute(
                ORDERS.update()
                .where(ORDERS.c.broker_order_id == bindparam("_id"))
                .values({c: bindparam(f"v_{c}") for c in columns}),
                [{"_id": u["_id"], **{f"v_{c}": u[c] for c in columns}} for u in updates],
            )
        inserted_ids = {row["broker_order_id"] for row in inserts}
        assignments = [
            {"_id": broker_order_id, "v_trade_id": a.trade_id, "v_strategy": a.strategy}
            for broker_order_id, a in trades.items()
            if broker_order_id not in inserted_ids
        ]
        if assignments:
            connection.execute(
                ORDERS.update()
                .where(ORDERS.c.broker_order_id == bindparam("_id"))
                .values(trade_id=bindparam("v_trade_id"), strategy=bindparam("v_strategy")),
                assignments,
            )
        if cursor_at is not None:
            self._save_state_in(connection, cursor_at=cursor_at)

    def _regroup(self, underlyings: set[str]) -> None:
        """Regroup the option trades of these underlyings, writing only ids that differ."""
        if not underlyings:
            return
        from oms_api.history.grouping import assign_trades

        with self._write_lock, self.engine.begin() as connection:
            option_rows = (ORDERS.c.option_type.is_not(None)) | (ORDERS.c.order_class == "mleg")
            rows = connection.execute(
                select(
                    *(ORDERS.c[c] for c in MIRROR_COLUMNS),
                    ORDERS.c.trade_id,
                    ORDERS.c.strategy,
                ).where(
                    ORDERS.c.underlying.in_(sorted(underlyings)),
                    option_rows,
                    ORDERS.c.id <= self._watermark,
                )
            ).all()
            current: dict[str, tuple[str | None, str | None]] = {
                r.broker_order_id: (r.trade_id, r.strategy) for r in rows
            }
            members = [mirror_order(r) for r in rows]
            fresh = [o for o in self._fresh_options.values() if o.underlying in underlyings]
            members.extend(fresh)  # inserted by this batch, without a trade yet
            assignments = assign_trades(members)
            changes = [
                {"_id": broker_order_id, "v_trade_id": a.trade_id, "v_strategy": a.strategy}
                for broker_order_id, a in assignments.items()
                if current.get(broker_order_id) != (a.trade_id, a.strategy)
            ]
            if changes:
                _set_trades(connection, changes)

    # ------------------------------------------------------------------ positions
    def _sync_positions(self) -> int:
        """Replace the positions snapshot from one broker call; how many positions it holds."""
        raws = self.gateway.get_positions_json(priority=Priority.READ)
        rows = {}
        for raw in raws:
            row = position_row(raw)
            if row is not None:
                rows[row["symbol"]] = row
        now = self._now()
        with self._write_lock, self.engine.begin() as connection:
            stored = {
                symbol: digest
                for symbol, digest in connection.execute(
                    select(POSITIONS.c.symbol, POSITIONS.c.content_hash)
                )
            }
            inserts = [
                {**row, "first_seen_at": now, "updated_at": now, "synced_at": now}
                for symbol, row in rows.items()
                if symbol not in stored
            ]
            changed = [
                row
                for symbol, row in rows.items()
                if symbol in stored and stored[symbol] != row["content_hash"]
            ]
            unchanged = [s for s in rows if s in stored and stored[s] == rows[s]["content_hash"]]
            gone = [symbol for symbol in stored if symbol not in rows]
            if inserts:
                connection.execute(POSITIONS.insert(), inserts)
            if changed:
                columns = [c for c in POSITION_COLUMNS if c != "symbol"]
                connection.execute(
                    POSITIONS.update()
                    .where(POSITIONS.c.symbol == bindparam("_symbol"))
                    .values(
                        {c: bindparam(f"v_{c}") for c in columns}
                        | {"updated_at": now, "synced_at": now}
                    ),
                    [
                        {"_symbol": r["symbol"], **{f"v_{c}": r[c] for c in columns}}
                        for r in changed
                    ],
                )
            if unchanged:
                connection.execute(
                    POSITIONS.update()
                    .where(POSITIONS.c.symbol.in_(unchanged))
                    .values(synced_at=now)
                )
            if gone:
                connection.execute(POSITIONS.delete().where(POSITIONS.c.symbol.in_(gone)))
        return len(rows)

    # ------------------------------------------------------------------ state
    def _load_state(self) -> dict[str, Any]:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(SYNC_STATE).where(SYNC_STATE.c.name == STATE_NAME)
            ).first()
        return dict(row._mapping) if row is not None else {}

    def _save_state(self, **values: Any) -> None:
        with self.engine.begin() as connection:
            self._save_state_in(connection, **values)

    def _save_state_in(self, connection: Connection, **values: Any) -> None:
        values["updated_at"] = self._now()
        done = connection.execute(
            SYNC_STATE.update().where(SYNC_STATE.c.name == STATE_NAME).values(**values)
        )
        if done.rowcount == 0:
            connection.execute(SYNC_STATE.insert().values(name=STATE_NAME, **values))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a sync runs: a long history is tens of
    thousands of fresh rows, and the collector would walk them again and again (a third of
    the sync's CPU) to find no cycles; reference counting frees them as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _orders_of(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    """Split parse_orders' rows (each parent followed by its legs) into one list per order."""
    order: list[dict[str, Any]] = []
    for row in rows:
        if row["parent_broker_order_id"] is None and order:
            yield order
            order = []
        order.append(row)
    if order:
        yield order


def _equity_trades(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """An equity order is its own trade, with its bracket/oco/oto legs: named after the order
    (what `grouping.assign_trades` answers for it, without grouping anything)."""
    from oms_api.history.grouping import TradeAssignment, trade_id_for

    trades: dict[str, Any] = {}
    for order in _orders_of(rows):
        assignment = TradeAssignment(trade_id_for(order[0]["broker_order_id"]), "equity")
        for row in order:
            trades[row["broker_order_id"]] = assignment
    return trades


def _set_trades(connection: Connection, changes: list[dict[str, Any]]) -> None:
    """Write regrouped trade ids through the driver in one executemany (a first sync assigns
    one to every option row)."""
    values = [(c["v_trade_id"], c["v_strategy"], c["_id"]) for c in changes]
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(
            "UPDATE broker_orders SET trade_id = ?, strategy = ? WHERE broker_order_id = ?", values
        )
        return
    # PostgreSQL: COPY into a temporary table, then one UPDATE joining it.
    connection.exec_driver_sql(
        "CREATE TEMPORARY TABLE broker_order_trades (broker_order_id text, trade_id text, "
        "strategy text) ON COMMIT DROP"
    )
    _copy_rows(connection, "broker_order_trades (trade_id, strategy, broker_order_id)", values)
    connection.exec_driver_sql(
        "UPDATE broker_orders AS o SET trade_id = t.trade_id, strategy = t.strategy "
        "FROM broker_order_trades AS t WHERE o.broker_order_id = t.broker_order_id"
    )
    connection.exec_driver_sql("DROP TABLE broker_order_trades")


def _copy_rows(
    connection: Connection,
    target: str,
    rows: Iterable[tuple[Any, ...]],
    types: list[str] | None = None,
) -> None:
    """PostgreSQL COPY FROM STDIN on the transaction's own connection (psycopg); in binary
    when the columns' types are given."""
    driver = connection.connection.driver_connection
    statement = f"COPY {target} FROM STDIN" + (" (FORMAT BINARY)" if types else "")
    with driver.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        if types:
            copy.set_types(types)
        for row in rows:
            copy.write_row(row)


# What the bulk insert writes, and where each value comes from in a parsed row.
_INSERT_COLUMNS: tuple[str, ...] = (
    *(c for c in ORDER_COLUMNS if c != "raw"),
    "raw",
    "first_seen_at",
    "updated_at",
    "trade_id",
    "strategy",
)
_INSERT_SOURCES: tuple[str, ...] = tuple("raw_text" if c == "raw" else c for c in _INSERT_COLUMNS)


@functools.lru_cache(maxsize=4096)
def _sqlite_time(value: datetime) -> str:
    """UTCDateTime's SQLite text: naive UTC "YYYY-MM-DD HH:MM:SS.ffffff" (remembered: an
    order's times and its legs' repeat, as parse_orders' do)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def _sqlite_converters(columns: tuple[str, ...]) -> tuple[Callable[[Any], Any] | None, ...]:
    """Per column, how SQLAlchemy's column type would store a value on SQLite (ExactDecimal:
    plain decimal text; UTCDateTime: see _sqlite_time; Date: ISO; Boolean: 0/1)."""
    converters: list[Callable[[Any], Any] | None] = []
    for name in columns:
        kind = ORDERS.c[name].type
        if isinstance(kind, ExactDecimal):
            converters.append(lambda v: format(v, "f"))
        elif isinstance(kind, UTCDateTime):
            converters.append(_sqlite_time)
        elif isinstance(kind, Date):
            converters.append(date.isoformat)
        elif isinstance(kind, Boolean):
            converters.append(int)
        else:
            converters.append(None)
    return tuple(converters)


_INSERT_VALUES = operator.itemgetter(*_INSERT_SOURCES)


def _pg_types(columns: tuple[str, ...]) -> list[str]:
    """The PostgreSQL types binary COPY sends each column as (the raw JSON is text already)."""
    names = []
    for name in columns:
        kind = ORDERS.c[name].type
        if isinstance(kind, ExactDecimal):
            names.append("numeric")
        elif isinstance(kind, UTCDateTime):
            names.append("timestamptz")
        elif isinstance(kind, Date):
            names.append("date")
        elif isinstance(kind, Boolean):
            names.append("bool")
        elif isinstance(kind, Integer):
            names.append("int4")
        else:
            names.append("text")
    return names


_PG_TYPES = _pg_types(_INSERT_COLUMNS)
# (position, converter) of the columns whose values SQLite takes converted.
_SQLITE_CONVERTERS = tuple(
    (index, convert)
    for index, convert in enumerate(_sqlite_converters(_INSERT_COLUMNS))
    if convert is not None
)


def _insert_orders(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """INSERT new mirror rows through the driver (SQLite: one executemany, the values converted
    as the column types would; PostgreSQL: COPY), the raw JSON as the text parse_orders hashed.
    SQLAlchemy's per-value processing costs more than the insert itself for a long history."""
    names = ", ".join(_INSERT_COLUMNS)
    if connection.dialect.name == "sqlite":
        marks = ", ".join("?" for _ in _INSERT_COLUMNS)
        params = []
        for row in rows:
            values = list(_INSERT_VALUES(row))
            for index, convert in _SQLITE_CONVERTERS:
                value = values[index]
                if value is not None:
                    values[index] = convert(value)
            params.append(tuple(values))
        connection.exec_driver_sql(f"INSERT INTO broker_orders ({names}) VALUES ({marks})", params)
        return
    # PostgreSQL: COPY (the server parses the JSON text into the json column).
    _copy_rows(
        connection,
        f"broker_orders ({names})",
        (_INSERT_VALUES(row) for row in rows),
        _PG_TYPES,
    )


def _describe(error: Exception) -> str:
    inner = getattr(error, "error", None)
    if inner is not None and getattr(inner, "message", None):
        return str(inner.message)
    if isinstance(error, ServiceError):
        return error.message
    return str(error) or type(error).__name__


def _service_error(error: Exception) -> Exception:
    """What the API answers when a run fails half-way (pages stored so far stay stored)."""
    if isinstance(error, ServiceError):
        return error
    if isinstance(error, BrokerBusy):
        return broker_busy(error.retry_after)
    if isinstance(error, (BrokerUnavailable, BrokerRejected)):
        return ServiceError(
            503,
            "broker_unavailable",
            f"the history sync could not read from the broker: {_describe(error)}; "
            "what was read so far is kept, and the next run goes on from there",
        )
    return error
