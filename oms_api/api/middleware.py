"""Pure ASGI middleware: a request body size limit that costs next to nothing per request."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oms_api.api.errors import PayloadTooLarge, payload_too_large_response

# The largest JSON body the API takes: a trade is a few hundred bytes.
MAX_BODY_BYTES = 64 * 1024


class BodySizeLimit:
    """Refuses request bodies over `max_bytes` with 413 `payload_too_large`, reading no further.

    A Content-Length over the limit is answered before the app runs (nothing is read, no
    endpoint runs); otherwise the bytes are counted as the app reads them, which also bounds
    chunked bodies. Starlette's RequestBodyLimitMiddleware would answer in plain text, and
    with a large Content-Length it still runs an endpoint that never reads the body (a cancel)
    and only replaces its answer."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                # The server has already checked it is a number; if not, counting still applies.
                if value.isdigit() and int(value) > limit:
                    await payload_too_large_response(limit)(scope, receive, send)
                    return
                break

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except PayloadTooLarge:
            # The app's exception handlers normally answer it; this covers a read outside them.
            if started:
                raise
            await payload_too_large_response(limit)(scope, receive, send)
