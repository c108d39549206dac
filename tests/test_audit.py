"""The audit trail: who did what, to what, with which result. Rows are written in the
transaction of the change they describe; GET /api/v1/audit reads them with filters and pages;
the Slack bot reports its refusals to POST /api/v1/audit/refusals. On SQLite, and on
PostgreSQL in the PostgreSQL pass."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from oms_api.audit.models import ActorKind, AuditResult
from oms_api.audit.service import Actor, AuditAction, AuditFilter, AuditService, record
from oms_api.orders.enums import PortfolioStatus
from oms_api.portfolios.models import PortfolioCreate, PortfolioUpdate
from oms_api.portfolios.service import PortfolioService
from tests.oms import OMS

SLACK_USER = Actor(ActorKind.SLACK_USER, "U0ALICE", "alice")
T0 = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


def entries(oms: OMS, **params: Any) -> list[dict[str, Any]]:
    response = oms.get("/audit", params=params)
    assert response.status_code == 200, response.text
    return response.json()["entries"]


def who_what(entry: dict[str, Any]) -> tuple[str, str, str, str | None, str]:
    return (entry["actor_kind"], entry["actor"], entry["action"], entry["target"], entry["result"])


@contextmanager
def refused_writes(engine: Engine, table: str, operation: str) -> Iterator[None]:
    """The database refuses every `operation` (INSERT / UPDATE) on `table` while inside."""
    trigger = f"test_refuse_{operation.lower()}_{table}"
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                text(
                    "CREATE FUNCTION test_refuse_write() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
                )
            )
            connection.execute(
                text(
                    f"CREATE TRIGGER {trigger} BEFORE {operation} ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION test_refuse_write()"
                )
            )
        else:
            connection.execute(
                text(
                    f"CREATE TRIGGER {trigger} BEFORE {operation} ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            )
    try:
        yield
    finally:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text(f"DROP TRIGGER {trigger} ON {table}"))
                connection.execute(text("DROP FUNCTION test_refuse_write()"))
            else:
                connection.execute(text(f"DROP TRIGGER {trigger}"))


def stored(engine: Engine, **filters: Any) -> list[Any]:
    rows, _ = AuditService(engine).list(AuditFilter(**filters), 200)
    return rows


# ----------------------------------------------------------------------------- who acts
@pytest.mark.parametrize(
    ("requested_by", "name", "expected"),
    [
        ("U0ALICE", "alice", Actor(ActorKind.SLACK_USER, "U0ALICE", "alice")),
        (" W0GRIDUSER ", None, Actor(ActorKind.SLACK_USER, "W0GRIDUSER", None)),
        (None, None, Actor(ActorKind.API, "api", None)),
        ("", " ", Actor(ActorKind.API, "api", None)),
        ("system", None, Actor(ActorKind.SYSTEM, "system", None)),
        ("nightly-rebalancer", "cron", Actor(ActorKind.API, "nightly-rebalancer", "cron")),
        ("u0alice", None, Actor(ActorKind.API, "u0alice", None)),  # not a Slack id
    ],
)
def test_an_actor_is_read_from_who_a_request_names(
    requested_by: str | None, name: str | None, expected: Actor
) -> None:
    assert Actor.of(requested_by, name) == expected


# ----------------------------------------------------------------------------- record
def test_a_row_is_part_of_the_callers_transaction(db_engine: Engine) -> None:
    with pytest.raises(RuntimeError), db_engine.begin() as connection:
        record(connection, SLACK_USER, AuditAction.HALT, "trading", {"reason": "test"})
        raise RuntimeError("the change it describes failed")
    assert stored(db_engine) == []

    with db_engine.begin() as connection:
        record(connection, SLACK_USER, AuditAction.HALT, "trading", {"reason": "news"})
    [row] = stored(db_engine)
    assert (row.actor_kind, row.actor, row.actor_name) == ("slack_user", "U0ALICE", "alice")
    assert (row.action, row.target, row.result) == ("halt", "trading", "ok")
    assert row.details == {"reason": "news"}
    assert row.created_at.tzinfo is not None


def test_values_are_made_storable_exact_and_cut_to_their_columns(db_engine: Engine) -> None:
    long_name = "n" * 150
    actor = Actor.of("U0ALICE", long_name)
    details = {
        "qty": Decimal("0.000000001"),
        "price": Decimal("187.1234"),
        "at": T0,
        "side": PortfolioStatus.PAUSED,
        "note": "nul\x00here",
        "symbols": ("AAPL", "MSFT"),
        "ratio": float("nan"),
    }
    with db_engine.begin() as connection:
        record(connection, actor, AuditAction.EMERGENCY_SELL, "t" * 300 + "\x00", details)
    [row] = stored(db_engine)
    assert len(row.actor_name) == 100 and row.actor_name.endswith("…")
    assert len(row.target) == 200 and row.target.endswith("…")
    assert row.details == {
        "qty": "0.000000001",
        "price": "187.1234",
        "at": "2026-11-18T15:00:00+00:00",
        "side": "paused",
        "note": "nul\ufffdhere",
        "symbols": ["AAPL", "MSFT"],
        "ratio": "nan",
    }


def test_an_unknown_action_or_result_is_never_written(db_engine: Engine) -> None:
    with pytest.raises(ValueError), db_engine.begin() as connection:
        record(connection, SLACK_USER, "delete_everything", None)  # type: ignore[arg-type]
    with pytest.raises(ValueError), db_engine.begin() as connection:
        record(connection, SLACK_USER, AuditAction.HALT, None, None, "maybe")  # type: ignore[arg-type]
    assert stored(db_engine) == []


# ----------------------------------------------------------------------------- reading
def _seed(engine: Engine) -> None:
    """Seven rows, one minute apart from T0: three people and the OMS, several actions."""
    rows = [
        (SLACK_USER, AuditAction.TRADE, "trade 1", AuditResult.OK),
        (Actor.of("U0BOB", "bob"), AuditAction.TRADE, "trade 2", AuditResult.OK),
        (SLACK_USER, AuditAction.CANCEL, "trade 1", AuditResult.OK),
        (Actor.of(None), AuditAction.PORTFOLIO_PAUSE, "portfolio main", AuditResult.OK),
        (Actor.of("U0MALLORY"), AuditAction.REFUSED_BY_BOT, None, AuditResult.REFUSED),
        (Actor.system(), AuditAction.LOSS_LIMIT_BREACH, "account", AuditResult.OK),
        (SLACK_USER, AuditAction.EMERGENCY_STOP, "account", AuditResult.FAILED),
    ]
    with engine.begin() as connection:
        for minute, (actor, action, target, result) in enumerate(rows):
            at = T0 + timedelta(minutes=minute)
            record(connection, actor, action, target, {"n": minute}, result, at=at)


def test_the_trail_is_read_newest_first_and_filtered(oms: OMS) -> None:
    engine = oms.runtime.engine
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log"))  # the fixture's "main" creation
    _seed(engine)

    assert [e["details"]["n"] for e in entries(oms)] == [6, 5, 4, 3, 2, 1, 0]
    assert [e["details"]["n"] for e in entries(oms, actor="U0ALICE")] == [6, 2, 0]
    assert [e["details"]["n"] for e in entries(oms, action="trade")] == [1, 0]
    assert [e["details"]["n"] for e in entries(oms, result="refused")] == [4]
    assert [e["details"]["n"] for e in entries(oms, target="trade 1")] == [2, 0]
    assert [e["details"]["n"] for e in entries(oms, actor="system")] == [5]
    window = {"since": "2026-11-18T15:02:00Z", "until": "2026-11-18T10:05:00-05:00"}
    assert [e["details"]["n"] for e in entries(oms, **window)] == [4, 3, 2]
    assert [e["details"]["n"] for e in entries(oms, since="2026-11-18T15:05:00")] == [6, 5]
    both = entries(oms, actor="U0ALICE", action="cancel")
    assert [who_what(e) for e in both] == [("slack_user", "U0ALICE", "cancel", "trade 1", "ok")]
    assert both[0]["actor_name"] == "alice"
    assert entries(oms, actor="U0NOBODY") == []


def test_pages_follow_the_cursor_to_every_entry_once(oms: OMS) -> None:
    _seed(oms.runtime.engine)  # with the fixture's "main" creation: eight entries
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = oms.get("/audit", params=params).json()
        seen += [e["id"] for e in page["entries"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 8

    filtered = oms.get("/audit", params={"actor": "U0ALICE", "limit": 2}).json()
    rest = oms.get("/audit", params={"actor": "U0ALICE", "cursor": filtered["next_cursor"]})
    assert [e["details"]["n"] for e in filtered["entries"]] == [6, 2]
    assert [e["details"]["n"] for e in rest.json()["entries"]] == [0]
    assert rest.json()["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"cursor": "not-a-cursor"}, 400, "invalid_cursor"),
        ({"cursor": base64.urlsafe_b64encode(b"id:5").decode()}, 400, "invalid_cursor"),
        ({"cursor": base64.urlsafe_b64encode(b"audit:-1").decode()}, 400, "invalid_cursor"),
        ({"action": "launch_missiles"}, 422, "malformed_request"),
        ({"result": "maybe"}, 422, "malformed_request"),
        ({"limit": "0"}, 422, "malformed_request"),
        ({"limit": "201"}, 422, "malformed_request"),
        ({"since": "yesterday"}, 422, "malformed_request"),
        ({"actor": "U0\x00"}, 422, "malformed_request"),
        ({"target": "t" * 201}, 422, "malformed_request"),
    ],
)
def test_bad_filters_are_clear_errors(
    oms: OMS, params: dict[str, str], status: int, code: str
) -> None:
    response = oms.get("/audit", params=params)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


# ----------------------------------------------------------------------------- refusals
def test_a_refusal_reported_by_the_bot_is_recorded(oms: OMS) -> None:
    report = {
        "actor": "U0MALLORY",
        "actor_name": "mallory",
        "action": "/trade",
        "target": None,
        "reason": "user not allowed",
        "channel_id": "C0TRADING",
    }
    response = oms.post("/audit/refusals", report)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert who_what(answer) == ("slack_user", "U0MALLORY", "refused_by_bot", None, "refused")
    assert answer["details"] == {
        "attempted": "/trade",
        "reason": "user not allowed",
        "channel_id": "C0TRADING",
    }
    [entry] = entries(oms, result="refused")
    assert entry == answer


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"actor": "U0MALLORY", "action": "/trade", "reason": "x", "admin": True}, 422),
        ({"actor": "api", "action": "/trade", "reason": "x"}, 422),
        ({"actor": "U0MALLORY", "action": "", "reason": "x"}, 422),
        ({"actor": "U0MALLORY", "action": "/trade"}, 422),
        ({"actor": "U0MALLORY", "action": "/trade", "reason": "x", "channel_id": "c;1"}, 422),
        ({"actor": "U0MALLORY", "action": "/trade", "reason": "x\x00"}, 422),
    ],
)
def test_a_refusal_report_is_strict_and_a_bad_one_writes_nothing(
    oms: OMS, body: dict[str, Any], status: int
) -> None:
    response = oms.post("/audit/refusals", body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == "malformed_request"
    assert entries(oms, action="refused_by_bot") == []


def test_a_refusal_report_must_be_json(oms: OMS) -> None:
    response = oms.post(
        "/audit/refusals", content=b"actor=U0MALLORY", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert entries(oms, action="refused_by_bot") == []


# ----------------------------------------------------------------------------- portfolios
def test_portfolio_create_is_recorded_with_who_asked(oms: OMS) -> None:
    created = oms.post(
        "/portfolios",
        {
            "name": "Alpha",
            "allocated_capital": "2500",
            "requested_by": "U0ALICE",
            "requested_by_name": "alice",
        },
    )
    assert created.status_code == 201, created.text
    assert "requested_by" not in created.json()
    [entry] = entries(oms, target="portfolio alpha")
    assert who_what(entry) == ("slack_user", "U0ALICE", "portfolio_create", "portfolio alpha", "ok")
    assert entry["actor_name"] == "alice"
    assert entry["details"] == {"allocated_capital": "2500.00", "status": "active"}

    assert oms.post("/portfolios", {"name": "beta"}).status_code == 201
    [by_api] = entries(oms, target="portfolio beta")
    assert who_what(by_api)[:3] == ("api", "api", "portfolio_create")


def test_creating_a_portfolio_that_exists_is_recorded_as_refused(oms: OMS) -> None:
    again = oms.post(
        "/portfolios", {"name": "main", "allocated_capital": "1", "requested_by": "U0BOB"}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "portfolio_exists"
    refused, original = entries(oms, target="portfolio main")
    assert who_what(refused) == (
        "slack_user",
        "U0BOB",
        "portfolio_create",
        "portfolio main",
        "refused",
    )
    assert refused["details"]["refused"] == "portfolio_exists"
    assert who_what(original)[2:] == ("portfolio_create", "portfolio main", "ok")
    [main] = oms.get("/portfolios").json()
    assert Decimal(main["allocated_capital"]) == 10000  # untouched


def test_portfolio_update_pause_and_resume_are_recorded(oms: OMS) -> None:
    who = {"requested_by": "U0ALICE", "requested_by_name": "alice"}
    assert oms.patch("/portfolios/main", {"allocated_capital": "12500.5", **who}).status_code == 200
    assert oms.patch("/portfolios/MAIN", {"status": "paused", **who}).status_code == 200
    assert oms.patch("/portfolios/main", {"status": "active"}).status_code == 200

    resumed, paused, updated, _created = entries(oms, target="portfolio main")
    assert who_what(updated) == (
        "slack_user",
        "U0ALICE",
        "portfolio_update",
        "portfolio main",
        "ok",
    )
    assert updated["details"] == {
        "changes": {"allocated_capital": {"from": "10000.00", "to": "12500.50"}}
    }
    assert who_what(paused)[:3] == ("slack_user", "U0ALICE", "portfolio_pause")
    assert paused["details"] == {"changes": {"status": {"from": "active", "to": "paused"}}}
    assert who_what(resumed)[:3] == ("api", "api", "portfolio_resume")
    assert resumed["details"] == {"changes": {"status": {"from": "paused", "to": "active"}}}


def test_updating_a_portfolio_that_does_not_exist_is_recorded_as_refused(oms: OMS) -> None:
    missing = oms.patch("/portfolios/ghost", {"status": "paused", "requested_by": "U0BOB"})
    assert missing.status_code == 404
    [entry] = entries(oms, target="portfolio ghost")
    assert who_what(entry) == (
        "slack_user",
        "U0BOB",
        "portfolio_pause",
        "portfolio ghost",
        "refused",
    )
    assert entry["details"] == {"refused": "portfolio_not_found", "asked": {"status": "paused"}}
    assert [p["name"] for p in oms.get("/portfolios").json()] == ["main"]


def test_a_bad_portfolio_request_writes_no_row(oms: OMS) -> None:
    before = entries(oms)
    assert oms.patch("/portfolios/main", {"status": "paused", "admin": True}).status_code == 422
    too_long = {"name": "gamma", "requested_by": "U" * 101}
    assert oms.post("/portfolios", too_long).status_code == 422
    assert entries(oms) == before
    assert oms.get("/portfolios").json()[0]["status"] == "active"


def test_a_failed_portfolio_update_leaves_no_row(db_engine: Engine) -> None:
    portfolios = PortfolioService(db_engine)
    portfolios.create(PortfolioCreate(name="main"))  # capital 0: no broker to check it with
    with refused_writes(db_engine, "portfolios", "UPDATE"), pytest.raises(DBAPIError):
        portfolios.update("main", PortfolioUpdate(status=PortfolioStatus.PAUSED), SLACK_USER)
    assert portfolios.get("main").status == "active"
    assert [row.action for row in stored(db_engine)] == ["portfolio_create"]


def test_a_row_that_cannot_be_written_leaves_the_change_undone(db_engine: Engine) -> None:
    portfolios = PortfolioService(db_engine)
    portfolios.create(PortfolioCreate(name="main"))  # capital 0: no broker to check it with
    with refused_writes(db_engine, "audit_log", "INSERT"):
        with pytest.raises(DBAPIError):
            portfolios.update("main", PortfolioUpdate(status=PortfolioStatus.PAUSED), SLACK_USER)
        with pytest.raises(DBAPIError):
            portfolios.create(PortfolioCreate(name="other"), SLACK_USER)
    assert portfolios.get("main").status == "active"
    assert [p.name for p in portfolios.list()] == ["main"]
    assert len(stored(db_engine)) == 1


def test_in_process_callers_act_as_the_oms_itself(db_engine: Engine) -> None:
    PortfolioService(db_engine).create(PortfolioCreate(name="main"))  # e.g. `oms up`
    [row] = stored(db_engine)
    assert (row.actor_kind, row.actor, row.action) == ("system", "system", "portfolio_create")


# ----------------------------------------------------------------------------- cancel
def _resting_trade(oms: OMS) -> int:
    response = oms.trade(symbol="AAPL", qty="1", order_type="limit", limit_price="1.00")
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_a_cancel_records_who_asked(oms: OMS) -> None:
    trade_id = _resting_trade(oms)
    who = {"requested_by": "U0ALICE", "requested_by_name": "alice", "reason": "changed my mind"}
    response = oms.post(f"/trades/{trade_id}/cancel", who)
    assert response.status_code == 200, response.text
    assert response.json()["status"] in ("pending_cancel", "canceled")
    [entry] = entries(oms, action="cancel")
    assert who_what(entry) == ("slack_user", "U0ALICE", "cancel", f"trade {trade_id}", "ok")
    assert entry["actor_name"] == "alice"


@pytest.mark.parametrize(
    ("content", "headers"),
    [(b"", {}), (b"", {"Content-Type": "application/json"}), (b"{}", {})],
    ids=["no-body", "empty-json", "empty-object"],
)
def test_a_cancel_without_a_body_is_the_api_callers(
    oms: OMS, content: bytes, headers: dict[str, str]
) -> None:
    trade_id = _resting_trade(oms)
    if content:
        headers = {"Content-Type": "application/json"}
    response = oms.post(f"/trades/{trade_id}/cancel", content=content, headers=headers)
    assert response.status_code == 200, response.text
    [entry] = entries(oms, action="cancel")
    assert who_what(entry)[:3] == ("api", "api", "cancel")


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b'{"requested_by": "U0ALICE", "force": true}', {"Content-Type": "application/json"}, 422),
        (b'{"requested_by": "' + b"U" * 101 + b'"}', {"Content-Type": "application/json"}, 422),
        (b"requested_by=U0ALICE", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        (b"[]", {"Content-Type": "application/json"}, 422),
    ],
    ids=["unknown-field", "too-long", "not-json", "not-an-object"],
)
def test_a_bad_cancel_body_is_refused_and_cancels_nothing(
    oms: OMS, content: bytes, headers: dict[str, str], status: int
) -> None:
    trade_id = _resting_trade(oms)
    response = oms.post(f"/trades/{trade_id}/cancel", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert oms.get(f"/trades/{trade_id}").json()["status"] == "accepted"
    assert entries(oms, action="cancel") == []


def test_the_cancel_body_is_documented_and_strict(oms: OMS) -> None:
    document = oms.client.get("/openapi.json").json()
    operation = document["paths"]["/api/v1/trades/{trade_id}/cancel"]["post"]
    schema_ref = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema_ref == {"$ref": "#/components/schemas/CancelRequest"}
    schema = document["components"]["schemas"]["CancelRequest"]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"requested_by", "requested_by_name", "reason"}
