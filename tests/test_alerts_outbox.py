"""The alert outbox: an alert is recorded with the transaction that causes it or not at all,
once per dedupe key, with a JSON body of exact values; on PostgreSQL its NOTIFY is sent at
commit only. And the settings that turn alerts on and point them at Slack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import Engine

from oms_api.alerts.outbox import (
    ALERTS,
    NOTIFY_CHANNEL,
    AlertKind,
    Severity,
    alert_values,
    enqueue,
    wanted,
)
from oms_api.config import ConfigError, load_settings
from tests.alerts_support import alert_rows, record_alert, sample_body

APP_TOKEN = "xapp" + "-1-A0-1-abc"  # an app token, not a bot token (fake)


def test_an_alert_is_one_pending_row_with_exact_json_values(db_engine: Engine) -> None:
    when = datetime(2026, 11, 29, 10, 0, tzinfo=timezone(timedelta(hours=-5)))
    body = {
        "mode": "PAPER",
        "daily_pl": Decimal("-1234.50"),
        "limit": Decimal("1000"),
        "fraction": Decimal("1.2345"),
        "at": when,
        "kind": AlertKind.HALTED,
        "symbols": [{"qty": Decimal("0.000000001")}],
    }
    with db_engine.begin() as connection:
        enqueue(
            connection,
            AlertKind.LOSS_LIMIT_BREACH,
            "Daily loss limit breached",
            body,
            severity="critical",
        )

    [row] = alert_rows(db_engine)
    assert row["body"] == {
        "mode": "PAPER",
        "daily_pl": "-1234.50",
        "limit": "1000",
        "fraction": "1.2345",
        "at": "2026-11-29T15:00:00+00:00",
        "kind": "halted",
        "symbols": [{"qty": "0.000000001"}],
    }
    assert (row["kind"], row["severity"], row["state"], row["attempts"]) == (
        "loss_limit_breach",
        "critical",
        "pending",
        0,
    )
    assert row["channel_id"] is None and row["slack_ts"] is None
    assert abs(row["created_at"] - datetime.now(UTC)) < timedelta(minutes=1)


def test_an_alert_rolls_back_with_its_transaction(db_engine: Engine) -> None:
    with pytest.raises(RuntimeError), db_engine.begin() as connection:
        enqueue(connection, AlertKind.HALTED, "Trading halted", sample_body(AlertKind.HALTED))
        raise RuntimeError("the halt could not be recorded")

    assert alert_rows(db_engine) == []


def test_a_dedupe_key_records_an_alert_once(db_engine: Engine) -> None:
    warning = sample_body(AlertKind.LOSS_LIMIT_WARNING)
    for _ in range(2):
        record_alert(
            db_engine, "Near", AlertKind.LOSS_LIMIT_WARNING, warning, dedupe_key="loss:2026-11-29"
        )
    with db_engine.begin() as connection:  # twice in one transaction too
        for _ in range(2):
            enqueue(
                connection,
                AlertKind.LOSS_LIMIT_WARNING,
                "Near",
                warning,
                dedupe_key="loss:2026-11-30",
            )
    record_alert(db_engine, "Halted")  # no key: every one is recorded
    record_alert(db_engine, "Halted")

    assert [(r["title"], r["dedupe_key"]) for r in alert_rows(db_engine)] == [
        ("Near", "loss:2026-11-29"),
        ("Near", "loss:2026-11-30"),
        ("Halted", None),
        ("Halted", None),
    ]


def test_alert_values_fit_an_insert_of_ones_own(db_engine: Engine) -> None:
    values = alert_values(
        AlertKind.ORDER_FILLED,
        "Order filled",
        sample_body(AlertKind.ORDER_FILLED, filled_avg_price=Decimal("123.45")),
        channel_id="C0FILLS",
    )
    assert set(values) == {c.name for c in ALERTS.columns} - {"id"}
    with db_engine.begin() as connection:
        connection.execute(ALERTS.insert().values(values))

    [row] = alert_rows(db_engine)
    assert (row["kind"], row["channel_id"], row["state"]) == ("order_filled", "C0FILLS", "pending")
    assert row["body"]["filled_avg_price"] == "123.45"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"body": {"reason": "no mode"}}, ValueError),
        ({"body": {"mode": "paper"}}, ValueError),
        ({"kind": "coffee_break"}, ValueError),
        ({"severity": "urgent"}, ValueError),
        ({"dedupe_key": "k" * 101}, ValueError),
        ({"dedupe_key": ""}, ValueError),
        ({"channel_id": "C" * 41}, ValueError),
        ({"body": {"mode": "LIVE", "price": 1.1}}, TypeError),
        ({"body": {"mode": "LIVE", "price": Decimal("NaN")}}, ValueError),
        ({"body": {"mode": "LIVE", "at": datetime(2026, 1, 1)}}, ValueError),
        ({"body": {"mode": "LIVE", "who": object()}}, TypeError),
    ],
)
def test_a_callers_mistake_is_refused_before_anything_is_written(
    change: dict[str, Any], error: type[Exception]
) -> None:
    arguments: dict[str, Any] = {
        "kind": AlertKind.HALTED,
        "title": "Trading halted",
        "body": sample_body(AlertKind.HALTED),
        **change,
    }
    with pytest.raises(error):
        alert_values(
            arguments.pop("kind"), arguments.pop("title"), arguments.pop("body"), **arguments
        )


def test_a_long_title_is_cut_not_refused() -> None:
    values = alert_values(AlertKind.HALTED, "Halted: " + "x" * 500, sample_body(AlertKind.HALTED))
    assert len(values["title"]) == 200 and values["title"].endswith("…")
    assert Severity(values["severity"]) is Severity.INFO


@pytest.mark.parametrize(
    ("setting", "kind"),
    [("alert_on_fills", AlertKind.ORDER_FILLED), ("alert_on_rejections", AlertKind.ORDER_REJECTED)],
)
def test_fill_and_rejection_alerts_can_be_turned_off(setting: str, kind: AlertKind) -> None:
    assert wanted(kind, load_settings(_env_file=None))
    off = load_settings(_env_file=None, **{setting: "false"})
    assert not wanted(kind, off)
    assert all(wanted(k, off) for k in AlertKind if k is not kind)


@pytest.mark.postgres
def test_on_postgresql_the_notify_is_sent_at_commit_only(
    db_engine: Engine, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("this run's database is SQLite; NOTIFY is PostgreSQL's")
    conninfo = db_engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")

        def heard() -> list[str]:
            return [n.payload for n in listener.notifies(timeout=0.2)]

        with db_engine.connect() as connection:
            transaction = connection.begin()
            enqueue(connection, AlertKind.HALTED, "kept", sample_body(AlertKind.HALTED))
            assert heard() == []  # not before the commit
            transaction.commit()
        [kept] = alert_rows(db_engine)
        assert heard() == [str(kept["id"])]

        with pytest.raises(RuntimeError), db_engine.begin() as connection:
            enqueue(connection, AlertKind.HALTED, "dropped", sample_body(AlertKind.HALTED))
            raise RuntimeError("rolled back")
        assert heard() == []

        record_alert(db_engine, "once", dedupe_key="k")
        assert len(heard()) == 1
        record_alert(db_engine, "once", dedupe_key="k")  # nothing recorded: nothing said
        assert heard() == []


# --------------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    ("values", "variable", "fragment"),
    [
        ({"slack_bot_token": APP_TOKEN}, "SLACK_BOT_TOKEN", "starting with xoxb-"),
        ({"slack_alerts_channel_id": "#trading"}, "SLACK_ALERTS_CHANNEL_ID", "C0123ABCD"),
        ({"slack_alerts_channel_id": "U0123ABCD"}, "SLACK_ALERTS_CHANNEL_ID", "not a Slack"),
        ({"slack_api_url": "slack.com/api"}, "SLACK_API_URL", "http(s)://"),
        ({"alert_on_fills": "sometimes"}, "ALERT_ON_FILLS", "boolean"),
        ({"alert_on_rejections": "2"}, "ALERT_ON_REJECTIONS", "boolean"),
    ],
)
def test_bad_alert_settings_fail_with_one_line_naming_the_variable(
    values: dict[str, str], variable: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(_env_file=None, **values)
    message = str(raised.value)
    assert message.startswith(f"configuration error: {variable}: ") and fragment in message
    assert "\n" not in message
    assert APP_TOKEN not in message  # the refused token is not repeated


def test_alert_settings_defaults_and_blanks() -> None:
    defaults = load_settings(_env_file=None)
    assert (defaults.slack_bot_token, defaults.slack_alerts_channel_id) == (None, None)
    assert defaults.slack_api_url == "https://slack.com/api/"
    assert defaults.alert_on_fills and defaults.alert_on_rejections
    blank = load_settings(
        _env_file=None, slack_bot_token=" ", slack_alerts_channel_id="", slack_api_url=""
    )
    assert (blank.slack_bot_token, blank.slack_alerts_channel_id) == (None, None)
    assert blank.slack_api_url == "https://slack.com/api/"
    set_ = load_settings(
        _env_file=None,
        slack_bot_token="xoxb-1-2-abc",
        slack_alerts_channel_id=" G0PRIVATE ",
        slack_api_url="http://127.0.0.1:9/api",
    )
    assert set_.slack_alerts_channel_id == "G0PRIVATE"
    assert set_.slack_api_url == "http://127.0.0.1:9/api/"
    assert "xoxb-1-2-abc" not in repr(set_)
