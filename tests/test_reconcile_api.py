"""The reconciliation routes: shapes, paging, and bad input (a 4xx in the one error shape,
nothing written, no broker call; 401 without the token)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.oms import OMS


@pytest.fixture
def desk(oms_factory: Any) -> Iterator[OMS]:
    with oms_factory(stream_enabled=False, background=False, reconcile_grace_seconds=0) as oms:
        oms.create_portfolio("main")
        yield oms


def counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as connection:
        return tuple(
            connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            for table in ("reconcile_reports", "reconcile_discrepancies", "orders", "alerts")
        ) + tuple(
            connection.execute(
                text("SELECT COUNT(*) FROM reconcile_discrepancies WHERE repair_state <> 'open'")
            ).scalar_one()
            for _ in (0,)
        )


def report_with_three(desk: OMS) -> dict[str, Any]:
    desk.sim.control.seed_positions([{"symbol": s, "qty": "1"} for s in ("AAPL", "MSFT", "TSLA")])
    response = desk.post("/reconcile")
    assert response.status_code == 200, response.text
    return response.json()


def test_the_report_shape(desk: OMS) -> None:
    report = report_with_three(desk)
    assert set(report) == {
        "id", "trigger", "requested_by", "checked", "in_sync", "discrepancy_count",
        "checked_at", "window_start", "broker_calls", "by_kind", "repairable",
        "discrepancies", "next_cursor",
    }  # fmt: skip
    assert set(report["discrepancies"][0]) == {
        "id", "kind", "symbol", "order_id", "broker_order_id", "client_order_id", "portfolio",
        "oms_value", "broker_value", "message", "repair", "repair_state", "repaired_at",
        "repaired_by", "repair_note",
    }  # fmt: skip
    assert report["requested_by"] == "api"
    assert (report["checked"], report["in_sync"], report["discrepancy_count"]) == (3, 0, 3)
    assert report["broker_calls"] >= 1


def test_reports_and_discrepancies_page_with_cursors(desk: OMS) -> None:
    first = report_with_three(desk)
    second = desk.post("/reconcile").json()

    page = desk.get("/reconcile/reports", params={"limit": 1}).json()
    assert [r["id"] for r in page["reports"]] == [second["id"]]
    assert "discrepancies" not in page["reports"][0]
    rest = desk.get("/reconcile/reports", params={"limit": 1, "cursor": page["next_cursor"]})
    assert [r["id"] for r in rest.json()["reports"]] == [first["id"]]
    assert rest.json()["next_cursor"] is None

    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = desk.get(f"/reconcile/reports/{first['id']}", params=params).json()
        seen += [d["id"] for d in body["discrepancies"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [d["id"] for d in first["discrepancies"]]


def test_repair_refusals(desk: OMS, db_engine: Engine) -> None:
    report = report_with_three(desk)
    ids = [d["id"] for d in report["discrepancies"]]
    before = counts(db_engine)
    desk.sim.control.reset_counters()

    missing = desk.post("/reconcile/reports/999/repair", {"action": "adopt"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "report_not_found"
    # A position mismatch has no repair: not adoptable.
    wrong = desk.post(
        f"/reconcile/reports/{report['id']}/repair",
        {"action": "adopt", "discrepancy_ids": ids[:1]},
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "not_repairable"
    none = desk.post(f"/reconcile/reports/{report['id']}/repair", {"action": "refresh"})
    assert none.status_code == 409 and none.json()["error"]["code"] == "nothing_to_repair"
    assert desk.get("/reconcile/reports/999").json()["error"]["code"] == "report_not_found"

    assert counts(db_engine) == before
    assert desk.sim.control.counters() == {}


REPAIR = "/reconcile/reports/1/repair"
JSON = {"Content-Type": "application/json"}
BAD = [
    ("post", "/reconcile", {"json": {"unknown": 1}}, 422),
    ("post", "/reconcile", {"json": [1]}, 422),
    ("post", "/reconcile", {"content": b"x", "headers": {"Content-Type": "text/plain"}}, 415),
    ("post", "/reconcile", {"json": {"requested_by": "x" * 101}}, 422),
    ("get", "/reconcile/reports", {"params": {"limit": 0}}, 422),
    ("get", "/reconcile/reports", {"params": {"limit": 101}}, 422),
    ("get", "/reconcile/reports", {"params": {"cursor": "nope"}}, 400),
    ("get", "/reconcile/reports/0", {}, 422),
    ("get", "/reconcile/reports/abc", {}, 422),
    ("get", "/reconcile/reports/99999999999", {}, 422),
    ("get", "/reconcile/reports/1", {"params": {"limit": 201}}, 422),
    ("get", "/reconcile/reports/1", {"params": {"cursor": "bad"}}, 400),
    ("get", "/reconcile/reports/latest", {"params": {"limit": "x"}}, 422),
    ("post", REPAIR, {"json": {}}, 422),
    ("post", REPAIR, {"json": {"action": "delete"}}, 422),
    ("post", REPAIR, {"json": {"action": "adopt", "discrepancy_ids": []}}, 422),
    ("post", REPAIR, {"json": {"action": "adopt", "discrepancy_ids": [True]}}, 422),
    ("post", REPAIR, {"json": {"action": "adopt", "discrepancy_ids": ["1"]}}, 422),
    ("post", REPAIR, {"json": {"action": "adopt", "discrepancy_ids": [0]}}, 422),
    ("post", REPAIR, {"json": {"action": "adopt", "extra": 1}}, 422),
    ("post", REPAIR, {"content": b"{", "headers": JSON}, 422),
    ("post", "/reconcile/reports/0/repair", {"json": {"action": "adopt"}}, 422),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), BAD)
def test_bad_input_is_refused_with_nothing_written_or_sent(
    desk: OMS, db_engine: Engine, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    report_with_three(desk)
    before = counts(db_engine)
    desk.sim.control.reset_counters()
    headers = {**desk.headers, **kwargs.pop("headers", {})}
    response = desk.client.request(method.upper(), f"/api/v1{path}", headers=headers, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] and error["message"]
    assert counts(db_engine) == before
    assert desk.sim.control.counters() == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/reconcile"),
        ("GET", "/reconcile/reports"),
        ("GET", "/reconcile/reports/latest"),
        ("GET", "/reconcile/reports/1"),
        ("POST", "/reconcile/reports/1/repair"),
    ],
)
def test_every_route_needs_the_token(desk: OMS, db_engine: Engine, method: str, path: str) -> None:
    desk.sim.control.reset_counters()
    response = desk.client.request(method, f"/api/v1{path}", json={"action": "adopt"})
    assert response.status_code == 401
    assert "error" in response.json()
    assert counts(db_engine)[0] == 0
    assert desk.sim.control.counters() == {}
