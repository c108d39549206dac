"""What a trader reads when the OMS refuses: one sentence saying what happened, whether
anything was sent and when to try again; never the OMS's internal wording."""

from __future__ import annotations

import pytest

from slack_bot import wording

BUDGET_TEXT = (
    "the OMS is pacing its requests to the broker (Alpaca allows 200 a minute) — nothing was "
    "sent; try again in 30 s"
)
INTERNAL = ("budget", "client-side", "slot", "Errno", "ConnectError", "pacing")


def _clean(sentence: str) -> str:
    for words in INTERNAL:
        assert words not in sentence
    assert sentence[0].isupper() and sentence.endswith(".")
    return sentence


@pytest.mark.parametrize(
    ("code", "details", "expected"),
    [
        (
            "broker_busy",
            {"retry_after_seconds": 30},
            "The broker is busy right now (Alpaca allows 200 requests a minute), so positions "
            "could not be read. Try again in 30 s.",
        ),
        (
            "broker_unavailable",
            {},
            "The broker could not be reached to read positions. Try again in a minute.",
        ),
        (
            "database_unavailable",
            {},
            "The OMS's database is not answering, so positions could not be read. "
            "Try again in a minute.",
        ),
    ],
)
def test_reads_say_what_could_not_be_read_and_when_to_retry(
    code: str, details: dict, expected: str
) -> None:
    message = "broker unavailable while reading positions: client-side request budget exhausted"
    assert _clean(wording.read_error(code, message, details, "positions")) == expected


@pytest.mark.parametrize(
    ("code", "details", "says"),
    [
        ("broker_busy", {"retry_after_seconds": 29.7}, "Nothing was sent — try again in 30 s."),
        ("broker_busy", {}, "Nothing was sent — try again in a minute."),
        (
            "broker_unavailable",
            {"trade": {"status": "not_sent"}},
            "The broker could not be reached. Nothing was sent",
        ),
        ("outcome_unknown", {"trade": {"status": "unknown"}}, "Do not place it again"),
        ("database_unavailable", {}, "Nothing was sent — try again in a minute."),
        (
            "database_unavailable",
            {"trade_id": 7, "client_order_id": "oms-7"},
            "The order reached the broker, but the OMS's database stopped answering",
        ),
        ("stale_unsent", {"trade": {"status": "not_sent"}}, "Nothing was sent"),
        ("internal_error", {}, "ask an OMS admin to look at its log"),
    ],
)
def test_trades_say_whether_anything_was_sent(code: str, details: dict, says: str) -> None:
    assert says in _clean(wording.trade_error(code, BUDGET_TEXT, details))


def test_a_refused_cancel_never_claims_the_order_is_safe() -> None:
    busy = wording.trade_error("broker_busy", BUDGET_TEXT, {"retry_after_seconds": 5}, cancel=True)
    assert "may still be working" in _clean(busy) and "Check /orders in 5 s." in busy
    down = wording.trade_error("broker_unavailable", "x", {}, cancel=True)
    assert "may still be working" in _clean(down)


def test_the_brokers_own_reasons_pass_through_as_a_sentence() -> None:
    text = "the broker refused the order: insufficient buying power"
    assert wording.trade_error("insufficient_buying_power", text, {}) == (
        "The broker refused the order: insufficient buying power."
    )
    assert wording.read_error("invalid_symbol", "invalid symbol: ZZZZ", {}, "the price") == (
        "Invalid symbol: ZZZZ."
    )
    assert wording.retry_after({"retry_after_seconds": True}) == "in a minute"
