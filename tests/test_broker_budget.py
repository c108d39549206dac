"""The broker request budget: smooth, prioritised, and shared by every worker on PostgreSQL.

The gateway tests drive the real alpaca-py against the simulator; the bucket tests use an
injected clock (memory) or the database's own clock (PostgreSQL)."""

from __future__ import annotations

import itertools
import threading
import uuid
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine

from oms_api.broker.budget import (
    BrokerBudget,
    BudgetExhausted,
    BudgetPolicy,
    MemoryBucket,
    PostgresBucket,
    Priority,
    make_budget,
)
from oms_api.broker.gateway import AlpacaGateway
from oms_api.broker.models import BrokerUnavailable, CancelOutcome, OrderSubmission, Outcome
from oms_api.db.engine import make_engine
from tests.test_broker_gateway import FakeTime
from tests.test_reliability import sim_gateway

POST_ORDERS = "POST /v2/orders"


def gateway_for(sim, fake: FakeTime, *, per_minute: int, burst: int) -> AlpacaGateway:
    return sim_gateway(
        sim, requests_per_minute=per_minute, burst=burst, monotonic=fake.monotonic, sleep=fake.sleep
    )


def resting_limit() -> OrderSubmission:
    return OrderSubmission(
        client_order_id=f"budget-{uuid.uuid4().hex[:16]}",
        symbol="AAPL",
        side="buy",
        order_type="limit",
        time_in_force="day",
        qty=Decimal("1"),
        limit_price=Decimal("50.25"),
    )


def posts(sim) -> int:
    return sim.control.counters().get(POST_ORDERS, 0)


# --------------------------------------------------------------------------- the gateway
def test_the_budget_waits_for_a_slot_within_the_bound_else_refuses_unsent(sim):
    fake = FakeTime()
    gateway = gateway_for(sim, fake, per_minute=3, burst=3)  # a token every 20 s
    for _ in range(3):
        assert gateway.submit_order(resting_limit()).outcome is Outcome.ACCEPTED
    assert fake.sleeps == []

    # The next token is 20 s away, more than the 2 s a call may wait: refused, nothing sent.
    refused = gateway.submit_order(resting_limit())
    assert refused.outcome is Outcome.NOT_SENT
    assert "budget" in refused.error.message
    assert posts(sim) == 3
    with pytest.raises(BrokerUnavailable, match="budget"):
        gateway.get_account()

    # 1.5 s before the next token, a call waits for it (through the injected sleep).
    fake.now += 18.5
    assert gateway.submit_order(resting_limit()).outcome is Outcome.ACCEPTED
    assert fake.sleeps == [pytest.approx(1.5)]
    assert posts(sim) == 4
    assert gateway.request_count == 4


def test_the_budget_is_smooth_not_a_minute_at_once_then_a_wall(sim):
    fake = FakeTime()
    gateway = gateway_for(sim, fake, per_minute=180, burst=10)
    sent_at: list[float] = []
    for _ in range(40):
        assert gateway.submit_order(resting_limit()).outcome is Outcome.ACCEPTED
        sent_at.append(fake.now)
    # The burst goes at once (but the token kept for cancels), then one request every 1/3 s:
    # never a whole minute at once and then a 60 s wall.
    assert sent_at[:9] == [1000.0] * 9
    gaps = [b - a for a, b in itertools.pairwise(sent_at[9:])]
    assert all(g == pytest.approx(1 / 3) for g in gaps)
    assert max(fake.sleeps) == pytest.approx(1 / 3)


def test_concurrent_callers_share_one_budget(sim):
    fake = FakeTime()
    gateway = gateway_for(sim, fake, per_minute=5, burst=5)
    results: list[Outcome] = []
    lock = threading.Lock()

    def submit() -> None:
        outcome = gateway.submit_order(resting_limit()).outcome
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == sorted([Outcome.ACCEPTED] * 5 + [Outcome.NOT_SENT] * 3)
    assert posts(sim) == 5


def test_when_the_budget_runs_low_cancels_go_first_then_submits_then_polls_then_reads(sim):
    fake = FakeTime()
    gateway = gateway_for(sim, fake, per_minute=1, burst=10)  # reserves: submit 1, poll 3, read 5
    resting = [gateway.submit_order(resting_limit()).order for _ in range(4)]  # 6 left
    gateway.get_account()  # a read may take the 6th-last token: 5 left
    with pytest.raises(BrokerUnavailable, match="read"):
        gateway.get_account()
    assert gateway.ping() is False  # the health probe never waits and goes last
    gateway.get_order(resting[0].id)  # polls may go down to 3
    gateway.get_order(resting[0].id)
    with pytest.raises(BrokerUnavailable, match="poll"):
        gateway.get_order(resting[0].id)
    assert gateway.submit_order(resting_limit()).outcome is Outcome.ACCEPTED  # 2 left
    assert gateway.submit_order(resting_limit()).outcome is Outcome.ACCEPTED  # 1 left
    assert gateway.submit_order(resting_limit()).outcome is Outcome.NOT_SENT
    # The last token is kept for a cancel.
    assert gateway.cancel_order(resting[1].id) is CancelOutcome.REQUESTED
    assert gateway.cancel_order(resting[2].id) is CancelOutcome.UNKNOWN  # nothing left at all
    assert sim.control.counters()["DELETE /v2/orders/{order_id}"] == 1


def test_a_reserved_slot_is_used_by_the_next_call_and_refusal_comes_before_anything(sim):
    fake = FakeTime()
    gateway = gateway_for(sim, fake, per_minute=1, burst=2)
    with gateway.reserved(Priority.SUBMIT):
        # The slot is taken already: the submit itself does not take another.
        assert gateway.submit_order(resting_limit()).outcome is Outcome.ACCEPTED
    assert gateway.request_count == 1
    with gateway.reserved(Priority.SUBMIT):
        pass  # not used: dropped
    with pytest.raises(BudgetExhausted), gateway.reserved(Priority.SUBMIT):
        raise AssertionError("the block never runs when no slot is free")
    assert posts(sim) == 1


# ------------------------------------------------------------------------------ buckets
def test_the_memory_bucket_refills_at_its_rate_up_to_the_burst():
    fake = FakeTime()
    policy = BudgetPolicy(per_minute=60, burst=2)
    bucket = MemoryBucket(fake.monotonic)
    assert bucket.take(policy, 0) == 0.0
    assert bucket.take(policy, 0) == 0.0
    assert bucket.take(policy, 0) == pytest.approx(1.0)
    fake.now += 100  # a long quiet spell refills only up to the burst
    assert [bucket.take(policy, 0) for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]


@pytest.mark.postgres
def test_workers_on_one_postgres_database_share_one_budget(fresh_database_url: str):
    """Two processes' buckets (two engines, two PostgresBucket objects) on one database draw
    from the same row: together they get the burst once, not twice."""
    if not fresh_database_url.startswith("postgresql"):
        pytest.skip("this run's database is SQLite; the PostgreSQL pass covers the shared bucket")
    from oms_api.db.migrate import upgrade

    upgrade(fresh_database_url)
    engines: list[Engine] = [make_engine(fresh_database_url) for _ in range(2)]
    try:
        policy = BudgetPolicy(per_minute=1, burst=6)
        first, second = (PostgresBucket(engine) for engine in engines)
        taken = [bucket.take(policy, 0) == 0.0 for bucket in (first, second) * 4]
        assert taken == [True] * 6 + [False] * 2
        # A refusal says how long until the next token (one a minute here).
        assert 50 < first.take(policy, 0) <= 60
        # Priorities hold across workers too: the reserve of a read is out of reach.
        budget = BrokerBudget(policy, second, sleep=lambda _: None)
        with pytest.raises(BudgetExhausted):
            budget.acquire(Priority.READ, max_wait=0)
        # The row is unlogged: worthless after a crash, so nothing is written to the WAL.
        with engines[0].connect() as connection:
            persistence = connection.exec_driver_sql(
                "SELECT relpersistence FROM pg_class WHERE relname = 'broker_budget'"
            ).scalar()
        assert persistence == "u"
    finally:
        for engine in engines:
            engine.dispose()


@pytest.mark.postgres
def test_a_lost_budget_row_starts_full_again(fresh_database_url: str):
    if not fresh_database_url.startswith("postgresql"):
        pytest.skip("this run's database is SQLite; the PostgreSQL pass covers the shared bucket")
    from oms_api.db.migrate import upgrade

    upgrade(fresh_database_url)
    engine = make_engine(fresh_database_url)
    try:
        budget = make_budget(engine, per_minute=60, burst=3)
        for _ in range(3):
            budget.acquire(Priority.SUBMIT, max_wait=0)
        with engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM broker_budget")  # as after a crash
        for _ in range(3):
            budget.acquire(Priority.SUBMIT, max_wait=0)
    finally:
        engine.dispose()
