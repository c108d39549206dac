"""Signature before anything: /slack/events checks Slack's signature on the raw bytes before it
decodes or parses them. Over real HTTP, with the real bolt app behind the endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from slack_bot.config import BotConfigError, BotSettings
from slack_bot.oms_client import OmsClient
from slack_bot.server import create_http_app
from tests.oms import TOKEN
from tests.slack_fakes import SlackRequestSigner
from tests.slack_harness import (
    OMS_URL,
    SECRET,
    TRADER,
    Bot,
    mocked_oms_router,
    running_bot,
    text_of,
)

NOT_UTF8 = b"command=%2Foms&text=\xff\xfe\xc3(&user_id=" + TRADER.encode()
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def bot() -> Iterator[Bot]:
    with mocked_oms_router(), running_bot(OmsClient(OMS_URL, TOKEN)) as running:
        yield running


def _post(bot: Bot, body: bytes, headers: dict) -> int:
    response = bot.server.post_signed(body, {"Content-Type": FORM, **headers})
    return response.status_code


def test_signature_before_anything_unsigned_body_that_is_not_utf8_is_401(bot: Bot) -> None:
    assert _post(bot, NOT_UTF8, {}) == 401
    assert bot.slack.calls() == []


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        ("now", "v0=" + "0" * 64),  # wrong signature
        ("now", None),  # no signature
        (None, "valid"),  # no timestamp
        ("not-a-number", "valid"),  # slack_sdk/bolt would int() it and fail with a 500
        ("+1700000000", "valid"),  # int() would read it; Slack never sends it
        ("now", "v0=\u00e9\u00e9"),  # not ASCII (latin-1 on the wire)
        ("old", "valid"),  # a replay: the right signature, six minutes late
    ],
)
def test_signature_before_anything_bad_or_missing_signature_is_401_whatever_the_body(
    bot: Bot, timestamp: str | None, signature: str | None
) -> None:
    for body in (NOT_UTF8, urlencode({"command": "/oms", "text": "help"}).encode()):
        signed = SlackRequestSigner(
            SECRET, clock=lambda: time.time() - (360 if timestamp == "old" else 0)
        ).sign(body)
        headers: dict[str, str | bytes] = {}
        if timestamp is not None:
            headers["X-Slack-Request-Timestamp"] = (
                signed["X-Slack-Request-Timestamp"]
                if timestamp in ("now", "old")
                else timestamp.encode()
            )
        if signature is not None:
            headers["X-Slack-Signature"] = (
                signed["X-Slack-Signature"] if signature == "valid" else signature.encode("latin-1")
            )
        assert _post(bot, body, headers) == 401, (timestamp, signature, body)
    assert bot.slack.calls() == []


def test_signature_before_anything_signed_body_that_is_not_utf8_is_400(bot: Bot) -> None:
    response = bot.server.post_signed(NOT_UTF8, bot.signer.sign(NOT_UTF8))
    assert response.status_code == 400
    assert "UTF-8" in response.json()["error"]
    assert bot.slack.calls() == []


@pytest.mark.parametrize("payload", ["not json", "[1, 2]", '"text"'])
def test_signature_before_anything_signed_body_that_is_no_slack_payload_is_400(
    bot: Bot, payload: str
) -> None:
    body = urlencode({"payload": payload}).encode()
    response = bot.server.post_signed(body, bot.signer.sign(body))
    assert response.status_code == 400
    assert bot.slack.calls() == []


def test_signature_before_anything_a_good_request_still_works(bot: Bot) -> None:
    assert bot.command("/oms", "help").status_code == 200
    reply = bot.slack.wait_for("response_url")
    assert "/trade" in text_of(reply[-1].args)


def test_signature_before_anything_http_mode_never_runs_without_a_signing_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    settings = BotSettings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token="xoxb-test",
        oms_url=OMS_URL,
    )
    with pytest.raises(BotConfigError) as refused:
        create_http_app(settings)
    assert "SLACK_SIGNING_SECRET" in str(refused.value)
