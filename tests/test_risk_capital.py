"""Capital: portfolios share the account's buying power (create, raise, resume must fit in what
the other portfolios leave), and a buy must fit in its portfolio's free capital (capital minus
open positions' cost and working buys). Through the real OMS app and the simulator; on SQLite,
and on PostgreSQL in the PostgreSQL pass."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from oms_api.cli import _portfolios
from oms_api.db.migrate import upgrade
from tests.oms import OMS, oms_settings
from tests.risk_support import (
    at_once,
    audit_entries,
    error_of,
    estimated_price,
    nothing_written,
    placed,
    trade_ids,
)
from tests.waiting import wait_until

ACCOUNT = "GET /v2/account"
MINUS = "\N{MINUS SIGN}"  # as the OMS writes amounts for people: $100.00 minus $60.00


@pytest.fixture
def desk(oms_factory: Any) -> Iterator[OMS]:
    """The OMS with no portfolio yet; the simulator's account has $100,000 of buying power."""
    with oms_factory() as running:
        yield running


def create(oms: OMS, name: str, capital: str, **extra: Any) -> Any:
    return oms.post("/portfolios", {"name": name, "allocated_capital": capital, **extra})


def capital_of(oms: OMS, name: str) -> Decimal:
    [portfolio] = [p for p in oms.get("/portfolios").json() if p["name"] == name]
    return Decimal(portfolio["allocated_capital"])


# ---------------------------------------------------------------------- the desk: create
def test_create_at_under_and_over_the_available_capital(desk: OMS) -> None:
    assert create(desk, "alpha", "60000").status_code == 201

    over = error_of(create(desk, "beta", "40000.01"), 409, "capital_exceeds_available")
    assert over["message"] == (
        f"capital $40,000.01 exceeds the $40,000.00 available (buying power $100,000.00 {MINUS} "
        "$60,000.00 allocated to other portfolios)"
    )
    assert over["details"] == {
        "capital": "40000.01",
        "available_capital": "40000.00",
        "buying_power": "100000.00",
        "allocated_capital": "60000.00",
    }
    assert create(desk, "beta", "39999.99").status_code == 201  # just under
    error_of(create(desk, "gamma", "0.02"), 409, "capital_exceeds_available")
    assert create(desk, "gamma", "0.01").status_code == 201  # exactly what is left
    assert create(desk, "delta", "0").status_code == 201  # nothing: always fits
    assert [p["name"] for p in desk.get("/portfolios").json()] == [
        "alpha",
        "beta",
        "delta",
        "gamma",
    ]


def test_a_refused_create_is_audited_as_refused_with_the_numbers(desk: OMS) -> None:
    assert create(desk, "alpha", "90000").status_code == 201
    answer = create(desk, "beta", "20000", requested_by="U0BOB", requested_by_name="bob")
    error_of(answer, 409, "capital_exceeds_available")

    [entry] = audit_entries(desk, target="portfolio beta")
    assert (entry["actor"], entry["action"], entry["result"]) == (
        "U0BOB",
        "portfolio_create",
        "refused",
    )
    assert entry["details"]["refused"] == "capital_exceeds_available"
    assert entry["details"]["allocated_capital"] == "20000.00"  # what was asked
    assert entry["details"]["capital_check"] == {
        "capital": "20000.00",
        "available_capital": "10000.00",
        "buying_power": "100000.00",
        "allocated_capital": "90000.00",
    }
    assert [p["name"] for p in desk.get("/portfolios").json()] == ["alpha"]


def test_paused_portfolios_keep_their_capital(desk: OMS) -> None:
    assert create(desk, "alpha", "60000").status_code == 201
    assert desk.patch("/portfolios/alpha", {"status": "paused"}).status_code == 200

    error_of(create(desk, "beta", "50000"), 409, "capital_exceeds_available")
    account = desk.get("/account").json()
    assert Decimal(account["allocated_capital"]) == 60000


def test_a_name_that_exists_is_refused_as_such_not_for_its_capital(desk: OMS) -> None:
    assert create(desk, "alpha", "90000").status_code == 201
    error_of(create(desk, "alpha", "50000"), 409, "portfolio_exists")


# ---------------------------------------------------------------------- the desk: update
def test_raising_capital_leaves_the_portfolios_own_capital_out_of_the_sum(desk: OMS) -> None:
    assert create(desk, "alpha", "60000").status_code == 201
    assert create(desk, "beta", "30000").status_code == 201

    assert desk.patch("/portfolios/beta", {"allocated_capital": "39999.99"}).status_code == 200
    over = error_of(
        desk.patch("/portfolios/beta", {"allocated_capital": "40000.01", "requested_by": "U0A"}),
        409,
        "capital_exceeds_available",
    )
    assert over["message"] == (
        f"capital $40,000.01 exceeds the $40,000.00 available (buying power $100,000.00 {MINUS} "
        "$60,000.00 allocated to other portfolios)"
    )
    assert capital_of(desk, "beta") == Decimal("39999.99")
    assert desk.patch("/portfolios/beta", {"allocated_capital": "40000"}).status_code == 200

    refused = audit_entries(desk, target="portfolio beta", result="refused")
    assert [(e["action"], e["details"]["refused"]) for e in refused] == [
        ("portfolio_update", "capital_exceeds_available")
    ]
    assert refused[0]["details"]["asked"] == {"allocated_capital": "40000.01"}
    assert refused[0]["details"]["available_capital"] == "40000.00"


def test_resuming_needs_the_capital_to_fit_again(desk: OMS) -> None:
    assert create(desk, "alpha", "60000").status_code == 201
    assert create(desk, "beta", "30000").status_code == 201
    assert desk.patch("/portfolios/alpha", {"status": "paused"}).status_code == 200
    desk.sim.control.set_cash("89999.99")  # the account shrank while alpha was paused

    over = error_of(
        desk.patch("/portfolios/alpha", {"status": "active"}), 409, "capital_exceeds_available"
    )
    assert over["details"] == {
        "capital": "60000.00",
        "available_capital": "59999.99",
        "buying_power": "89999.99",
        "allocated_capital": "30000.00",
    }
    [refused] = audit_entries(desk, target="portfolio alpha", result="refused")
    assert refused["action"] == "portfolio_resume"
    assert desk.get("/portfolios").json()[0]["status"] == "paused"

    desk.sim.control.set_cash("90000")  # exactly enough
    resumed = desk.patch("/portfolios/alpha", {"status": "active"})
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"


def test_lowering_capital_and_pausing_never_ask_the_broker(desk: OMS) -> None:
    assert create(desk, "alpha", "60000").status_code == 201
    desk.sim.control.reset_counters()
    desk.sim.control.add_fault(ACCOUNT, "status", status=503, count=100)

    assert desk.patch("/portfolios/alpha", {"allocated_capital": "50000"}).status_code == 200
    assert desk.patch("/portfolios/alpha", {"status": "paused"}).status_code == 200
    assert desk.patch("/portfolios/alpha", {"allocated_capital": "50000"}).status_code == 200
    assert desk.sim.control.counters().get(ACCOUNT, 0) == 0
    desk.sim.control.clear_faults()


def test_an_unreachable_broker_refuses_create_raise_and_resume_writing_nothing(
    desk: OMS,
) -> None:
    assert create(desk, "alpha", "10000").status_code == 201
    assert desk.patch("/portfolios/alpha", {"status": "paused"}).status_code == 200
    before = audit_entries(desk)
    desk.sim.control.add_fault(ACCOUNT, "status", status=503, count=100)

    for answer in (
        create(desk, "beta", "1000"),
        desk.patch("/portfolios/alpha", {"allocated_capital": "20000"}),
        desk.patch("/portfolios/alpha", {"status": "active"}),
    ):
        error = error_of(answer, 503, "broker_unavailable")
        assert "nothing was changed" in error["message"]
    desk.sim.control.clear_faults()

    assert audit_entries(desk) == before
    [alpha] = desk.get("/portfolios").json()
    assert (alpha["status"], Decimal(alpha["allocated_capital"])) == ("paused", 10000)


@pytest.mark.parametrize("how", ["create", "raise"])
def test_two_changes_at_once_never_both_pass_against_the_same_money(desk: OMS, how: str) -> None:
    if how == "create":
        answers = at_once(
            lambda: create(desk, "alpha", "60000"), lambda: create(desk, "beta", "60000")
        )
    else:
        assert create(desk, "alpha", "10000").status_code == 201
        assert create(desk, "beta", "10000").status_code == 201
        answers = at_once(
            lambda: desk.patch("/portfolios/alpha", {"allocated_capital": "60000"}),
            lambda: desk.patch("/portfolios/beta", {"allocated_capital": "60000"}),
        )
    assert sorted(a.status_code for a in answers) == sorted([200 if how == "raise" else 201, 409])
    assert Decimal(desk.get("/account").json()["allocated_capital"]) <= 100000


# ---------------------------------------------------------------------- daily loss limit
def test_daily_loss_limit_is_set_changed_kept_and_cleared_with_its_audit(desk: OMS) -> None:
    created = create(desk, "alpha", "1000", daily_loss_limit="250.5")
    assert created.status_code == 201 and created.json()["daily_loss_limit"] == "250.50"

    assert desk.patch("/portfolios/alpha", {"daily_loss_limit": "300"}).status_code == 200
    kept = desk.patch("/portfolios/alpha", {"allocated_capital": "900"})
    assert Decimal(kept.json()["daily_loss_limit"]) == 300  # left out: unchanged
    cleared = desk.patch("/portfolios/alpha", {"daily_loss_limit": None})
    assert cleared.status_code == 200 and cleared.json()["daily_loss_limit"] is None

    changes = [
        e["details"]["changes"].get("daily_loss_limit")
        for e in audit_entries(desk, action="portfolio_update")
    ]
    assert changes == [
        {"from": "300.00", "to": None},
        None,
        {"from": "250.50", "to": "300.00"},
    ]
    [made] = audit_entries(desk, action="portfolio_create")
    assert made["details"]["daily_loss_limit"] == "250.50"


@pytest.mark.parametrize("bad", ["0", "-5", "1.001", "NaN", "lots"])
def test_a_bad_daily_loss_limit_is_a_422_and_changes_nothing(desk: OMS, bad: str) -> None:
    error_of(create(desk, "alpha", "1000", daily_loss_limit=bad), 422, "malformed_request")
    assert create(desk, "alpha", "1000").status_code == 201
    before = audit_entries(desk)
    answer = desk.patch("/portfolios/alpha", {"daily_loss_limit": bad})
    assert error_of(answer, 422, "malformed_request")["details"]["problems"][0]["field"] == (
        "daily_loss_limit"
    )
    assert audit_entries(desk) == before


# ---------------------------------------------------------------------- trades
@pytest.fixture
def main(oms_factory: Any) -> Iterator[OMS]:
    """Portfolio main with $10,000 of capital; AAPL at $100, MSFT at $60."""
    with oms_factory() as running:
        running.create_portfolio("main", "10000")
        running.sim.control.set_price("AAPL", "100.00")
        running.sim.control.set_price("MSFT", "60.00")
        yield running


def test_a_buy_at_under_and_over_the_free_capital(main: OMS) -> None:
    placed(main.trade(symbol="AAPL", qty="60"))  # $6,000 in positions
    resting = placed(main.trade(symbol="MSFT", qty="20", order_type="limit", limit_price="50"))
    assert resting["status"] == "accepted"  # $1,000 reserved while it works

    with nothing_written(main):
        over = error_of(
            main.trade(symbol="AAPL", notional="3000.01"), 402, "portfolio_capital_exceeded"
        )
    assert over["message"] == (
        "this buy of AAPL costs about $3,000.01, more than portfolio main's free capital of "
        f"$3,000.00 (capital $10,000.00 {MINUS} $6,000.00 in open positions {MINUS} $1,000.00 "
        "reserved by "
        "working buys) — nothing was sent"
    )
    assert over["details"] == {
        "estimated_cost": "3000.01",
        "free_capital": "3000.00",
        "capital": "10000.00",
        "positions_cost": "6000.00",
        "working_buys": "1000.00",
    }
    placed(main.trade(symbol="AAPL", qty="29.99"))  # just under: $2,999
    placed(main.trade(symbol="AAPL", qty="0.01"))  # exactly the last dollar
    with nothing_written(main):
        error_of(
            main.trade(symbol="AAPL", qty="1", order_type="limit", limit_price="1.00"),
            402,
            "portfolio_capital_exceeded",
        )

    # Sells are never capital-checked; what they free is free again.
    placed(main.trade(symbol="AAPL", qty="10", side="sell"))
    placed(main.trade(symbol="AAPL", qty="10"))


def test_a_canceled_working_buy_frees_what_it_reserved(main: OMS) -> None:
    resting = placed(main.trade(symbol="MSFT", qty="100", order_type="limit", limit_price="50"))
    error_of(main.trade(symbol="AAPL", qty="51"), 402, "portfolio_capital_exceeded")

    canceled = main.post(f"/trades/{resting['id']}/cancel")
    assert canceled.status_code in (200, 202), canceled.text
    wait_until(
        lambda: main.get(f"/trades/{resting['id']}").json()["status"] == "canceled",
        what="the working buy to be canceled",
    )
    placed(main.trade(symbol="AAPL", qty="100"))


def test_a_portfolio_with_no_capital_cannot_buy_but_may_cover_its_short(main: OMS) -> None:
    assert main.patch("/portfolios/main", {"allocated_capital": "0"}).status_code == 200

    with nothing_written(main):
        error = error_of(main.trade(symbol="AAPL", qty="1"), 402, "portfolio_capital_exceeded")
    assert error["details"]["free_capital"] == "0.00"
    short = placed(main.trade(symbol="AAPL", qty="5", side="sell"))
    assert short["status"] == "filled"
    placed(main.trade(symbol="AAPL", qty="2"))  # buys back part of the short: no capital
    with nothing_written(main):
        beyond = error_of(main.trade(symbol="AAPL", qty="4"), 402, "portfolio_capital_exceeded")
    assert beyond["details"]["estimated_cost"] == "100.00"  # the one share beyond the short
    placed(main.trade(symbol="AAPL", qty="3"))


def test_an_emergency_sell_skips_the_capital_check(main: OMS) -> None:
    placed(main.trade(symbol="AAPL", qty="5", side="sell"))  # short 5
    assert main.patch("/portfolios/main", {"allocated_capital": "0"}).status_code == 200
    main.sim.control.set_price("AAPL", "150.00")

    closed = main.post("/positions/AAPL/close", {"portfolio": "main", "reason": "cut it"})
    assert closed.status_code == 201, closed.text
    assert closed.json()["side"] == "buy" and closed.json()["status"] == "filled"


def test_every_order_keeps_the_price_it_was_estimated_at(main: OMS, db_engine: Engine) -> None:
    market = placed(main.trade(symbol="AAPL", qty="1"))
    limit = placed(main.trade(symbol="MSFT", qty="1", order_type="limit", limit_price="55.5"))
    notional = placed(main.trade(symbol="AAPL", notional="50", side="buy"))

    assert estimated_price(db_engine, market["id"]) == Decimal("100")
    assert estimated_price(db_engine, limit["id"]) == Decimal("55.5")
    assert estimated_price(db_engine, notional["id"]) == Decimal("100")


def test_estimates_reuse_a_recent_price_instead_of_asking_the_broker_each_time(
    main: OMS,
) -> None:
    main.sim.control.reset_counters()
    for _ in range(3):
        placed(main.trade(symbol="AAPL", qty="1"))
    assert main.sim.control.counters().get("GET /v2/stocks/snapshots") == 1


def test_a_price_that_cannot_be_read_refuses_the_buy_with_nothing_sent(main: OMS) -> None:
    main.sim.control.add_fault("GET /v2/stocks/snapshots", "status", status=503, count=100)
    with nothing_written(main):
        error = error_of(main.trade(symbol="AAPL", qty="1"), 503, "broker_unavailable")
    main.sim.control.clear_faults()
    assert error["message"].endswith("nothing was sent")


def test_a_sell_goes_through_without_a_price_unless_a_limit_needs_one(main: OMS) -> None:
    # Bought with a limit (its estimate is the limit price): no price of MSFT is known yet.
    bought = main.trade(symbol="MSFT", qty="5", order_type="limit", limit_price="1000")
    assert bought.status_code == 201, bought.text
    trade = f"/trades/{bought.json()['id']}"
    wait_until(lambda: main.get(trade).json()["status"] == "filled", what="the limit buy to fill")
    main.sim.control.add_fault("GET /v2/stocks/snapshots", "status", status=503, count=100)
    sold = main.trade(symbol="MSFT", side="sell", qty="2")
    assert sold.status_code == 201, sold.text  # cutting a position never waits for a quote

    limits = {"max_order_notional": "100000"}
    assert main.client.put("/api/v1/portfolios/main/limits", json=limits, headers=main.headers)
    with nothing_written(main):
        error_of(main.trade(symbol="MSFT", side="sell", qty="1"), 503, "broker_unavailable")
    main.sim.control.clear_faults()


def test_two_buys_at_once_that_each_fit_but_not_together_record_one(main: OMS) -> None:
    def buy() -> Any:
        return main.trade(symbol="AAPL", qty="60", order_type="limit", limit_price="90")

    main.sim.control.reset_counters()
    answers = at_once(buy, buy)

    assert sorted(a.status_code for a in answers) == [201, 402], [a.text for a in answers]
    assert len(trade_ids(main)) == 1
    assert main.sim.control.counters().get("POST /v2/orders") == 1


def test_a_retried_buy_that_fits_once_is_replayed_not_refused(main: OMS) -> None:
    def buy() -> Any:
        return main.trade(
            idempotency_key="key-once",
            symbol="AAPL",
            qty="60",
            order_type="limit",
            limit_price="90",
        )

    answers = at_once(buy, buy, buy)

    assert sorted(a.status_code for a in answers) == [200, 200, 201], [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1


@pytest.mark.postgres
def test_the_second_buy_waits_for_the_first_to_be_recorded(main: OMS, db_engine: Engine) -> None:
    """Deterministic: a second buy is sent while the first is inside its check (its order not
    yet committed). It must wait on the portfolio's row lock, then see the first and be refused;
    without the lock it would be recorded at once, against the same free capital."""
    if db_engine.dialect.name != "postgresql":
        pytest.skip("this run's database is SQLite; its writers take turns in one process")
    risk = main.runtime.orders.placement.risk
    real_check = risk.check
    second: list[Any] = []
    recorded_early: list[bool] = []
    threads: list[threading.Thread] = []

    def buy() -> Any:
        return main.trade(symbol="AAPL", qty="60", order_type="limit", limit_price="90")

    def waiting_on_a_lock() -> bool:
        with db_engine.connect() as connection:
            waiting = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar()
        return bool(waiting)

    def first_check(order: Any) -> Any:
        run = real_check(order)

        def then_a_second_buy(connection: Any) -> None:
            run(connection)  # the first buy fits
            risk.check = real_check  # type: ignore[method-assign]
            thread = threading.Thread(target=lambda: second.append(buy()))
            thread.start()
            threads.append(thread)
            wait_until(lambda: bool(second) or waiting_on_a_lock(), what="the second buy")
            recorded_early.append(bool(second))

        return then_a_second_buy

    risk.check = first_check  # type: ignore[method-assign]
    first = buy()
    for thread in threads:
        thread.join(timeout=30)

    assert first.status_code == 201, first.text
    assert recorded_early == [False]
    [refused] = second
    error_of(refused, 402, "portfolio_capital_exceeded")
    assert len(trade_ids(main)) == 1


# ---------------------------------------------------------------------- `oms up`
def test_oms_up_gives_main_the_capital_the_account_has_available(
    sim: Any, fresh_database_url: str
) -> None:
    upgrade(fresh_database_url)
    sim.control.set_cash("25000.75")
    portfolios, created = _portfolios(oms_settings(sim, fresh_database_url), create_main=True)

    assert portfolios == [("main", "active")]
    assert created == Decimal("25000.75")


def test_oms_up_gives_main_no_capital_and_says_so_when_the_broker_cannot_be_read(
    sim: Any, fresh_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    upgrade(fresh_database_url)
    sim.control.add_fault(ACCOUNT, "status", status=503, count=100)
    settings = oms_settings(sim, fresh_database_url)
    portfolios, created = _portfolios(settings, create_main=True)
    sim.control.clear_faults()

    assert portfolios == [("main", "active")] and created == 0
    assert any(
        "portfolio main is created with capital $0.00" in record.getMessage()
        for record in caplog.records
    )
