"""Running the bot: HTTP mode (FastAPI, `/slack/events`) or Socket Mode."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from slack_bolt import App, BoltRequest

from slack_bot.app import build_app
from slack_bot.config import BotSettings

log = logging.getLogger(__name__)


def create_http_app(settings: BotSettings, *, bolt_app: App | None = None) -> FastAPI:
    """`POST /slack/events` for commands, modals and buttons; `GET /health` for the host."""
    bolt = bolt_app or build_app(settings)
    api = FastAPI(title="Alpaca OMS Slack bot", docs_url=None, redoc_url=None, openapi_url=None)
    api.state.bolt = bolt

    @api.post("/slack/events")
    async def slack_events(request: Request) -> Response:
        # The raw body, untouched: the signature is computed over these exact bytes.
        body = (await request.body()).decode("utf-8")
        bolt_request = BoltRequest(
            body=body, query=request.url.query, headers=dict(request.headers)
        )
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


def run_http(settings: BotSettings, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(create_http_app(settings), host=host, port=port, log_level="info")


def run_socket_mode(settings: BotSettings) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    assert settings.slack_app_token is not None
    handler = SocketModeHandler(build_app(settings), settings.slack_app_token.get_secret_value())
    handler.start()
