"""The offline Slack fakes behave like Slack for the slack_sdk clients the bot uses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.webhook import WebhookClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.slack_fakes import (
    BotServer,
    FakeSlackAPI,
    SlackRequestSigner,
    block_action,
    form_values,
    radio_buttons,
    static_select,
    view_submission,
)

SECRET = "test-signing-secret"
LOADING_VIEW = {
    "type": "modal",
    "callback_id": "trade_form",
    "title": {"type": "plain_text", "text": "Trade"},
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Loading…"}}],
}


@pytest.fixture(scope="module")
def _fake() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as fake:
        yield fake


@pytest.fixture
def fake(_fake: FakeSlackAPI) -> FakeSlackAPI:
    _fake.reset()
    return _fake


@pytest.fixture
def client(fake: FakeSlackAPI) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake.base_url)


def test_views_open_then_update_by_view_id(fake: FakeSlackAPI, client: WebClient) -> None:
    opened = client.views_open(trigger_id="123.456.abc", view=LOADING_VIEW)

    view_id = opened["view"]["id"]
    assert view_id.startswith("V")
    assert opened["view"]["callback_id"] == "trade_form"
    assert opened["view"]["hash"]
    form = {**LOADING_VIEW, "blocks": [{"type": "divider"}], "private_metadata": "m"}
    updated = client.views_update(view_id=view_id, view=form, hash=opened["view"]["hash"])

    assert updated["view"]["id"] == view_id
    assert fake.view(view_id)["blocks"] == [{"type": "divider"}]
    [open_call] = fake.calls("views.open")
    assert open_call.token == "xoxb-test"
    assert open_call.args["trigger_id"] == "123.456.abc"
    assert open_call.args["view"] == LOADING_VIEW
    [update_call] = fake.calls("views.update")
    assert update_call.args["view_id"] == view_id
    assert update_call.args["view"]["private_metadata"] == "m"


def test_views_update_of_an_unknown_view_or_stale_hash_fails(
    fake: FakeSlackAPI, client: WebClient
) -> None:
    with pytest.raises(SlackApiError) as unknown:
        client.views_update(view_id="VNOPE", view=LOADING_VIEW)
    assert unknown.value.response["error"] == "not_found"
    view_id = client.views_open(trigger_id="t1", view=LOADING_VIEW)["view"]["id"]
    with pytest.raises(SlackApiError) as stale:
        client.views_update(view_id=view_id, view=LOADING_VIEW, hash="hstale")
    assert stale.value.response["error"] == "hash_conflict"


def test_a_trigger_id_opens_one_view_only(client: WebClient) -> None:
    client.views_open(trigger_id="t-once", view=LOADING_VIEW)

    with pytest.raises(SlackApiError) as reused:
        client.views_open(trigger_id="t-once", view=LOADING_VIEW)

    assert reused.value.response["error"] == "exchanged_trigger_id"


def test_views_push_stacks_on_the_open_view(client: WebClient) -> None:
    root = client.views_open(trigger_id="t-root", view=LOADING_VIEW)["view"]["id"]

    pushed = client.views_push(trigger_id="t-push", view=LOADING_VIEW)["view"]

    assert pushed["id"] != root
    assert pushed["root_view_id"] == root
    assert pushed["previous_view_id"] == root


def test_chat_post_update_and_ephemeral(fake: FakeSlackAPI, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "Bought 10 AAPL"}}]
    posted = client.chat_postMessage(channel="C123", text="Bought 10 AAPL", blocks=blocks)
    updated = client.chat_update(channel="C123", ts=posted["ts"], text="Filled", blocks=[])
    ephemeral = client.chat_postEphemeral(channel="C123", user="U1", text="only you")

    assert posted["channel"] == "C123"
    assert updated["ts"] == posted["ts"]
    assert ephemeral["message_ts"]
    [post] = fake.calls("chat.postMessage")
    assert post.args == {"channel": "C123", "text": "Bought 10 AAPL", "blocks": blocks}
    [update] = fake.calls("chat.update")
    assert update.args["ts"] == posted["ts"]
    assert update.args["text"] == "Filled"
    assert fake.calls("chat.postEphemeral")[0].args["user"] == "U1"
    assert [c.method for c in fake.calls()] == [
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
    ]


def test_form_encoded_calls_with_the_token_in_the_body(fake: FakeSlackAPI) -> None:
    form = {"token": "xoxb-form", "channel": "C9", "text": "hi", "blocks": json.dumps([])}

    answer = httpx.post(fake.base_url + "chat.postMessage", data=form).json()

    assert answer["ok"] is True
    call = fake.last("chat.postMessage")
    assert call.token == "xoxb-form"
    assert call.args == {"channel": "C9", "text": "hi", "blocks": []}


def test_auth_test_and_missing_token(fake: FakeSlackAPI) -> None:
    assert WebClient(token="xoxb-test", base_url=fake.base_url).auth_test()["bot_id"]

    with pytest.raises(SlackApiError) as unauthenticated:
        WebClient(base_url=fake.base_url).auth_test()

    assert unauthenticated.value.response["error"] == "not_authed"


def test_configured_failure_surfaces_as_slack_api_error(
    fake: FakeSlackAPI, client: WebClient
) -> None:
    fake.fail("views.open", "expired_trigger_id", times=1)

    with pytest.raises(SlackApiError) as failed:
        client.views_open(trigger_id="t-late", view=LOADING_VIEW)

    assert failed.value.response["error"] == "expired_trigger_id"
    assert client.views_open(trigger_id="t-next", view=LOADING_VIEW)["ok"] is True
    assert len(fake.calls("views.open")) == 2  # the failed call was still recorded


def test_rate_limit_failure_carries_retry_after(fake: FakeSlackAPI, client: WebClient) -> None:
    fake.fail("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "7"})

    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel="C1", text="x")

    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["retry-after"] == "7"
    fake.clear_failures()
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True


def test_delay_is_spent_through_the_injected_sleep() -> None:
    slept: list[float] = []
    with FakeSlackAPI(delay_seconds=0.25, sleep=slept.append) as fake:
        fake.set_delay(1.5, method="views.open")
        client = WebClient(token="xoxb-test", base_url=fake.base_url)
        client.chat_postMessage(channel="C1", text="x")
        client.views_open(trigger_id="t", view=LOADING_VIEW)

    assert slept == [0.25, 1.5]


def test_wait_for_returns_matching_calls_and_times_out_with_a_summary(
    fake: FakeSlackAPI, client: WebClient
) -> None:
    client.chat_postMessage(channel="C1", text="one")
    client.chat_postMessage(channel="C2", text="two")

    assert len(fake.wait_for("chat.postMessage", count=2, timeout=1)) == 2
    [to_c2] = fake.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == "C2")
    assert to_c2.args["text"] == "two"
    with pytest.raises(AssertionError, match=r"views\.open.*chat\.postMessage"):
        fake.wait_for("views.open", timeout=0.05)


def test_response_url_posts_are_recorded(fake: FakeSlackAPI) -> None:
    url = fake.response_url("cmd-1")

    answer = WebhookClient(url).send(text="Only you can see this", response_type="ephemeral")

    assert answer.status_code == 200
    assert answer.body == "ok"
    [call] = fake.wait_for("response_url")
    assert call.target == "cmd-1"
    assert call.args == {"text": "Only you can see this", "response_type": "ephemeral"}
    assert call.token is None


def test_signed_command_verifies_and_carries_slack_fields() -> None:
    signer = SlackRequestSigner(SECRET, clock=lambda: 1_800_000_000)

    body, headers = signer.command(
        "/trade", "AAPL buy 10", "U1", "C1", "http://x/response/1", trigger_id="tr-1"
    )

    verifier = SignatureVerifier(SECRET, clock=_FixedClock(1_800_000_010))
    assert verifier.is_valid_request(body, headers)
    assert headers["X-Slack-Request-Timestamp"] == "1800000000"
    fields = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    assert fields["command"] == "/trade"
    assert fields["text"] == "AAPL buy 10"
    assert fields["user_id"] == "U1"
    assert fields["channel_id"] == "C1"
    assert fields["trigger_id"] == "tr-1"
    assert fields["response_url"] == "http://x/response/1"
    assert {"token", "team_id", "team_domain", "channel_name", "user_name", "api_app_id"} <= set(
        fields
    )
    # Another secret, or a body changed after signing, fails verification.
    assert not SignatureVerifier("other", clock=_FixedClock(1_800_000_010)).is_valid_request(
        body, headers
    )
    assert not verifier.is_valid_request(body + b"&x=1", headers)


def test_stale_clock_makes_a_replayed_request() -> None:
    body, headers = SlackRequestSigner(SECRET, clock=lambda: 1_800_000_000).command(
        "/trade", "", "U1", "C1", "http://x/r"
    )

    late = SignatureVerifier(SECRET, clock=_FixedClock(1_800_000_000 + 6 * 60))

    assert not late.is_valid_request(body, headers)


def test_signed_interactions_carry_the_payload_as_json() -> None:
    signer = SlackRequestSigner(SECRET)
    values = form_values(
        {"portfolio": static_select("main"), "side": radio_buttons("buy"), "symbol": "AAPL"}
    )
    submission = view_submission("trade_form", values, '{"t": 1}', "U1", view_id="V42")
    click = block_action("order_cancel", "17", "U1", "C1", "tr-9", "http://x/r")

    for payload in (submission, click):
        body, headers = signer.interaction(payload)
        assert SignatureVerifier(SECRET).is_valid_request(body, headers)
        [encoded] = parse_qs(body.decode())["payload"]
        assert json.loads(encoded) == payload

    state = submission["view"]["state"]["values"]
    assert state["symbol"]["symbol"]["value"] == "AAPL"
    assert state["portfolio"]["portfolio"]["selected_option"]["value"] == "main"
    assert state["side"]["side"]["selected_option"]["value"] == "buy"
    assert submission["view"]["id"] == "V42"
    assert submission["view"]["callback_id"] == "trade_form"
    assert submission["view"]["private_metadata"] == '{"t": 1}'
    assert click["actions"][0]["action_id"] == "order_cancel"
    assert click["actions"][0]["value"] == "17"
    assert click["channel"]["id"] == "C1"
    assert click["container"]["message_ts"] == click["message"]["ts"]


def test_bot_server_serves_an_asgi_app_and_posts_signed_bodies_unchanged() -> None:
    received: list[tuple[bytes, str]] = []

    async def events(request: Request) -> Response:
        body = await request.body()
        received.append((body, request.headers["x-slack-signature"]))
        return Response(status_code=200)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[Route("/slack/events", events, methods=["POST"]), Route("/health", health)]
    )
    body, headers = SlackRequestSigner(SECRET).command("/oms", "help", "U1", "C1", "http://x/r")

    with BotServer(app) as bot:
        assert bot.url.startswith("http://127.0.0.1:")
        assert bot.get("/health").json() == {"status": "ok"}
        assert bot.post_signed(body, headers).status_code == 200

    assert received == [(body, headers["X-Slack-Signature"])]


class _FixedClock(Clock):
    """A fixed "now" for slack_sdk's SignatureVerifier."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now
