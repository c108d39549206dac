"""Running the bot: HTTP mode (FastAPI, `/slack/events`) or Socket Mode."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from slack_bolt import App, BoltRequest

from slack_bot.app import build_app
from slack_bot.config import BotSettings

if TYPE_CHECKING:
    import uvicorn
    from slack_bolt.adapter.socket_mode import SocketModeHandler

log = logging.getLogger(__name__)

# Slack's replay window: a signed request older (or newer) than this is refused.
SIGNATURE_MAX_AGE_SECONDS = 300
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SlackSignature:
    """Slack's request signature, checked on the raw bytes before anything reads them.

    `X-Slack-Signature` is `v0=` + HMAC-SHA256(signing secret, `v0:{timestamp}:{body}`).
    slack_sdk's SignatureVerifier decodes the body as UTF-8 first (and parses the timestamp
    with int()), so a body or header an attacker chose could raise instead of failing the
    check; here every malformed input is simply "not valid"."""

    def __init__(self, signing_secret: str, clock: Callable[[], float] = time.time) -> None:
        self._secret = signing_secret.encode()
        self._clock = clock

    def is_valid(self, body: bytes, timestamp: str | None, signature: str | None) -> bool:
        if not timestamp or not signature or not _TIMESTAMP.fullmatch(timestamp):
            return False
        if abs(self._clock() - int(timestamp)) > SIGNATURE_MAX_AGE_SECONDS:
            return False
        base = b"v0:" + timestamp.encode("ascii") + b":" + body
        expected = "v0=" + hmac.new(self._secret, base, hashlib.sha256).hexdigest()
        # Header values arrive as latin-1 text; compare bytes so any character is just "wrong".
        return hmac.compare_digest(expected.encode("ascii"), signature.encode("latin-1"))


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_http_app(settings: BotSettings, *, bolt_app: App | None = None) -> FastAPI:
    """`POST /slack/events` for commands, modals and buttons; `GET /health` for the host."""
    settings.require_mode("http")  # never serve HTTP without a signing secret to check
    assert settings.slack_signing_secret is not None
    signature = SlackSignature(settings.slack_signing_secret.get_secret_value())
    bolt = bolt_app or build_app(settings)
    api = FastAPI(title="Alpaca OMS Slack bot", docs_url=None, redoc_url=None, openapi_url=None)
    api.state.bolt = bolt

    @api.post("/slack/events")
    async def slack_events(request: Request) -> Response:
        # The raw body, untouched: the signature is computed over these exact bytes, and it
        # is checked before anything decodes or parses them.
        raw = await request.body()
        if not signature.is_valid(
            raw,
            request.headers.get("x-slack-request-timestamp"),
            request.headers.get("x-slack-signature"),
        ):
            log.info("refused a request to /slack/events: missing or invalid Slack signature")
            return _error(401, "invalid or missing Slack request signature")
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            log.warning("refused a signed request to /slack/events: the body is not UTF-8")
            return _error(400, "the request body is not UTF-8")
        try:
            bolt_request = BoltRequest(
                body=body, query=request.url.query, headers=dict(request.headers)
            )
        except (ValueError, TypeError, AttributeError) as error:
            # Signed but not a Slack payload (e.g. `payload=` that is not a JSON object).
            log.warning("refused a signed request to /slack/events: %s", type(error).__name__)
            return _error(400, "the request body is not a Slack payload")
        # bolt's dispatch returns once the listener has acked; the rest of the listener
        # runs on bolt's executor. Off the event loop, so one slow ack never blocks another.
        answer = await run_in_threadpool(bolt.dispatch, bolt_request)
        headers: dict[str, Any] = {
            k: v[0] for k, v in answer.headers.items() if k.lower() != "content-length" and v
        }
        return Response(content=answer.body, status_code=answer.status, headers=headers)

    @api.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return api


def http_server(
    settings: BotSettings, listener: socket.socket, *, log_level: str | None = None
) -> uvicorn.Server:
    """A uvicorn server for HTTP mode on the bound socket `listener`; run it with
    `.run(sockets=[listener])`."""
    import uvicorn

    host, port = listener.getsockname()[:2]
    level = (log_level or settings.log_level).lower()
    config = uvicorn.Config(create_http_app(settings), host=host, port=port, log_level=level)
    return uvicorn.Server(config)


def run_http(settings: BotSettings, listener: socket.socket) -> bool:
    """Serve HTTP mode on an already bound socket until stopped; False if it never started."""
    server = http_server(settings, listener)
    server.run(sockets=[listener])
    return server.started


def socket_mode_handler(settings: BotSettings, *, bolt_app: App | None = None) -> SocketModeHandler:
    """Socket Mode: `apps.connections.open` with the app token, then Slack's websocket, which
    delivers commands, submissions and clicks and takes their acks. `.connect()` returns once
    connected; `.start()` also blocks until stopped."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    settings.require_mode("socket")
    assert settings.slack_app_token is not None
    return SocketModeHandler(
        bolt_app or build_app(settings), settings.slack_app_token.get_secret_value()
    )


def run_socket_mode(settings: BotSettings) -> None:
    socket_mode_handler(settings).start()
