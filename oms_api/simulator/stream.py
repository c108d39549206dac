"""The trade_updates websocket: Alpaca's handshake, fan-out, and stream faults."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

log = logging.getLogger(__name__)

Message = dict[str, Any]


def _frame(message: Message) -> bytes:
    # Alpaca sends trade_updates as binary frames holding JSON.
    return json.dumps(message, separators=(",", ":")).encode()


class _Listener:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self.listening = False


class StreamHub:
    def __init__(self, check_keys: Callable[[str, str], bool]) -> None:
        self._check_keys = check_keys
        self._listeners: set[_Listener] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._duplicate_next = 0
        self._reorder_next = 0
        self._reorder_buffer: list[Message] = []
        self.connections_total = 0
        self.published_total = 0

    # -- faults ------------------------------------------------------------
    def duplicate_next(self, count: int) -> None:
        with self._lock:
            self._duplicate_next = count

    def reorder_next(self, count: int) -> None:
        """Hold the next `count` events and deliver them in reverse order."""
        with self._lock:
            self._reorder_next = count
            self._reorder_buffer = []

    def disconnect_all(self) -> int:
        listeners = list(self._listeners)
        if self._loop is not None:
            for listener in listeners:
                self._loop.call_soon_threadsafe(listener.queue.put_nowait, None)
        return len(listeners)

    def clear_faults(self) -> None:
        with self._lock:
            held, self._reorder_buffer = self._reorder_buffer, []
            self._duplicate_next = 0
            self._reorder_next = 0
        for message in held:
            self._deliver(message)

    @property
    def listening(self) -> int:
        return sum(1 for listener in self._listeners if listener.listening)

    # -- fan-out -----------------------------------------------------------
    def publish(self, message: Message) -> None:
        """Called by the broker, from any thread."""
        to_send: list[Message] = []
        with self._lock:
            self.published_total += 1
            if self._reorder_next > 0:
                self._reorder_buffer.append(message)
                if len(self._reorder_buffer) >= self._reorder_next:
                    to_send = list(reversed(self._reorder_buffer))
                    self._reorder_buffer = []
                    self._reorder_next = 0
            else:
                to_send = [message]
            expanded: list[Message] = []
            for item in to_send:
                expanded.append(item)
                if self._duplicate_next > 0:
                    self._duplicate_next -= 1
                    expanded.append(item)
        for item in expanded:
            self._deliver(item)

    def _deliver(self, message: Message) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for listener in list(self._listeners):
            if listener.listening:
                loop.call_soon_threadsafe(listener.queue.put_nowait, message)

    # -- the websocket endpoint --------------------------------------------
    async def serve(self, websocket: WebSocket) -> None:
        self._loop = asyncio.get_running_loop()
        await websocket.accept()
        listener = _Listener(websocket)
        self.connections_total += 1
        self._listeners.add(listener)
        sender = asyncio.create_task(self._send_loop(listener))
        try:
            authorized = False
            while True:
                raw = await websocket.receive()
                if raw["type"] == "websocket.disconnect":
                    break
                text = raw.get("text") or (raw.get("bytes") or b"").decode(errors="replace")
                try:
                    request = json.loads(text)
                except ValueError:
                    await self._reply(listener, {"stream": "error", "data": {"error": "bad json"}})
                    continue
                action = request.get("action") if isinstance(request, dict) else None
                data = request.get("data") if isinstance(request, dict) else None
                data = data if isinstance(data, dict) else {}
                if action in ("authenticate", "auth"):
                    key = data.get("key_id") or request.get("key") or ""
                    secret = data.get("secret_key") or request.get("secret") or ""
                    authorized = self._check_keys(str(key), str(secret))
                    status = "authorized" if authorized else "unauthorized"
                    await self._reply(
                        listener,
                        {
                            "stream": "authorization",
                            "data": {"action": "authenticate", "status": status},
                        },
                    )
                    if not authorized:
                        break
                elif action == "listen":
                    if not authorized:
                        await self._reply(
                            listener,
                            {
                                "stream": "listening",
                                "data": {"streams": [], "error": "unauthorized"},
                            },
                        )
                        continue
                    streams = data.get("streams") or []
                    listener.listening = "trade_updates" in streams
                    await self._reply(
                        listener,
                        {
                            "stream": "listening",
                            "data": {"streams": ["trade_updates"] if listener.listening else []},
                        },
                    )
                else:
                    await self._reply(
                        listener, {"stream": "error", "data": {"error": f"unknown action {action}"}}
                    )
        except WebSocketDisconnect:
            pass
        finally:
            self._listeners.discard(listener)
            listener.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await sender
            with contextlib.suppress(Exception):
                await websocket.close(code=1011)

    async def _reply(self, listener: _Listener, message: Message) -> None:
        await listener.websocket.send_bytes(_frame(message))

    async def _send_loop(self, listener: _Listener) -> None:
        while True:
            message = await listener.queue.get()
            if message is None:
                # A forced disconnect: close so the client sees a dropped stream.
                self._listeners.discard(listener)
                with contextlib.suppress(Exception):
                    await listener.websocket.close(code=1011)
                return
            try:
                await listener.websocket.send_bytes(_frame(message))
            except Exception:
                log.info("trade_updates listener went away")
                self._listeners.discard(listener)
                return
