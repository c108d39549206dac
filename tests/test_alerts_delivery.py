"""Alerts reach Slack: once, in order per channel, at Slack's pace; a 429 is waited out, an
outage is retried until Slack is back (also by a deliverer started later), a refusal marks
the alert failed, a refused token pauses delivery without losing anything; one deliverer
across workers; an alert rolled back with its transaction is never posted; no token in logs.

Real database (both passes), the local fake Slack Web API, an injected clock (`FakeTime`):
no test waits for real time to pass."""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from oms_api.alerts import blocks
from oms_api.alerts import deliverer as deliverer_module
from oms_api.alerts.outbox import AlertKind, enqueue
from oms_api.db.engine import make_engine
from tests.alerts_support import (
    CHANNEL,
    OTHER_CHANNEL,
    T0,
    TOKEN,
    FakeTime,
    Timeline,
    alert_rows,
    alert_settings,
    deliverer,
    record_alert,
    running,
    sample_body,
    title_of,
)
from tests.slack_fakes import FakeSlackAPI, free_port
from tests.waiting import wait_until

POST = "chat.postMessage"


@pytest.fixture
def fake() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as api:
        yield api


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def settings(database_url: str, fake: FakeSlackAPI) -> Any:
    return alert_settings(database_url, fake)


@pytest.fixture
def timeline(fake: FakeSlackAPI, clock: FakeTime) -> Timeline:
    return Timeline(fake, clock)


@pytest.fixture
def second_engine(database_url: str) -> Iterator[Engine]:
    """Another process's connection pool on the same database."""
    engine = make_engine(database_url, pool_size=2)
    yield engine
    engine.dispose()


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


# ------------------------------------------------------------------------ posted once
def test_an_enqueued_alert_is_posted_once_to_the_alerts_channel_with_its_blocks(
    db_engine: Engine, settings: Any, fake: FakeSlackAPI, clock: FakeTime
) -> None:
    body = sample_body(AlertKind.HALTED, mode="LIVE")
    record_alert(db_engine, "Trading halted", AlertKind.HALTED, body, severity="critical")
    alerts = deliverer(db_engine, settings, clock)

    assert alerts.deliver_due() == 1

    [call] = fake.calls(POST)
    assert call.token == TOKEN and call.args["channel"] == CHANNEL
    [row] = alert_rows(db_engine)
    expected = blocks.render("halted", "Trading halted", body, row["created_at"])
    assert call.args["blocks"] == expected["blocks"]
    assert call.args["text"] == expected["text"]
    assert call.args["text"].startswith("[LIVE — real money] Trading halted")
    resume = call.args["blocks"][-1]["elements"][0]
    assert resume["action_id"] == "controls_resume" and resume["style"] == "primary"
    assert row["state"] == "delivered"
    assert row["slack_ts"] and row["slack_ts"].endswith(".000100")  # the fake's ts
    assert (row["delivered_at"], row["attempts"], row["last_error"]) == (T0, 1, None)

    clock.advance(3600)
    assert alerts.deliver_due() == 0
    assert len(fake.calls(POST)) == 1


def test_an_alert_naming_its_own_channel_is_posted_there(
    db_engine: Engine, settings: Any, fake: FakeSlackAPI, clock: FakeTime
) -> None:
    record_alert(db_engine, "Trading resumed", AlertKind.RESUMED, channel_id=OTHER_CHANNEL)

    assert deliverer(db_engine, settings, clock).deliver_due() == 1

    assert [c.args["channel"] for c in fake.calls(POST)] == [OTHER_CHANNEL]


def test_an_alert_rolled_back_with_its_transaction_is_never_posted(
    db_engine: Engine, settings: Any, timeline: Timeline, clock: FakeTime
) -> None:
    with pytest.raises(RuntimeError), db_engine.begin() as connection:
        enqueue(connection, AlertKind.HALTED, "never", sample_body(AlertKind.HALTED))
        raise RuntimeError("the halt failed after its alert was written")
    record_alert(db_engine, "committed")

    assert timeline.run(deliverer(db_engine, settings, clock), 5) == 1

    assert timeline.titles() == ["committed"]
    assert [r["title"] for r in alert_rows(db_engine)] == ["committed"]


# ------------------------------------------------------------------- order and pace
def test_a_burst_of_20_is_posted_in_order_about_one_a_second(
    db_engine: Engine, settings: Any, timeline: Timeline, clock: FakeTime
) -> None:
    for number in range(1, 21):
        record_alert(db_engine, f"alert {number}")
    alerts = deliverer(db_engine, settings, clock)

    assert timeline.run(alerts, 30) == 20

    assert timeline.titles() == [f"alert {n}" for n in range(1, 21)]
    assert all(1.0 <= gap <= 1.25 for gap in gaps(timeline.times())), timeline.times()
    assert [r["state"] for r in alert_rows(db_engine)] == ["delivered"] * 20


def test_the_thread_paces_a_burst_on_its_clock_without_spinning(
    db_engine: Engine, settings: Any, fake: FakeSlackAPI, clock: FakeTime
) -> None:
    for number in range(1, 21):
        record_alert(db_engine, f"alert {number}")
    alerts = deliverer(db_engine, settings, clock, sleep=clock.sleep)

    with running(alerts):
        fake.wait_for(POST, 20, timeout=20)
        wait_until(lambda: all(r["state"] == "delivered" for r in alert_rows(db_engine)))

    assert [title_of(c) for c in fake.calls(POST)] == [f"alert {n}" for n in range(1, 21)]
    delivered = [(r["delivered_at"] - T0).total_seconds() for r in alert_rows(db_engine)]
    assert all(1.0 <= gap <= 1.25 for gap in gaps(delivered)), delivered
    # Between posts it sleeps until the next one is due: no busy loop.
    assert min(clock.sleeps) >= deliverer_module.MIN_WAIT_SECONDS


def test_a_429_holds_its_channel_for_retry_after_while_other_channels_go_on(
    db_engine: Engine, settings: Any, fake: FakeSlackAPI, timeline: Timeline, clock: FakeTime
) -> None:
    record_alert(db_engine, "A1")
    record_alert(db_engine, "B1", channel_id=OTHER_CHANNEL)
    record_alert(db_engine, "A2")
    record_alert(db_engine, "B2", channel_id=OTHER_CHANNEL)
    fake.fail(POST, "ratelimited", times=1, status=429, headers={"Retry-After": "7"})
    alerts = deliverer(db_engine, settings, clock)

    timeline.run(alerts, 3)
    waiting = alert_rows(db_engine)[0]
    assert (waiting["state"], waiting["attempts"]) == ("pending", 1)
    assert waiting["last_error"] == "ratelimited: Slack asked to wait 7 s"
    assert waiting["next_attempt_at"] == T0 + timedelta(seconds=7)
    timeline.run(alerts, 9)

    # The rate-limited channel waits 7 s, then keeps its order; the other one goes on.
    assert list(zip(timeline.times(CHANNEL), timeline.titles(CHANNEL), strict=True)) == [
        (0, "A1"),
        (7, "A1"),
        (8, "A2"),
    ]
    assert list(
        zip(timeline.times(OTHER_CHANNEL), timeline.titles(OTHER_CHANNEL), strict=True)
    ) == [
        (0, "B1"),
        (1, "B2"),
    ]
    assert [r["state"] for r in alert_rows(db_engine)] == ["delivered"] * 4


# ------------------------------------------------------------------------ Slack down
def test_slack_down_then_up_delivers_each_alert_once_in_order_across_a_restart(
    db_engine: Engine, settings: Any, fake: FakeSlackAPI, timeline: Timeline, clock: FakeTime
) -> None:
    for title in ("first", "second", "third"):
        record_alert(db_engine, title)
    fake.fail(POST, "service_unavailable", status=503)

    timeline.run(deliverer(db_engine, settings, clock), 10)

    # Only the oldest is tried (the others wait behind it), with back-off: 1, 2, 4 s.
    assert timeline.titles() == ["first"] * 4
    assert timeline.times() == [0, 1, 3, 7]
    oldest, *rest = alert_rows(db_engine)
    assert (oldest["state"], oldest["attempts"]) == ("pending", 4)
    assert oldest["last_error"] == "HTTP 503: service_unavailable"
    assert oldest["next_attempt_at"] == T0 + timedelta(seconds=15)
    assert [(r["state"], r["attempts"]) for r in rest] == [("pending", 0)] * 2

    # A restart (a new deliverer, as a new process would make) while Slack comes back.
    fake.clear_failures()
    before = len(timeline.posts)
    assert timeline.run(deliverer(db_engine, settings, clock), 10) == 3

    delivered = timeline.posts[before:]
    assert [(t, title_of(c)) for t, c in delivered] == [
        (15, "first"),
        (16, "second"),
        (17, "third"),
    ]
    assert [(r["state"], r["attempts"]) for r in alert_rows(db_engine)] == [
        ("delivered", 5),
        ("delivered", 1),
        ("delivered", 1),
    ]
    assert timeline.run(deliverer(db_engine, settings, clock), 600) == 0
    assert len(timeline.posts) == before + 3


def test_no_network_to_slack_is_retried_until_it_answers(
    db_engine: Engine, settings: Any, fake: FakeSlackAPI, timeline: Timeline, clock: FakeTime
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/api/"
    client = WebClient(token=TOKEN, base_url=nowhere, timeout=2, retry_handlers=[])
    alerts = deliverer(db_engine, settings, clock, client=client)
    record_alert(db_engine, "through the outage")

    assert timeline.run(alerts, 5) == 0
    [row] = alert_rows(db_engine)
    assert (row["state"], row["attempts"]) == ("pending", 3)  # at 0, 1 and 3 s
    assert row["last_error"].startswith("network: URLError")

    client.base_url = fake.base_url  # the network is back
    assert timeline.run(alerts, 10) == 1
    assert [title_of(c) for c in fake.calls(POST)] == ["through the outage"]
    assert alert_rows(db_engine)[0]["state"] == "delivered"


# ------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived"])
def test_a_permanent_refusal_marks_the_alert_failed_and_the_channel_goes_on(
    error: str,
    db_engine: Engine,
    settings: Any,
    fake: FakeSlackAPI,
    timeline: Timeline,
    clock: FakeTime,
) -> None:
    record_alert(db_engine, "refused")
    record_alert(db_engine, "next")
    fake.fail(POST, error, times=1)
    alerts = deliverer(db_engine, settings, clock)

    assert timeline.run(alerts, 5) == 1

    refused, following = alert_rows(db_engine)
    assert (refused["state"], refused["attempts"], refused["last_error"]) == ("failed", 1, error)
    assert refused["next_attempt_at"] is None
    assert following["state"] == "delivered"
    assert timeline.titles() == ["refused", "next"]
    assert timeline.run(alerts, 3600, every=60) == 0  # a failed alert is not tried again
    assert len(timeline.posts) == 2


def test_a_refused_token_keeps_alerts_pending_pauses_long_and_logs_once(
    db_engine: Engine,
    settings: Any,
    fake: FakeSlackAPI,
    timeline: Timeline,
    clock: FakeTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    record_alert(db_engine, "one")
    record_alert(db_engine, "two", channel_id=OTHER_CHANNEL)
    fake.fail(POST, "invalid_auth")
    alerts = deliverer(db_engine, settings, clock)

    with caplog.at_level(logging.INFO, logger=deliverer_module.__name__):
        assert timeline.run(alerts, 25 * 60, every=5) == 0

    # One post every 10 minutes, not a spin; the other channel does not try either.
    assert timeline.times() == [0, 600, 1200]
    complaints = [r for r in caplog.records if "invalid_auth" in r.getMessage()]
    assert len(complaints) == 1 and complaints[0].levelno == logging.ERROR
    assert "SLACK_BOT_TOKEN" in complaints[0].getMessage()
    one, two = alert_rows(db_engine)
    assert one["state"] == "pending" and one["last_error"].startswith("invalid_auth")
    assert (two["state"], two["attempts"]) == ("pending", 0)

    fake.clear_failures()  # the token was fixed
    assert timeline.run(alerts, 11 * 60, every=5) == 2
    assert [r["state"] for r in alert_rows(db_engine)] == ["delivered", "delivered"]


def test_blocks_slack_refuses_are_replaced_by_the_plain_message(
    db_engine: Engine, settings: Any, fake: FakeSlackAPI, clock: FakeTime
) -> None:
    body = sample_body(AlertKind.STOP_STARTED)
    record_alert(db_engine, "Emergency stop started", AlertKind.STOP_STARTED, body)
    fake.fail(POST, "invalid_blocks", times=1)

    assert deliverer(db_engine, settings, clock).deliver_due() == 1

    refused, plain = fake.calls(POST)
    assert refused.args["blocks"][0]["type"] == "header"
    assert (
        plain.args["blocks"]
        == blocks.plain("stop_started", "Emergency stop started", body)["blocks"]
    )
    assert alert_rows(db_engine)[0]["state"] == "delivered"


# ------------------------------------------------------------ at least once, never twice
def test_a_deliverer_that_dies_between_post_and_record_posts_again_after_its_claim(
    db_engine: Engine, settings: Any, fake: FakeSlackAPI, clock: FakeTime
) -> None:
    """The documented way to see an alert twice: Slack took it, the process died before
    recording so. Another deliverer posts it again once the claim expires: never lost."""
    record_alert(db_engine, "at least once")
    dying = deliverer(db_engine, settings, clock)

    def die(*_: Any) -> None:
        raise RuntimeError("the process died right after Slack's ok")

    dying._record = die  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        dying.deliver_due()
    [row] = alert_rows(db_engine)
    assert (row["state"], row["attempts"]) == ("pending", 1)

    restarted = deliverer(db_engine, settings, clock)
    clock.advance(deliverer_module.CLAIM_SECONDS - 1)
    assert restarted.deliver_due() == 0
    clock.advance(1)
    assert restarted.deliver_due() == 1
    assert len(fake.calls(POST)) == 2
    assert alert_rows(db_engine)[0]["state"] == "delivered"


def test_two_deliverers_passing_at_once_post_each_alert_once(
    db_engine: Engine, second_engine: Engine, settings: Any, fake: FakeSlackAPI, clock: FakeTime
) -> None:
    """Even without the lock (it could be lost with its connection), the claim lets only
    one of two deliverers post an alert."""
    for number in range(10):
        record_alert(db_engine, f"alert {number}", channel_id=f"C0CHANNEL{number}")
    both = [deliverer(db_engine, settings, clock), deliverer(second_engine, settings, clock)]
    start = threading.Barrier(2)
    delivered: list[int] = []

    def deliver(alerts: Any) -> None:
        start.wait()
        delivered.append(alerts.deliver_due())

    threads = [threading.Thread(target=deliver, args=(d,)) for d in both]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sum(delivered) == 10
    assert Counter(title_of(c) for c in fake.calls(POST)) == {f"alert {n}": 1 for n in range(10)}


def test_one_deliverer_runs_across_workers_and_another_takes_over(
    db_engine: Engine,
    second_engine: Engine,
    settings: Any,
    fake: FakeSlackAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deliverer_module, "LOCK_RETRY_SECONDS", 0.05)
    first, second = deliverer(db_engine, settings), deliverer(second_engine, settings)

    with running(first), running(second):
        wait_until(lambda: first.active.is_set() or second.active.is_set(), what="a deliverer")
        assert not (first.active.is_set() and second.active.is_set())
        for number in range(5):
            record_alert(db_engine, f"alert {number}", channel_id=f"C0CHANNEL{number}")
        fake.wait_for(POST, 5)
        active, standby = (first, second) if first.active.is_set() else (second, first)
        active.stop()
        wait_until(standby.active.is_set, what="the other deliverer to take over")
        record_alert(db_engine, "after the handover", channel_id="C0CHANNEL9")
        fake.wait_for(POST, 6)

    titles = Counter(title_of(c) for c in fake.calls(POST))
    assert titles == {**{f"alert {n}": 1 for n in range(5)}, "after the handover": 1}
    assert {r["state"] for r in alert_rows(db_engine)} == {"delivered"}


# -------------------------------------------------------------------------- waking up
def test_the_thread_posts_a_new_alert_promptly(
    db_engine: Engine,
    database_url: str,
    settings: Any,
    fake: FakeSlackAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL: the NOTIFY sent with the alert wakes the deliverer (its poll is set to a
    minute here, so only the NOTIFY can explain the post). SQLite: it looks every second."""
    postgres = database_url.startswith("postgresql")
    if postgres:
        monkeypatch.setattr(deliverer_module, "POSTGRES_POLL_SECONDS", 60.0)
    alerts = deliverer(db_engine, settings)

    with running(alerts):
        wait_until(alerts.active.is_set, what="the deliverer")
        if postgres:
            wait_until(alerts.listening.is_set, what="LISTEN oms_alerts")
        record_alert(db_engine, "prompt")
        fake.wait_for(POST, 1, timeout=5)
        if postgres:
            assert alerts.notifications >= 1

    assert title_of(fake.last(POST)) == "prompt"


# ---------------------------------------------------------------------- not configured
@pytest.mark.parametrize("missing", ["slack_bot_token", "slack_alerts_channel_id"])
def test_without_a_token_or_a_channel_the_deliverer_does_not_start_and_says_so_once(
    missing: str,
    db_engine: Engine,
    database_url: str,
    fake: FakeSlackAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = alert_settings(database_url, fake, **{missing: None})
    alerts = deliverer(db_engine, settings)
    record_alert(db_engine, "waits")

    with caplog.at_level(logging.INFO, logger=deliverer_module.__name__):
        assert alerts.start() is False
    alerts.stop()

    said = [r.getMessage() for r in caplog.records if "not configured" in r.getMessage()]
    assert len(said) == 1 and "pending" in said[0]
    assert alerts.deliver_due() == 0
    assert fake.calls() == []
    assert alert_rows(db_engine)[0]["state"] == "pending"


# --------------------------------------------------------------------------- secrets
@pytest.fixture
def every_log_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every logger that exists at DEBUG, propagating to the root (as LOG_LEVEL=DEBUG)."""
    saved = []
    for logger in [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]:
        saved.append((logger, logger.level, logger.propagate, logger.disabled))
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
        logger.disabled = False
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        for logger, level, propagate, disabled in saved:
            logger.setLevel(level)
            logger.propagate = propagate
            logger.disabled = disabled


def test_no_token_in_any_log_or_row_at_debug(
    db_engine: Engine,
    settings: Any,
    fake: FakeSlackAPI,
    timeline: Timeline,
    clock: FakeTime,
    every_log_at_debug: pytest.LogCaptureFixture,
) -> None:
    for title in ("ok", "limited", "down", "auth", "refused"):
        record_alert(db_engine, title, channel_id=f"C0{title.upper()}")
    fake.fail(POST, "ratelimited", times=1, status=429, headers={"Retry-After": "1"})
    alerts = deliverer(db_engine, settings, clock)
    alerts.deliver_due()  # 429
    fake.fail(POST, "service_unavailable", times=1, status=503)
    alerts.deliver_due()  # 503, then the rest of the pass
    fake.fail(POST, "channel_not_found", times=1)
    clock.advance(2)
    alerts.deliver_due()
    fake.fail(POST, "invalid_auth", times=1)
    clock.advance(2)
    alerts.deliver_due()
    nowhere = WebClient(
        token=TOKEN, base_url=f"http://127.0.0.1:{free_port()}/api/", retry_handlers=[]
    )
    record_alert(db_engine, "offline")
    deliverer(db_engine, settings, clock, client=nowhere).deliver_due()
    timeline.run(alerts, 1200, every=30)

    logged = "\n".join(
        record.getMessage() + (str(record.exc_info) if record.exc_info else "")
        for record in every_log_at_debug.records
    )
    assert len(every_log_at_debug.records) > 5 and fake.calls(POST)
    stored = " ".join(str(r["last_error"]) for r in alert_rows(db_engine))
    for start in range(len(TOKEN) - 7):
        fragment = TOKEN[start : start + 8]
        assert fragment not in logged, fragment
        assert fragment not in stored, fragment
