"""Offline Slack for end-to-end tests: a fake Web API server, signed requests, a bot server.

- `FakeSlackAPI`: a real HTTP server on 127.0.0.1 answering the Web API methods the bot calls
  (auth.test, views.open/update/push, chat.postMessage/update/postEphemeral) like Slack does,
  plus `response_url` endpoints and file uploads (files.getUploadURLExternal, the POST of the
  bytes to its upload_url, files.completeUploadExternal: `uploaded_files()`) and Home tabs
  (views.publish: `home_view(user_id)`). Every call is recorded; tests wait for calls with a
  bounded timeout. Point `WebClient(base_url=fake.base_url)` (or `BotSettings.slack_api_url`)
  at it.
- `SlackRequestSigner`: form-encoded slash commands and interaction payloads, signed the way
  Slack signs them, so bolt's signature check runs for real.
- `BotServer`: any ASGI app under uvicorn in a thread, with `post_signed()`.
- `FakeSocketModeServer`: Slack's Socket Mode websocket (the URL `apps.connections.open`
  hands out): greets the app with `hello`, delivers envelopes, records the acks.

Real HTTP rather than respx: slack_sdk's WebClient uses urllib, and the bot may run its Slack
calls in other threads (or processes, in the benchmark).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import uvicorn
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

FAKE_TEAM_ID = "T0FAKE"
FAKE_TEAM_DOMAIN = "fake-workspace"
FAKE_APP_ID = "A0FAKE"
FAKE_BOT_USER_ID = "U0FAKEBOT"
FAKE_BOT_ID = "B0FAKE"
# Slack still sends the legacy verification token in every request; bolt ignores it.
FAKE_VERIFICATION_TOKEN = "fake-verification-token"

API_METHODS = (
    "apps.connections.open",
    "auth.test",
    "views.open",
    "views.update",
    "views.push",
    "views.publish",
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "files.getUploadURLExternal",
    "files.completeUploadExternal",
)
# Arguments that form-encoded callers send as JSON strings (Slack accepts both).
_JSON_ARGS = ("view", "blocks", "attachments", "metadata")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class SlackCall:
    """One request the fake received.

    method: the Web API method ("views.open", ...) or "response_url".
    args: the decoded arguments (JSON or form body; JSON-string `view`/`blocks` decoded),
        without the token. For response_url posts: the posted JSON body.
    token: the bearer token (Authorization header, or the form's `token`), None if absent.
    target: the response_url name for "response_url" calls, else None.
    received_at: time.monotonic() when the request arrived (for latency measurements).
    """

    method: str
    args: dict[str, Any]
    token: str | None
    target: str | None = None
    received_at: float = 0.0


@dataclass
class _Failure:
    error: str
    status: int
    headers: dict[str, str]
    remaining: int | None  # None: until cleared


@dataclass
class _StoredView:
    view: dict[str, Any]
    hash: str
    root_view_id: str
    previous_view_id: str | None


@dataclass(frozen=True)
class UploadedFile:
    """A file shared by files.completeUploadExternal: the bytes POSTed to its upload_url and
    what the completion said (channel_id, initial_comment, title, thread_ts)."""

    file_id: str
    filename: str
    content: bytes
    title: str | None
    alt_txt: str | None
    channel_id: str | None
    initial_comment: str | None
    thread_ts: str | None


@dataclass
class _Upload:
    file_id: str
    filename: str
    length: int
    alt_txt: str | None
    content: bytes | None = None


@dataclass
class _State:
    calls: list[SlackCall] = field(default_factory=list)
    failures: dict[str, _Failure] = field(default_factory=dict)
    delays: dict[str | None, float] = field(default_factory=dict)
    views: dict[str, _StoredView] = field(default_factory=dict)
    used_trigger_ids: set[str] = field(default_factory=set)
    home_views: dict[str, dict[str, Any]] = field(default_factory=dict)  # by user id
    uploads: dict[str, _Upload] = field(default_factory=dict)
    shared_files: list[UploadedFile] = field(default_factory=list)


class FakeSlackAPI:
    """A local Slack Web API. Use as a context manager or call `close()`.

    delay_seconds: artificial latency before every answer (per method with `set_delay`);
    sleep: how that delay is spent (injectable; default time.sleep, in the server's thread).
    """

    def __init__(
        self, *, delay_seconds: float = 0.0, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._cond = threading.Condition()
        self._state = _State()
        self._state.delays[None] = delay_seconds
        self._sleep = sleep
        self._view_numbers = itertools.count(1)
        self._ts_numbers = itertools.count(1)
        # What apps.connections.open hands out (a FakeSocketModeServer's `url`).
        self.socket_mode_url: str | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-slack-api", daemon=True
        )
        self._thread.start()

    # --- configuration -----------------------------------------------------------------
    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """For `WebClient(base_url=...)`: ends with "/api/" as slack_sdk expects."""
        return f"{self.root_url}/api/"

    def response_url(self, name: str = "default") -> str:
        """A URL on the fake; POSTs there are recorded as method "response_url", target name."""
        return f"{self.root_url}/response/{name}"

    def fail(
        self,
        method: str,
        error: str = "internal_error",
        *,
        times: int | None = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer `method` with {"ok": false, "error": error} (the next `times` calls, or until
        `clear_failures`/`reset`). status=429 with headers={"Retry-After": "1"} models a rate
        limit. Failed calls are still recorded."""
        with self._cond:
            self._state.failures[method] = _Failure(error, status, dict(headers or {}), times)

    def clear_failures(self) -> None:
        with self._cond:
            self._state.failures.clear()

    def set_delay(self, seconds: float, method: str | None = None) -> None:
        """Artificial latency for one method, or for all methods when method is None."""
        with self._cond:
            self._state.delays[method] = seconds

    def reset(self) -> None:
        """Forget calls, failures, per-method delays, views and used trigger ids."""
        with self._cond:
            default_delay = self._state.delays.get(None, 0.0)
            self._state = _State()
            self._state.delays[None] = default_delay
            self._view_numbers = itertools.count(1)

    # --- inspection --------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[SlackCall]:
        with self._cond:
            return [c for c in self._state.calls if method is None or c.method == method]

    def last(self, method: str) -> SlackCall:
        found = self.calls(method)
        if not found:
            raise AssertionError(f"no {method} call; received {self._summary()}")
        return found[-1]

    def view(self, view_id: str) -> dict[str, Any]:
        """The view as it stands after views.open/push/update (what the user would see)."""
        with self._cond:
            stored = self._state.views.get(view_id)
            if stored is None:
                raise AssertionError(f"no view {view_id!r} was opened")
            return stored.view

    def uploaded_files(self) -> list[UploadedFile]:
        """The files shared so far (completed uploads), oldest first."""
        with self._cond:
            return list(self._state.shared_files)

    def upload_url(self, file_id: str) -> str:
        """Where files.getUploadURLExternal tells the client to POST the file's bytes; the
        POST is recorded as method "file_upload", target file_id."""
        return f"{self.root_url}/upload/{file_id}"

    def home_view(self, user_id: str) -> dict[str, Any]:
        """The user's Home tab as the latest views.publish left it."""
        with self._cond:
            view = self._state.home_views.get(user_id)
            if view is None:
                raise AssertionError(f"no home view was published for {user_id!r}")
            return view

    def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,
        where: Callable[[SlackCall], bool] | None = None,
    ) -> list[SlackCall]:
        """Block until at least `count` calls of `method` (matching `where`) arrived; return
        them all. Fails the test (AssertionError) after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [
                    c
                    for c in self._state.calls
                    if c.method == method and (where is None or where(c))
                ]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} {method} call(s) within {timeout:g} s, got "
                        f"{len(found)}; received {self._summary()}"
                    )
                self._cond.wait(remaining)

    def _summary(self) -> str:
        return ", ".join(c.method for c in self._state.calls) or "nothing"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeSlackAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- request handling (server threads) ----------------------------------------------
    def _record(self, call: SlackCall) -> None:
        with self._cond:
            self._state.calls.append(call)
            self._cond.notify_all()

    def _delay_for(self, method: str) -> float:
        with self._cond:
            delays = self._state.delays
            return delays.get(method, delays.get(None, 0.0))

    def _take_failure(self, method: str) -> _Failure | None:
        with self._cond:
            failure = self._state.failures.get(method)
            if failure is None:
                return None
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    del self._state.failures[method]
            return failure

    def _handle_api(
        self, method: str, args: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        self._record(SlackCall(method, args, token, None, time.monotonic()))
        delay = self._delay_for(method)
        if delay > 0:
            self._sleep(delay)
        failure = self._take_failure(method)
        if failure is not None:
            return failure.status, {"ok": False, "error": failure.error}, failure.headers
        if method not in API_METHODS:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if (method == "apps.connections.open") != token.startswith("xapp-"):
            return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
        with self._cond:
            return 200, self._answer(method, args), {}

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """Slack's answer for a successful call (called with the lock held)."""
        if method == "apps.connections.open":
            return self._socket_mode_url()
        if method == "auth.test":
            return {
                "ok": True,
                "url": f"https://{FAKE_TEAM_DOMAIN}.slack.com/",
                "team": "Fake Workspace",
                "user": "oms-bot",
                "team_id": FAKE_TEAM_ID,
                "user_id": FAKE_BOT_USER_ID,
                "bot_id": FAKE_BOT_ID,
                "is_enterprise_install": False,
            }
        if method in ("views.open", "views.push"):
            return self._open_view(method, args)
        if method == "views.update":
            return self._update_view(args)
        if method == "views.publish":
            return self._publish_view(args)
        if method.startswith("files."):
            return self._file_upload_step(method, args)
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if method == "chat.postEphemeral":
            if not args.get("user"):
                return {"ok": False, "error": "user_not_in_channel"}
            return {"ok": True, "message_ts": self._next_ts()}
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            return {"ok": False, "error": "no_text"}
        message = {
            "type": "message",
            "user": FAKE_BOT_USER_ID,
            "bot_id": FAKE_BOT_ID,
            "text": args.get("text", ""),
            "blocks": args.get("blocks", []),
        }
        if method == "chat.postMessage":
            ts = self._next_ts()
            return {"ok": True, "channel": channel, "ts": ts, "message": {**message, "ts": ts}}
        # chat.update
        ts = args.get("ts")
        if not ts:
            return {"ok": False, "error": "message_not_found"}
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": args.get("text", ""),
            "message": message,
        }

    def _socket_mode_url(self) -> dict[str, Any]:
        if self.socket_mode_url is None:
            return {"ok": False, "error": "internal_error"}
        return {"ok": True, "url": self.socket_mode_url}

    def _open_view(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        trigger_id = args.get("trigger_id") or args.get("interactivity_pointer")
        view = args.get("view")
        if not trigger_id or not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        # A trigger_id works once (Slack answers a reuse with this error).
        if trigger_id in self._state.used_trigger_ids:
            return {"ok": False, "error": "exchanged_trigger_id"}
        self._state.used_trigger_ids.add(trigger_id)
        view_id = f"V{next(self._view_numbers):08d}"
        previous = None
        root = view_id
        if method == "views.push":
            # The view pushed onto: the most recent one opened (enough for tests).
            opened = list(self._state.views)
            previous = opened[-1] if opened else None
            root = self._state.views[previous].root_view_id if previous else view_id
        stored = _StoredView(self._full_view(view_id, view, root, previous), "", root, previous)
        self._state.views[view_id] = stored
        return {"ok": True, "view": self._rehash(stored)}

    def _update_view(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        view_id = args.get("view_id")
        if not view_id and args.get("external_id"):
            view_id = next(
                (
                    vid
                    for vid, s in self._state.views.items()
                    if s.view.get("external_id") == args["external_id"]
                ),
                None,
            )
        stored = self._state.views.get(view_id) if view_id else None
        if stored is None:
            return {"ok": False, "error": "not_found"}
        if args.get("hash") and args["hash"] != stored.hash:
            return {"ok": False, "error": "hash_conflict"}
        stored.view = self._full_view(view_id, view, stored.root_view_id, stored.previous_view_id)
        return {"ok": True, "view": self._rehash(stored)}

    @staticmethod
    def _full_view(
        view_id: str, submitted: dict[str, Any], root: str, previous: str | None
    ) -> dict[str, Any]:
        return {
            "id": view_id,
            "team_id": FAKE_TEAM_ID,
            "type": submitted.get("type", "modal"),
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "state": {"values": {}},
            "clear_on_close": False,
            "notify_on_close": False,
            **submitted,
            "root_view_id": root,
            "previous_view_id": previous,
            "app_id": FAKE_APP_ID,
            "bot_id": FAKE_BOT_ID,
        }

    def _publish_view(self, args: dict[str, Any]) -> dict[str, Any]:
        """views.publish: the user's Home tab (Slack keeps one per user and app)."""
        user_id, view = args.get("user_id"), args.get("view")
        if not user_id:
            return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(view, dict) or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        if len(view.get("blocks") or []) > 100:
            return {"ok": False, "error": "invalid_blocks"}
        previous = self._state.home_views.get(user_id)
        view_id = previous["id"] if previous else f"V{next(self._view_numbers):08d}"
        published = {
            **self._full_view(view_id, view, view_id, None),
            "hash": f"h{uuid.uuid4().hex[:16]}",
        }
        self._state.home_views[user_id] = published
        return {"ok": True, "view": published}

    @staticmethod
    def _rehash(stored: _StoredView) -> dict[str, Any]:
        stored.hash = f"h{uuid.uuid4().hex[:16]}"
        stored.view = {**stored.view, "hash": stored.hash}
        return stored.view

    def _file_upload_step(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """files.getUploadURLExternal (step 1) and files.completeUploadExternal (step 3) of
        Slack's upload; step 2 is the POST to the upload_url (`_handle_upload`)."""
        if method == "files.getUploadURLExternal":
            filename, length = args.get("filename"), str(args.get("length") or "")
            if not filename or not length.isdigit():
                return {"ok": False, "error": "invalid_arguments"}
            file_id = f"F{uuid.uuid4().hex[:10].upper()}"
            self._state.uploads[file_id] = _Upload(
                file_id, str(filename), int(length), args.get("alt_txt")
            )
            return {"ok": True, "upload_url": self.upload_url(file_id), "file_id": file_id}
        files = args.get("files")
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except ValueError:
                return {"ok": False, "error": "invalid_json"}
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        shared = []
        for entry in files:
            upload = self._state.uploads.get(entry.get("id")) if isinstance(entry, dict) else None
            if upload is None or upload.content is None:
                return {"ok": False, "error": "file_not_found"}
            shared.append(
                UploadedFile(
                    file_id=upload.file_id,
                    filename=upload.filename,
                    content=upload.content,
                    title=entry.get("title"),
                    alt_txt=upload.alt_txt,
                    channel_id=args.get("channel_id") or None,
                    initial_comment=args.get("initial_comment") or None,
                    thread_ts=args.get("thread_ts") or None,
                )
            )
        for uploaded in shared:
            del self._state.uploads[uploaded.file_id]
        self._state.shared_files.extend(shared)
        return {
            "ok": True,
            "files": [
                {"id": f.file_id, "name": f.filename, "title": f.title, "size": len(f.content)}
                for f in shared
            ],
        }

    def _handle_upload(self, file_id: str, content: bytes) -> tuple[int, bytes]:
        """Step 2 of an upload: the file's bytes POSTed to its upload_url."""
        self._record(
            SlackCall("file_upload", {"size": len(content)}, None, file_id, time.monotonic())
        )
        failure = self._take_failure("file_upload")
        if failure is not None:
            return (failure.status if failure.status != 200 else 500), failure.error.encode()
        with self._cond:
            upload = self._state.uploads.get(file_id)
            if upload is None:
                return 404, b"unknown upload"
            upload.content = content
        return 200, f"OK - {len(content)}".encode()

    def _next_ts(self) -> str:
        # Slack message timestamps: "seconds.microseconds", unique per channel.
        return f"{1_700_000_000 + next(self._ts_numbers)}.000100"

    def _handle_response_url(self, name: str, body: dict[str, Any]) -> None:
        self._record(SlackCall("response_url", body, None, name, time.monotonic()))
        delay = self._delay_for("response_url")
        if delay > 0:
            self._sleep(delay)


def _decode_body(content_type: str, raw: bytes) -> tuple[dict[str, Any], str | None]:
    """(args, token-from-the-body) of a JSON or form-encoded Web API request."""
    if not raw:
        return {}, None
    if content_type.startswith("application/json"):
        decoded = json.loads(raw)
        args = decoded if isinstance(decoded, dict) else {"_body": decoded}
    else:
        form = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
        args = {key: values[-1] for key, values in form.items()}
        for key in _JSON_ARGS:
            if isinstance(args.get(key), str) and args[key][:1] in ("{", "["):
                args[key] = json.loads(args[key])
    token = args.pop("token", None)
    return args, token


def _make_handler(fake: FakeSlackAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, with Content-Length on every answer
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK
        # hold the body ~40 ms on a kept-alive connection.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            content_type = self.headers.get("Content-Type", "")
            path = self.path.split("?", 1)[0]
            if path.startswith("/response/"):
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                fake._handle_response_url(path.removeprefix("/response/"), body)
                self._send(200, b"ok", "text/plain")
                return
            if path.startswith("/upload/"):
                status, answer = fake._handle_upload(path.removeprefix("/upload/"), raw)
                self._send(status, answer, "text/plain")
                return
            if not path.startswith("/api/"):
                self._send(404, b"not found", "text/plain")
                return
            try:
                args, body_token = _decode_body(content_type, raw)
            except ValueError:
                self._send_json(200, {"ok": False, "error": "invalid_json"})
                return
            auth = self.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
            status, answer, headers = fake._handle_api(
                path.removeprefix("/api/"), args, token or body_token
            )
            self._send_json(status, answer, headers)

        def do_GET(self) -> None:
            # Slack accepts GET with query arguments for most methods (auth.test, ...).
            path, _, query = self.path.partition("?")
            if not path.startswith("/api/"):
                self._send(404, b"not found", "text/plain")
                return
            args = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
            body_token = args.pop("token", None)
            auth = self.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
            status, answer, headers = fake._handle_api(
                path.removeprefix("/api/"), args, token or body_token
            )
            self._send_json(status, answer, headers)

        def _send_json(
            self, status: int, answer: dict[str, Any], headers: Mapping[str, str] | None = None
        ) -> None:
            body = json.dumps(answer).encode()
            self._send(status, body, "application/json; charset=utf-8", headers)

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str,
            headers: Mapping[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test output shows recorded calls when something is missing

    return Handler


# --- signed requests ---------------------------------------------------------------------
def new_trigger_id() -> str:
    return f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"


class SlackRequestSigner:
    """Bodies and headers of requests as Slack sends them to /slack/events, signed with
    `signing_secret` (v0 HMAC-SHA256 over "v0:{timestamp}:{body}").

    clock: seconds since the epoch for X-Slack-Request-Timestamp (injectable: an old clock
    makes bolt reject the request as a replay).
    """

    def __init__(self, signing_secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self._secret = signing_secret.encode()
        self._clock = clock

    def sign(self, body: bytes) -> dict[str, str]:
        """Headers signing `body` as Slack would: over the raw bytes, whatever they are (slack_sdk's
        SignatureVerifier decodes them as UTF-8 first, so it cannot sign arbitrary bytes)."""
        timestamp = str(int(self._clock()))
        base = b"v0:" + timestamp.encode() + b":" + body
        signature = "v0=" + hmac.new(self._secret, base, hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
        }

    def command(
        self,
        command: str,
        text: str,
        user_id: str,
        channel_id: str,
        response_url: str,
        trigger_id: str | None = None,
        *,
        user_name: str | None = None,
        channel_name: str = "trading",
        team_id: str = FAKE_TEAM_ID,
    ) -> tuple[bytes, dict[str, str]]:
        """A slash command (command like "/trade"); trigger_id defaults to a fresh one."""
        fields = command_payload(
            command,
            text,
            user_id,
            channel_id,
            response_url,
            trigger_id=trigger_id,
            user_name=user_name,
            channel_name=channel_name,
            team_id=team_id,
        )
        body = urlencode(fields).encode()
        return body, self.sign(body)

    def event(self, payload: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
        """An Events API request (event_callback): a JSON body."""
        body = json.dumps(payload).encode()
        return body, {**self.sign(body), "Content-Type": "application/json"}

    def interaction(self, payload: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
        """An interaction (view_submission, block_actions, ...): form-encoded payload=<json>."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return body, self.sign(body)


def _user(user_id: str, team_id: str) -> dict[str, Any]:
    return {
        "id": user_id,
        "username": user_id.lower(),
        "name": user_id.lower(),
        "team_id": team_id,
    }


def view_submission(
    callback_id: str,
    values: Mapping[str, Any],
    private_metadata: str,
    user_id: str,
    view_id: str = "V0FAKEVIEW",
    *,
    blocks: list[dict[str, Any]] | None = None,
    view_hash: str = "h0fake",
    trigger_id: str | None = None,
    team_id: str = FAKE_TEAM_ID,
) -> dict[str, Any]:
    """A view_submission payload. `values` is Slack's view.state.values shape
    ({block_id: {action_id: element state}}); `form_values()` builds it from simple values."""
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": FAKE_TEAM_DOMAIN},
        "user": _user(user_id, team_id),
        "api_app_id": FAKE_APP_ID,
        "token": FAKE_VERIFICATION_TOKEN,
        "trigger_id": trigger_id or new_trigger_id(),
        "view": {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "blocks": blocks or [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": dict(values)},
            "hash": view_hash,
            "title": {"type": "plain_text", "text": "Trade"},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": {"type": "plain_text", "text": "Submit"},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": FAKE_APP_ID,
            "external_id": "",
            "app_installed_team_id": team_id,
            "bot_id": FAKE_BOT_ID,
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def block_action(
    action_id: str,
    value: str,
    user_id: str,
    channel_id: str,
    trigger_id: str | None,
    response_url: str,
    message_ts: str = "1700000000.000100",
    *,
    block_id: str | None = None,
    message_blocks: list[dict[str, Any]] | None = None,
    team_id: str = FAKE_TEAM_ID,
) -> dict[str, Any]:
    """A block_actions payload: a button with `value` clicked in a message in `channel_id`."""
    return {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": FAKE_APP_ID,
        "token": FAKE_VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team_id, "domain": FAKE_TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "trading"},
        "message": {
            "type": "message",
            "user": FAKE_BOT_USER_ID,
            "bot_id": FAKE_BOT_ID,
            "ts": message_ts,
            "text": "",
            "blocks": message_blocks or [],
        },
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id or action_id,
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def app_home_opened_event(
    user_id: str, tab: str = "home", *, team_id: str = FAKE_TEAM_ID
) -> dict[str, Any]:
    """The event_callback Slack sends when `user_id` opens the app's Home (or Messages) tab."""
    return {
        "token": FAKE_VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": FAKE_APP_ID,
        "event": {
            "type": "app_home_opened",
            "user": user_id,
            "channel": f"D{user_id[1:]}",
            "tab": tab,
            "event_ts": f"{time.time():.6f}",
        },
        "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "team_id": team_id,
                "user_id": FAKE_BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
    }


def home_block_action(
    action_id: str,
    value: str,
    user_id: str,
    home: Mapping[str, Any],
    trigger_id: str | None = None,
    *,
    team_id: str = FAKE_TEAM_ID,
) -> dict[str, Any]:
    """A block_actions payload: a button with `value` clicked in the user's Home tab `home`
    (a published view): no channel and no response_url, as Slack sends it."""
    return {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": FAKE_APP_ID,
        "token": FAKE_VERIFICATION_TOKEN,
        "container": {"type": "view", "view_id": home.get("id")},
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team_id, "domain": FAKE_TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": dict(home),
        "actions": [
            {
                "action_id": action_id,
                "block_id": action_id,
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


# Element states for `form_values`, shaped like view.state.values entries.
def text_input(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def static_select(value: str | None) -> dict[str, Any]:
    option = None if value is None else {"text": {"type": "plain_text", "text": value}}
    if option is not None:
        option["value"] = value
    return {"type": "static_select", "selected_option": option}


def radio_buttons(value: str | None) -> dict[str, Any]:
    state = static_select(value)
    return {**state, "type": "radio_buttons"}


def checkboxes(values: list[str]) -> dict[str, Any]:
    return {
        "type": "checkboxes",
        "selected_options": [
            {"text": {"type": "plain_text", "text": v}, "value": v} for v in values
        ],
    }


def form_values(fields: Mapping[str, str | dict[str, Any] | None]) -> dict[str, Any]:
    """view.state.values from {block_id: value}, with action_id == block_id (the bot's
    convention): a str or None is a plain_text_input; a dict is an element state from
    `static_select()`, `radio_buttons()`, `checkboxes()` or `text_input()`."""
    values: dict[str, Any] = {}
    for block_id, value in fields.items():
        state = value if isinstance(value, dict) else text_input(value)
        values[block_id] = {block_id: state}
    return values


# --- the bot's HTTP app under uvicorn ------------------------------------------------------
class _SignallingServer(uvicorn.Server):
    """uvicorn.Server that sets `done` once it listens (or once it has stopped trying)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.done = threading.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        self.done.set()


class BotServer:
    """Run an ASGI app (the bot's `create_http_app(...)`) under uvicorn in a thread.

    with BotServer(app) as bot:
        response = bot.post_signed(*signer.command("/trade", "AAPL buy 10", ...))
    """

    def __init__(
        self,
        app: Any,
        *,
        port: int | None = None,
        startup_timeout: float = 10.0,
        log_level: str = "warning",
        lifespan: str = "auto",
        propagate_logs: bool = False,
    ) -> None:
        """`lifespan="off"` serves an app whose lifespan already ran elsewhere (a TestClient);
        `propagate_logs=True` leaves logging alone so uvicorn's records reach the root logger
        (and pytest's caplog) at `log_level`."""
        self.port = port or free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level=log_level,
            lifespan=lifespan,  # type: ignore[arg-type]
            log_config=None if propagate_logs else uvicorn.config.LOGGING_CONFIG,
        )
        self._server = _SignallingServer(config)
        self._thread = threading.Thread(target=self._run, name="bot-server", daemon=True)
        self._startup_timeout = startup_timeout
        self._client: httpx.Client | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        try:
            self._server.run()
        finally:
            self._server.done.set()  # wakes start() if the server gave up during start-up

    def start(self) -> BotServer:
        self._thread.start()
        self._server.done.wait(self._startup_timeout)
        if not self._server.started:
            self.stop()
            raise RuntimeError(
                f"the bot server did not start within {self._startup_timeout} s (see its log)"
            )
        self._client = httpx.Client(base_url=self.url, timeout=10.0)
        return self

    def post_signed(
        self, body: bytes, headers: Mapping[str, str], path: str = "/slack/events"
    ) -> httpx.Response:
        """POST a signed body as is (never re-serialised: the signature covers the bytes)."""
        assert self._client is not None, "call start() or use `with BotServer(app)`"
        return self._client.post(path, content=body, headers=dict(headers))

    def get(self, path: str) -> httpx.Response:
        assert self._client is not None, "call start() or use `with BotServer(app)`"
        return self._client.get(path)

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def __enter__(self) -> BotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- Socket Mode ---------------------------------------------------------------------------
class FakeSocketModeServer:
    """Slack's Socket Mode websocket on 127.0.0.1 (plain ws://: slack_sdk's client speaks
    plain websocket to any port but 443). Point `FakeSlackAPI.socket_mode_url` at `url`, and
    the app's real SocketModeHandler connects here after apps.connections.open.

    Each connection gets `hello`; `send()` delivers an envelope to the newest connection and
    `wait_for_ack()` returns what the app answered (`{"envelope_id", "payload"?}`)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._connections: list[ServerConnection] = []
        self._acks: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.port: int = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-socket-mode", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link/?ticket=fake-ticket&app_id={FAKE_APP_ID}"

    def _handle(self, connection: ServerConnection) -> None:
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 3600},
            "connection_info": {"app_id": FAKE_APP_ID},
        }
        connection.send(json.dumps(hello))
        with self._cond:
            self._connections.append(connection)
            self._cond.notify_all()
        try:
            for message in connection:
                ack = json.loads(message)
                with self._cond:
                    self._acks[str(ack.get("envelope_id"))] = ack
                    self._cond.notify_all()
        except ConnectionClosed:
            pass  # the app closed the connection (handler.close())
        finally:
            with self._cond:
                self._connections.remove(connection)

    def wait_connected(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._connections:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no Socket Mode connection within {timeout:g} s")
                self._cond.wait(remaining)

    def send(
        self, envelope_type: str, payload: Mapping[str, Any], *, accepts_response: bool = True
    ) -> str:
        """Deliver `payload` as Slack would (`slash_commands` or `interactive`); its id."""
        envelope_id = f"env-{next(self._ids)}"
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "accepts_response_payload": accepts_response,
            "payload": dict(payload),
            "retry_attempt": 0,
            "retry_reason": "",
        }
        with self._cond:
            if not self._connections:
                raise AssertionError("the app is not connected")
            connection = self._connections[-1]
        connection.send(json.dumps(envelope))
        return envelope_id

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while envelope_id not in self._acks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no ack for {envelope_id} within {timeout:g} s")
                self._cond.wait(remaining)
            return self._acks[envelope_id]

    def drop_connections(self) -> None:
        """End every session from Slack's side, as its servers do now and then."""
        with self._cond:
            connections = list(self._connections)
        for connection in connections:
            connection.close()

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeSocketModeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def command_payload(
    command: str,
    text: str,
    user_id: str,
    channel_id: str,
    response_url: str,
    *,
    trigger_id: str | None = None,
    user_name: str | None = None,
    channel_name: str = "trading",
    team_id: str = FAKE_TEAM_ID,
) -> dict[str, str]:
    """A slash command's fields, as Slack posts them over HTTP (form-encoded) and delivers
    them over Socket Mode (the envelope's payload); trigger_id defaults to a fresh one."""
    return {
        "token": FAKE_VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": FAKE_TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": FAKE_APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }
