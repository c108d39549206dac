"""The alert messages, apart from delivery: every kind builds a message Slack accepts (each
block through slack_sdk's models, at most 50 blocks, sections within 3000 characters), says
the mode, who and why, and stays within the limits in the worst cases (60 and 500 symbols,
reasons of 10,000 characters, names in any script); people's text can never ping a channel."""

from __future__ import annotations

import re
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from oms_api.alerts import blocks
from oms_api.alerts.outbox import AlertKind
from tests.alerts_support import T0, sample_body

DATE_TOKEN = re.compile(r"<!date\^(\d+)\^\{[a-z_]+\} \{[a-z_]+\}\|[^>]+>")


def assert_valid(message: dict[str, Any]) -> None:
    """What Slack would refuse: a block its models reject, too many blocks, long texts."""
    assert message["text"] and len(message["text"]) <= 3000
    assert 0 < len(message["blocks"]) <= 50
    for block in message["blocks"]:
        assert Block.parse(block).to_dict() == block  # to_dict() checks Slack's limits
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150


def texts(value: Any, kind: str | None = None) -> list[str]:
    """Every text object's text in the blocks (only `mrkdwn` ones when kind says so)."""
    if isinstance(value, list):
        return [text for item in value for text in texts(item, kind)]
    if not isinstance(value, dict):
        return []
    found = []
    if value.get("type") in ("mrkdwn", "plain_text") and kind in (None, value["type"]):
        found.append(value["text"])
    for item in value.values():
        found += texts(item, kind)
    return found


def all_text(message: dict[str, Any]) -> str:
    return "\n".join([message["text"], *texts(message["blocks"])])


def stop_body(count: int, *, mode: str = "PAPER", **changes: Any) -> dict[str, Any]:
    """A finished stop over `count` symbols: every third one failed with a note."""
    symbols = [
        {
            "symbol": f"SYM{number:03d}",
            "side": "long" if number % 2 else "short",
            "qty_before": "1234.5",
            "filled_qty": "0" if number % 3 == 0 else "1234.5",
            "fill_price": None if number % 3 == 0 else "98765.4321",
            "outcome": "failed" if number % 3 == 0 else "closed",
            "note": "the broker refused: asset not tradable" if number % 3 == 0 else None,
        }
        for number in range(count)
    ]
    return sample_body(AlertKind.STOP_INCOMPLETE, mode, symbols=symbols, **changes)


@pytest.mark.parametrize("kind", list(AlertKind))
@pytest.mark.parametrize("mode", ["SIMULATOR", "PAPER", "LIVE"])
def test_every_kind_builds_a_valid_message_that_says_the_mode(kind: AlertKind, mode: str) -> None:
    message = blocks.render(kind.value, "A title", sample_body(kind, mode), T0)

    assert_valid(message)
    assert message["blocks"][0]["type"] == "header"
    assert message["blocks"][0]["text"]["text"].endswith("A title")
    badge = message["blocks"][1]["elements"][0]["text"]
    assert {
        "SIMULATOR": "*SIMULATOR* (a local simulated broker",
        "PAPER": "*PAPER*",
        "LIVE": "*LIVE — real money*",
    }[mode] in badge
    assert DATE_TOKEN.search(badge)  # when it happened, in each reader's zone
    expected_tag = "[LIVE — real money] " if mode == "LIVE" else f"[{mode}] "
    assert message["text"].startswith(expected_tag + "A title")


@pytest.mark.parametrize("kind", list(AlertKind))
def test_a_body_missing_its_fields_still_builds(kind: AlertKind) -> None:
    message = blocks.render(kind.value, "", {"mode": "PAPER"})

    assert_valid(message)
    assert message["blocks"][0]["text"]["text"].endswith(blocks.DEFAULT_TITLES[kind])


def test_an_unknown_kind_is_posted_plain_with_its_title() -> None:
    message = blocks.render("new_kind", "Something new", {"mode": "LIVE"})

    assert_valid(message)
    assert message["text"] == "[LIVE — real money] Something new"
    assert "GET /api/v1/alerts" in all_text(message)


def test_the_halted_alert_carries_the_resume_button_with_a_confirm_dialog() -> None:
    message = blocks.halted(sample_body(AlertKind.HALTED, stop_id=7), "Trading halted")

    actions = message["blocks"][-1]
    assert actions["type"] == "actions"
    [button] = actions["elements"]
    assert button["action_id"] == "controls_resume"
    assert button["style"] == "primary"
    confirm = button["confirm"]
    assert confirm["title"]["text"] == "Resume trading?"
    assert confirm["text"]["text"] == "New orders will be accepted again."
    text = all_text(message)
    assert "emergency stop #7" in text and "*Ada* (U0ADMIN)" in text and "news pending" in text


@pytest.mark.parametrize("kind", [k for k in AlertKind if k is not AlertKind.HALTED])
def test_only_the_halted_alert_has_buttons(kind: AlertKind) -> None:
    message = blocks.render(kind.value, "t", sample_body(kind))
    assert all(block["type"] != "actions" for block in message["blocks"])


def test_a_stop_result_says_who_why_when_and_each_symbol() -> None:
    message = blocks.stop_finished(sample_body(AlertKind.STOP_FINISHED), "Emergency stop finished")

    text = all_text(message)
    assert ":white_check_mark: *Flat*" in text and "stays halted" in text
    assert "*Ada* (U0ADMIN)" in text and "*Why:* flash crash" in text
    started, finished = (int(ts) for ts in DATE_TOKEN.findall(text)[-2:])
    assert (started, finished) == (int(T0.timestamp()), int(T0.timestamp()) + 42)
    assert "(42 s)" in text
    table = next(b["text"]["text"] for b in message["blocks"] if "```" in str(b))
    assert re.search(r"AAPL\s+long\s+10\s+10\s+\$1,234\.50\s+closed", table)
    assert message["text"] == "[PAPER] Emergency stop finished — flat; 1 symbol(s): 1 closed"


def test_sixty_symbols_fit_one_message_problems_first() -> None:
    message = blocks.stop_incomplete(stop_body(60), "Emergency stop incomplete")

    assert_valid(message)
    tables = [
        b["text"]["text"]
        for b in message["blocks"]
        if b.get("text", {}).get("text", "").startswith("```")
    ]
    rows = [line for table in tables for line in table.splitlines() if re.match(r"SYM\d", line)]
    assert sorted(row.split()[0] for row in rows) == [f"SYM{n:03d}" for n in range(60)]
    outcomes = [row.split()[-1] for row in rows]
    assert outcomes == sorted(outcomes, key=lambda o: o != "failed")  # failed ones first
    assert "$98,765.43" in tables[-1]
    assert "20 failed" in all_text(message) and "40 closed" in all_text(message)


def test_five_hundred_symbols_are_summarised_beyond_the_table() -> None:
    message = blocks.stop_incomplete(stop_body(500), "Emergency stop incomplete")

    assert_valid(message)
    text = all_text(message)
    shown = len(re.findall(r"SYM\d{3}\s+(?:long|short)", text))
    summary = re.search(r"…and (\d+) more symbols \((.+?)\)\.", text)
    assert summary is not None and shown + int(summary.group(1)) == 500
    assert "…and" in text and "more notes" in text


def test_long_reasons_and_unicode_names_stay_within_the_limits() -> None:
    reason = "Ünïcode — 市場の急落 🚨 " * 500  # about 10,000 characters
    name = "Zoë Ñúñez-李 🧑🏽‍💻 \u05e9\u05dc\u05d5\u05dd" * 3
    for kind, body in [
        (AlertKind.STOP_STARTED, {"reason": reason, "requested_by_name": name}),
        (AlertKind.HALTED, {"reason": reason, "by_name": name}),
        (AlertKind.RESUMED, {"reason": reason, "by_name": name}),
        (AlertKind.PORTFOLIO_PAUSED, {"reason": reason, "by_name": name, "portfolio": name}),
        (AlertKind.ORDER_REJECTED, {"message": reason}),
    ]:
        message = blocks.render(kind.value, reason, sample_body(kind, **body))
        assert_valid(message)
        text = all_text(message)
        assert "Ünïcode — 市場の急落 🚨" in text and "…" in text
        if kind is not AlertKind.ORDER_REJECTED:
            assert "Zoë Ñúñez-李 🧑🏽‍💻" in text
    stop = stop_body(60, reason=reason, requested_by_name=name)
    for item in stop["symbols"]:
        item["note"] = reason
    assert_valid(blocks.stop_incomplete(stop, reason))


def test_peoples_text_cannot_ping_or_link() -> None:
    sneaky = "<!channel> see <https://evil.example|this> & <@U0BOSS>"
    body = sample_body(AlertKind.HALTED, reason=sneaky, by_name=sneaky)
    stop = stop_body(3, reason=sneaky, requested_by_name=sneaky)
    stop["symbols"][0]["note"] = sneaky
    for message in (blocks.halted(body, sneaky), blocks.stop_incomplete(stop, sneaky)):
        # Slack reads mentions and links in mrkdwn (and the notification text); plain_text
        # (the header) shows them as typed.
        text = "\n".join([message["text"], *texts(message["blocks"], "mrkdwn")])
        assert "<!channel>" not in text and "<@U0BOSS>" not in text and "<https" not in text
        assert "&lt;!channel&gt;" in text


def test_people_are_named_not_mentioned() -> None:
    message = blocks.resumed(sample_body(AlertKind.RESUMED), "Trading resumed")
    assert "*Ada* (U0ADMIN)" in all_text(message) and "<@" not in all_text(message)
    automatic = blocks.halted(sample_body(AlertKind.HALTED, by="system", by_name=None), "t")
    assert "*the OMS itself*" in all_text(automatic)


def test_money_reads_for_people() -> None:
    warning = blocks.loss_limit_warning(sample_body(AlertKind.LOSS_LIMIT_WARNING), "Near")
    breach = blocks.loss_limit_breach(sample_body(AlertKind.LOSS_LIMIT_BREACH), "Breach")
    filled = blocks.order_filled(sample_body(AlertKind.ORDER_FILLED), "Filled")
    notional = blocks.order_rejected(
        sample_body(AlertKind.ORDER_REJECTED, qty=None, notional="1500"), "Rejected"
    )

    assert "at 80.0\u00a0% of the $1,000.00 daily loss limit" in all_text(warning)
    assert "-$800.00" in all_text(warning)
    assert "-$1,234.50" in all_text(breach) and "123.4\u00a0%" in all_text(breach)
    assert "*BUY 10 AAPL* at $123.45 — $1,234.50" in all_text(filled)
    assert "BUY $1,500.00 of AAPL" in all_text(notional)
    assert "`insufficient_buying_power`" in all_text(notional)
