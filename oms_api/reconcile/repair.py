"""Repairing what a reconcile report found, only when asked, one report at a time.

- adopt (missing_in_oms): the broker order becomes an OMS order, in the portfolio its
  client_order_id names (an order of ours whose record was lost: origin `trade`), else as an
  external order (origin `external`, no portfolio: it counts in no portfolio's book, so the
  symbol's position_mismatch stays reported as unmanaged quantity until someone acts).
- refresh (status_mismatch, filled_qty_mismatch): the broker's current view of the order is
  applied through the order service; its transition table decides, and a change it refuses is
  a `failed` repair saying why (never an exception).

The broker is asked for each order's current state first (the report may be minutes old), one
read per order; nothing is ever placed or cancelled. Each change is audited in the same
transaction as the change itself (the adoption's or the refresh's); a failed repair gets an
audit row with result `failed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from oms_api.audit.models import AuditResult
from oms_api.audit.service import Actor, AuditAction, record
from oms_api.broker.models import BrokerOrder, BrokerUnavailable
from oms_api.db.engine import singleton_lock
from oms_api.db.types import utcnow
from oms_api.errors import ServiceError
from oms_api.orders.enums import EventSource, OrderOrigin, OrderStatus
from oms_api.orders.models import Order
from oms_api.orders.state import can_transition
from oms_api.orders.writer import Adoption
from oms_api.portfolios.models import Portfolio
from oms_api.reconcile import compare
from oms_api.reconcile.models import ReconcileDiscrepancy, ReconcileReport

log = logging.getLogger(__name__)

REPORTS = ReconcileReport.__table__  # type: ignore[attr-defined]
DISCREPANCIES = ReconcileDiscrepancy.__table__  # type: ignore[attr-defined]
PORTFOLIOS = Portfolio.__table__  # type: ignore[attr-defined]
NOTE_MAX = 500
Row = dict[str, Any]


@dataclass(frozen=True)
class RepairResult:
    discrepancy_id: int
    repair_state: str  # repaired | failed
    note: str


class Repairs:
    def __init__(
        self,
        engine: Engine,
        gateway: Any,
        orders: Any,
        history: Any | None = None,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.gateway = gateway
        self.orders = orders  # OrderService: the only way order state changes
        self.history = history
        self.now = now

    def targets(self, report_id: int, action: str, ids: list[int] | None) -> list[Row]:
        """The open discrepancies of the report that `action` repairs (those of `ids`, or all).
        404 report_not_found, 422 not_repairable, 409 nothing_to_repair; nothing written."""
        with self.engine.connect() as connection:
            if (
                connection.execute(select(REPORTS.c.id).where(REPORTS.c.id == report_id)).first()
                is None
            ):
                raise ServiceError(
                    404,
                    "report_not_found",
                    f"no reconcile report {report_id}",
                    {"report_id": report_id},
                )
            rows = [
                dict(r._mapping)
                for r in connection.execute(
                    select(DISCREPANCIES)
                    .where(DISCREPANCIES.c.report_id == report_id)
                    .order_by(DISCREPANCIES.c.id)
                )
            ]
        if ids is not None:
            by_id = {row["id"]: row for row in rows}
            wrong = [
                i for i in dict.fromkeys(ids) if i not in by_id or by_id[i]["repair"] != action
            ]
            if wrong:
                raise ServiceError(
                    422,
                    "not_repairable",
                    f"not discrepancies of report {report_id} that {action!r} repairs: "
                    + ", ".join(map(str, wrong[:20])),
                    {"discrepancy_ids": wrong[:100], "action": action},
                )
            chosen = [by_id[i] for i in dict.fromkeys(ids)]
        else:
            chosen = [row for row in rows if row["repair"] == action]
        open_rows = [row for row in chosen if row["repair_state"] == "open"]
        if not open_rows:
            raise ServiceError(
                409,
                "nothing_to_repair",
                f"report {report_id} has no open discrepancy that {action!r} repairs",
                {"action": action},
            )
        return open_rows

    def repair(
        self,
        report_id: int,
        action: str,
        ids: list[int] | None,
        actor: Actor,
        reason: str | None = None,
    ) -> list[RepairResult]:
        """Repair the report's open discrepancies of `action` (or those of `ids`)."""
        if action not in ("adopt", "refresh"):
            raise ValueError(action)
        self.targets(report_id, action, ids)  # refuse bad input before waiting for the lock
        with singleton_lock(self.engine, "oms-reconcile", blocking=True):
            rows = self.targets(report_id, action, ids)  # again: a run or repair may have ended
            fresh, problems = self._fetch(rows)
            if action == "adopt":
                results = self._adopt(report_id, rows, fresh, problems, actor, reason)
            else:
                results = self._refresh(report_id, rows, fresh, problems, actor, reason)
            self._store(report_id, results, actor, action, reason)
        return results

    # ------------------------------------------------------------------ steps
    def _fetch(self, rows: list[Row]) -> tuple[dict[str, BrokerOrder], dict[str, str]]:
        """The broker's current view of each order (one read each)."""
        fresh: dict[str, BrokerOrder] = {}
        problems: dict[str, str] = {}
        for broker_id in dict.fromkeys(r["broker_order_id"] for r in rows if r["broker_order_id"]):
            try:
                found = self.gateway.get_order(broker_id)
            except BrokerUnavailable as error:
                problems[broker_id] = f"the broker could not be asked about it ({error})"
                continue
            if found is None:
                problems[broker_id] = f"the broker no longer has order {broker_id}"
            else:
                fresh[broker_id] = found
        if fresh and self.history is not None:
            try:
                self.history.record([o.raw for o in fresh.values() if o.raw])
            except Exception:
                log.exception("could not record repaired orders in the broker mirror")
        return fresh, problems

    def _adopt(
        self,
        report_id: int,
        rows: list[Row],
        fresh: dict[str, BrokerOrder],
        problems: dict[str, str],
        actor: Actor,
        reason: str | None,
    ) -> list[RepairResult]:
        results: list[RepairResult] = []
        with self.engine.connect() as connection:
            names = dict(connection.execute(select(PORTFOLIOS.c.id, PORTFOLIOS.c.name)).all())
        known = self.orders.known_broker_orders(list(fresh.values())) if fresh else {}
        groups: dict[bool, list[tuple[Row, Adoption]]] = {True: [], False: []}
        for row in rows:
            broker_id = row["broker_order_id"]
            order = fresh.get(broker_id)
            if order is None:
                results.append(RepairResult(row["id"], "failed", problems.get(broker_id, "?")))
                continue
            if broker_id in known:
                note = f"already in the OMS as trade {known[broker_id]}"
                results.append(RepairResult(row["id"], "repaired", note))
                continue
            if not compare.bookable(compare.broker_row(order)):
                note = "this order cannot be booked in the OMS; it stays in the broker history"
                results.append(RepairResult(row["id"], "failed", note))
                continue
            portfolio_id = row["portfolio_id"] if row["portfolio_id"] in names else None
            owner = f"portfolio {names[portfolio_id]}" if portfolio_id else "external"
            audit = (
                actor,
                AuditAction.RECONCILE_REPAIR,
                f"reconcile report {report_id}",
                {
                    "action": "adopt",
                    "discrepancy_id": row["id"],
                    "broker_order_id": broker_id,
                    "client_order_id": order.client_order_id,
                    "symbol": order.symbol,
                    "as": owner,
                    "reason": reason,
                },
            )
            note = f"found at the broker by reconciliation (report {report_id}), adopted"
            groups[portfolio_id is None].append(
                (row, Adoption(order, note, {}, audit, portfolio_id))
            )
        for external, members in groups.items():
            if not members:
                continue
            try:
                adopted = self.orders.adopt_many(
                    [item for _, item in members],
                    origin=OrderOrigin.EXTERNAL if external else OrderOrigin.TRADE,
                    source=EventSource.RECONCILE,
                    external=external,
                    requested_by=actor.id,
                )
            except Exception as error:
                log.exception("reconcile: adopting %d order(s) failed", len(members))
                text = _error_text(error)
                results.extend(RepairResult(row["id"], "failed", text) for row, _ in members)
                continue
            for (row, item), order in zip(members, adopted, strict=True):
                owner = "external" if external else f"portfolio {names[item.portfolio_id]}"
                note = f"adopted as trade {order.id} ({owner}), {order.status}"
                results.append(RepairResult(row["id"], "repaired", note))
        return sorted(results, key=lambda r: r.discrepancy_id)

    def _refresh(
        self,
        report_id: int,
        rows: list[Row],
        fresh: dict[str, BrokerOrder],
        problems: dict[str, str],
        actor: Actor,
        reason: str | None,
    ) -> list[RepairResult]:
        results: list[RepairResult] = []
        by_order: dict[int, list[Row]] = {}
        for row in rows:
            order = fresh.get(row["broker_order_id"])
            if order is None or row["order_id"] is None:
                why = problems.get(row["broker_order_id"], "no OMS order to bring in line")
                results.append(RepairResult(row["id"], "failed", why))
                continue
            by_order.setdefault(row["order_id"], []).append(row)
        if by_order:
            before = {oid: self.orders.get_order(oid) for oid in by_order}
            pairs = [
                (oid, fresh[members[0]["broker_order_id"]]) for oid, members in by_order.items()
            ]
            audits = {
                oid: (
                    actor,
                    AuditAction.RECONCILE_REPAIR,
                    f"trade {oid}",
                    {
                        "action": "refresh",
                        "report_id": report_id,
                        "discrepancy_ids": [m["id"] for m in members],
                        "broker_order_id": fresh[members[0]["broker_order_id"]].id,
                        "broker_status": fresh[members[0]["broker_order_id"]].status,
                        "broker_filled_qty": fresh[members[0]["broker_order_id"]].filled_qty,
                        "status_before": before[oid].status,
                        "reason": reason,
                    },
                )
                for oid, members in by_order.items()
            }
            try:
                after = self.orders.apply_broker_orders(
                    pairs, source=EventSource.RECONCILE, audits=audits
                )
            except Exception as error:
                log.exception("reconcile: refreshing %d order(s) failed", len(pairs))
                text = _error_text(error)
                for members in by_order.values():
                    results.extend(RepairResult(m["id"], "failed", text) for m in members)
            else:
                for oid, members in by_order.items():
                    broker = fresh[members[0]["broker_order_id"]]
                    for member in members:
                        results.append(_judge(member, before[oid], after[oid], broker))
        return sorted(results, key=lambda r: r.discrepancy_id)

    def _store(
        self,
        report_id: int,
        results: list[RepairResult],
        actor: Actor,
        action: str,
        reason: str | None,
    ) -> None:
        now = self.now()
        with self.engine.begin() as connection:
            for result in results:
                connection.execute(
                    update(DISCREPANCIES)
                    .where(DISCREPANCIES.c.id == result.discrepancy_id)
                    .values(
                        repair_state=result.repair_state,
                        repaired_at=now,
                        repaired_by=actor.id[:100],
                        repair_note=result.note[:NOTE_MAX],
                    )
                )
                if result.repair_state == "failed":
                    record(
                        connection,
                        actor,
                        AuditAction.RECONCILE_REPAIR,
                        f"reconcile report {report_id}",
                        {
                            "action": action,
                            "discrepancy_id": result.discrepancy_id,
                            "note": result.note,
                            "reason": reason,
                        },
                        AuditResult.FAILED,
                    )


def _judge(row: Row, before: Order, after: Order, broker: BrokerOrder) -> RepairResult:
    """Whether the refresh brought what this discrepancy is about in line with the broker."""
    if row["kind"] == "filled_qty_mismatch":
        if Decimal(after.filled_qty) == broker.filled_qty:
            return RepairResult(
                row["id"], "repaired", f"{_num(after.filled_qty)} filled, as at the broker"
            )
        return RepairResult(
            row["id"],
            "failed",
            f"the OMS holds {_num(after.filled_qty)} filled, the broker {_num(broker.filled_qty)}: "
            "recorded fills are facts and are never removed",
        )
    expected = compare.expected_status(compare.broker_row(broker))
    if expected is None or after.status == expected.value:
        return RepairResult(row["id"], "repaired", f"now {after.status} (broker: {broker.status})")
    start = OrderStatus(before.status)
    if not can_transition(start, expected):
        why = f"{start.value} -> {expected.value} is not an allowed transition"
    else:
        why = "the order core kept it (e.g. a cancel waits for the broker to confirm it)"
    return RepairResult(
        row["id"],
        "failed",
        f"still {after.status} (broker: {broker.status}): {why}; logged on the order",
    )


def _num(value: Decimal) -> str:
    return compare.num(Decimal(value))


def _error_text(error: Exception) -> str:
    if isinstance(error, ServiceError):
        return f"{error.code}: {error.message}"
    return f"{error.__class__.__name__}: {error}"[:NOTE_MAX]
