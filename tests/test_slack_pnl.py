"""/pnl end to end, in both Slack modes: the real bolt app, the local fake of Slack's Web API
(files.getUploadURLExternal, the upload itself, files.completeUploadExternal) and the OMS's
GET /pnl mocked with respx. The chart reaches the channel byte for byte with the figures in
its message; a refused upload still gives the figures, with what to do about it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block

from slack_bot.blocks.pnl import pnl_comment, pnl_without_chart_message
from slack_bot.charts.pnl import render_pnl_chart, series_from_api
from slack_bot.listeners.commands.pnl import PnlRequest, parse_pnl_text
from slack_bot.listeners.common import UserFacingError
from slack_bot.oms_client import OmsClient
from tests.oms import TOKEN
from tests.slack_fakes import FakeSlackAPI
from tests.slack_harness import (
    CHANNEL,
    MODES,
    OMS_URL,
    STRANGER,
    Bot,
    mocked_oms_router,
    running_bot,
    text_of,
)

PNL = {
    "portfolio": "alpha",
    "period": "week",
    "since": "2025-11-17T05:00:00Z",
    "points": [
        {"at": "2025-11-17T21:00:00Z", "realized_pnl": "0", "total_pnl": "-120.00"},
        {"at": "2025-11-18T21:00:00Z", "realized_pnl": "400.00", "total_pnl": "310.50"},
        {"at": "2025-11-21T21:00:00Z", "realized_pnl": "1234.50", "total_pnl": "1034.50"},
    ],
    "realized_pnl": "1234.50",
    "unrealized_pnl": "-200.00",
    "total_pnl": "1034.50",
}
FIGURES = "Realized *+$1,234.50* · Unrealized *-$200.00* · Total *+$1,034.50*"
LAST_POINT = int(datetime(2025, 11, 21, 21, 0, tzinfo=UTC).timestamp())


@pytest.fixture
def oms_api() -> Iterator[respx.MockRouter]:
    with mocked_oms_router() as router:
        yield router


@pytest.fixture(params=MODES)
def bot(request: pytest.FixtureRequest, oms_api: respx.MockRouter) -> Iterator[Bot]:
    with running_bot(OmsClient(OMS_URL, TOKEN), request.param) as bot:
        yield bot


def pnl_route(oms_api: respx.MockRouter, body: dict[str, Any] = PNL) -> respx.Route:
    return oms_api.get("/pnl").respond(200, json=body)


# ---------------------------------------------------------------------------- the chart
def test_pnl_uploads_the_chart_to_the_channel_with_the_figures(
    bot: Bot, oms_api: respx.MockRouter
) -> None:
    asked = pnl_route(oms_api)
    assert bot.command("/pnl", "alpha week").status_code == 200

    [done] = bot.slack.wait_for("files.completeUploadExternal")
    assert dict(asked.calls.last.request.url.params) == {"period": "week", "portfolio": "alpha"}
    [shared] = bot.slack.uploaded_files()
    # The bytes that reached Slack are the chart of the OMS's answer, unchanged.
    assert shared.content == render_pnl_chart(series_from_api(PNL))
    assert shared.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert shared.channel_id == CHANNEL
    assert shared.filename == "pnl-alpha-week.png" and shared.title == "alpha P&L this week"
    comment = shared.initial_comment or ""
    assert comment.startswith("Portfolio *alpha* P&L this week (since <!date^1763355600^")
    assert FIGURES in comment
    assert f"as of <!date^{LAST_POINT}^" in comment
    # Slack's three steps, in order: the upload URL, the bytes, the share.
    methods = [c.method for c in bot.slack.calls() if c.method.startswith("file")]
    assert methods == ["files.getUploadURLExternal", "file_upload", "files.completeUploadExternal"]
    assert bot.slack.last("file_upload").args["size"] == len(shared.content)
    assert done.args["channel_id"] == CHANNEL


def test_pnl_without_words_is_the_desk_today(bot: Bot, oms_api: respx.MockRouter) -> None:
    desk = {**PNL, "portfolio": None, "period": "day", "since": "2025-11-21T05:00:00Z"}
    asked = pnl_route(oms_api, desk)
    bot.command("/pnl")
    bot.slack.wait_for("files.completeUploadExternal")
    assert dict(asked.calls.last.request.url.params) == {"period": "day"}
    [shared] = bot.slack.uploaded_files()
    assert shared.filename == "pnl-desk-day.png"
    assert (shared.initial_comment or "").startswith("*Desk* P&L today (since <!date^")


def test_a_period_without_fills_still_uploads_a_chart_that_says_so(
    bot: Bot, oms_api: respx.MockRouter
) -> None:
    empty = {**PNL, "points": [], "realized_pnl": "0", "unrealized_pnl": "0", "total_pnl": "0"}
    pnl_route(oms_api, empty)
    bot.command("/pnl", "alpha month")
    bot.slack.wait_for("files.completeUploadExternal")
    [shared] = bot.slack.uploaded_files()
    assert shared.content == render_pnl_chart(series_from_api(empty))
    comment = shared.initial_comment or ""
    assert "Realized *$0.00* · Unrealized *$0.00* · Total *$0.00*" in comment
    # No point to date the figures: the bot's clock does.
    assert f"as of <!date^{int(bot.clock.now)}^" in comment


def test_the_command_is_acked_before_the_oms_answers(bot: Bot, oms_api: respx.MockRouter) -> None:
    release, answered = threading.Event(), threading.Event()

    def slow_oms(_request: httpx.Request) -> httpx.Response:
        release.wait(10)  # bounded: a bot that waits for this before acking fails below
        answered.set()
        return httpx.Response(200, json=PNL)

    oms_api.get("/pnl").mock(side_effect=slow_oms)
    assert bot.command("/pnl", "alpha week").status_code == 200
    assert not answered.is_set(), "Slack got its ack only after the OMS answered"
    release.set()
    bot.slack.wait_for("files.completeUploadExternal")
    assert len(bot.slack.uploaded_files()) == 1


# ---------------------------------------------------------------------------- refused uploads
@pytest.mark.parametrize(
    ("method", "error", "advice"),
    [
        ("files.completeUploadExternal", "not_in_channel", "I am not in this channel. Invite me"),
        ("files.getUploadURLExternal", "missing_scope", "lacks the files:write permission"),
        ("files.completeUploadExternal", "is_archived", "this channel is archived"),
        ("files.getUploadURLExternal", "ratelimited", "Slack refused the chart upload"),
        ("file_upload", "upload_failed", "Slack could not be reached to upload the chart"),
    ],
)
def test_a_refused_upload_says_what_to_do_and_still_gives_the_figures(
    bot: Bot, oms_api: respx.MockRouter, method: str, error: str, advice: str
) -> None:
    pnl_route(oms_api)
    bot.slack.fail(method, error)
    bot.command("/pnl", "alpha week")
    told = bot.wait_reply("pnl")
    text = text_of(told)
    assert told["response_type"] == "ephemeral"
    assert advice in text and FIGURES in text
    assert "Portfolio *alpha* P&L this week" in text and f"as of <!date^{LAST_POINT}^" in text
    assert bot.slack.uploaded_files() == []


# ---------------------------------------------------------------------------- bad input, OMS
@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("alpha beta", "names no period"),
        ("Alpha! week", "is not a portfolio name"),
        ("alpha week please", "Too many words"),
    ],
)
def test_words_it_cannot_read_get_the_usage_and_ask_nothing(
    bot: Bot, oms_api: respx.MockRouter, text: str, says: str
) -> None:
    asked = pnl_route(oms_api)
    bot.command("/pnl", text)
    told = text_of(bot.wait_reply("pnl"))
    assert says in told and "/pnl [portfolio] [day|week|month|all]" in told
    assert asked.call_count == 0
    assert bot.slack.calls("files.getUploadURLExternal") == []


def test_an_unknown_portfolio_or_an_oms_that_is_down_is_said_in_one_sentence(
    bot: Bot, oms_api: respx.MockRouter
) -> None:
    oms_api.get("/pnl").mock(
        side_effect=[
            httpx.Response(
                404,
                json={
                    "error": {
                        "code": "portfolio_not_found",
                        "message": "no portfolio named ghost",
                        "details": {"portfolio": "ghost"},
                    }
                },
            ),
            httpx.ConnectError("refused"),
        ]
    )
    bot.command("/pnl", "ghost")
    assert "No portfolio named ghost." in text_of(bot.wait_reply("pnl"))
    bot.command("/pnl", "week")
    assert "OMS unavailable" in text_of(bot.wait_reply("pnl", 2))
    assert bot.slack.calls("files.getUploadURLExternal") == []


def test_someone_who_may_not_read_is_refused_before_the_oms_is_asked(
    bot: Bot, oms_api: respx.MockRouter
) -> None:
    asked = pnl_route(oms_api)
    oms_api.post("/audit/refusals").respond(201, json={"id": 1})
    bot.command("/pnl", "alpha", user=STRANGER)
    assert "not allowed" in text_of(bot.wait_reply("pnl"))
    assert asked.call_count == 0


# ---------------------------------------------------------------------------- pieces
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", PnlRequest(None, "day")),
        ("week", PnlRequest(None, "week")),
        ("ALL", PnlRequest(None, "all")),
        ("alpha", PnlRequest("alpha", "day")),
        ("  Alpha   Month ", PnlRequest("alpha", "month")),
        ("week week", PnlRequest("week", "week")),  # a portfolio named like a period
        ("desk-2_b day", PnlRequest("desk-2_b", "day")),
    ],
)
def test_pnl_words(text: str, expected: PnlRequest) -> None:
    assert parse_pnl_text(text) == expected


@pytest.mark.parametrize("text", ["a b c", "alpha beta", "-alpha", "x" * 41, "<@U1> week"])
def test_pnl_words_refused(text: str) -> None:
    with pytest.raises(UserFacingError):
        parse_pnl_text(text)


def test_figures_are_the_oms_formatted_and_missing_ones_show_a_dash() -> None:
    at = datetime(2025, 11, 21, 21, 0, tzinfo=UTC)
    unknown = {**PNL, "unrealized_pnl": None, "total_pnl": None, "portfolio": "<!channel>"}
    comment = pnl_comment(unknown, at)
    assert "Realized *+$1,234.50* · Unrealized *—* · Total *—*" in comment
    assert "<!channel>" not in comment and "&lt;!channel&gt;" in comment
    message = pnl_without_chart_message(PNL, at, "Slack is down.")
    for block in message["blocks"]:
        Block.parse(block).to_dict()  # type: ignore[union-attr]  # slack_sdk's own checks
    assert FIGURES.replace("*", "") in message["text"]


def test_the_fake_keeps_what_slack_sdk_uploads_and_refuses_a_share_without_bytes() -> None:
    with FakeSlackAPI() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        client.files_upload_v2(
            channel=CHANNEL,
            file=b"\x89PNG fake bytes",
            filename="chart.png",
            title="Chart",
            initial_comment="Here it is",
        )
        [shared] = slack.uploaded_files()
        assert (shared.content, shared.filename, shared.title) == (
            b"\x89PNG fake bytes",
            "chart.png",
            "Chart",
        )
        assert (shared.channel_id, shared.initial_comment) == (CHANNEL, "Here it is")
        with pytest.raises(SlackApiError) as refused:
            client.files_completeUploadExternal(files=[{"id": "FNOTUPLOADED"}], channel_id=CHANNEL)
        assert refused.value.response["error"] == "file_not_found"
        assert len(slack.uploaded_files()) == 1
