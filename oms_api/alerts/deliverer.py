"""Posting the alert outbox to Slack, from exactly one process.

One deliverer runs across every worker and instance on the database: the one holding the
advisory lock `oms-alerts` (the others try again every few seconds). It runs in its own
thread, so a trade or a stop never waits for Slack; enqueueing is one INSERT in their own
transaction (`oms_api.alerts.outbox`).

The rules:
- In order per channel (by id): a channel's oldest pending alert goes first, and while it waits
  (a retry, Retry-After) the channel's later alerts wait behind it; other channels go on.
- About one message a second per channel (Slack's pace for chat.postMessage).
- At least once, never twice in normal operation. Before posting, the deliverer claims the
  alert (attempts + 1, not due again for CLAIM_SECONDS); right after Slack's ok it records
  `delivered` with the message's ts. A process that dies between Slack's ok and that record
  posts the alert again once the claim expires: that is the one way to see an alert twice (as
  is a network failure after Slack received the post). The claim also keeps two deliverers
  from posting one alert twice, should the lock ever be held twice (a dropped connection).
- Transient failures (network, 5xx, ratelimited, service_unavailable...) are retried with
  back-off, forever; a 429 waits what Retry-After says. Refusals that concern one message
  (channel_not_found, not_in_channel, is_archived...) mark it `failed` with Slack's reason.
  Refusals of the token or the setup (invalid_auth, token_revoked, missing_scope, a wrong
  SLACK_API_URL...) would refuse every alert: those keep the alerts pending, pause delivery
  for AUTH_PAUSE_SECONDS and say so once in the log.
- Waking up: on PostgreSQL the deliverer LISTENs on `oms_alerts`, which `enqueue` NOTIFYs in
  the alert's own transaction, so a new alert is posted at once from whichever worker it was
  recorded in; it also looks every POSTGRES_POLL_SECONDS, for alerts recorded without the
  NOTIFY and across a reconnect. On SQLite (one process, no NOTIFY) it looks every second:
  one indexed query, and an alert reaches Slack within about a second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import psycopg
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Engine

from oms_api.alerts import blocks
from oms_api.alerts.models import AlertState
from oms_api.alerts.outbox import ALERTS, NOTIFY_CHANNEL
from oms_api.config import Settings
from oms_api.db.engine import is_postgres, singleton_lock
from oms_api.db.types import utcnow

log = logging.getLogger(__name__)

LOCK_NAME = "oms-alerts"
PACE_SECONDS = 1.0  # Slack: about one message a second per channel
LOCK_RETRY_SECONDS = 5.0  # another process delivers: ask for the lock again this often
SQLITE_POLL_SECONDS = 1.0
POSTGRES_POLL_SECONDS = 5.0  # NOTIFY wakes the deliverer at once; this is the safety net
MIN_WAIT_SECONDS = 0.1
CLAIM_SECONDS = 60.0  # longer than a post can take (SLACK_TIMEOUT_SECONDS)
SLACK_TIMEOUT_SECONDS = 10
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0
AUTH_PAUSE_SECONDS = 600.0
RETRY_AFTER_DEFAULT_SECONDS = 1.0
RETRY_AFTER_MAX_SECONDS = 3600.0
DATABASE_BACKOFF_MAX_SECONDS = 30.0
LAST_ERROR_MAX = 500

# Slack's error codes that say "try again later".
TRANSIENT_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "service_unavailable",
        "internal_error",
        "fatal_error",
        "request_timeout",
        "team_added_to_org",
    }
)
# Refusals of the token or the app's setup: every alert would meet them.
SETUP_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "team_access_not_granted",
        "ekm_access_denied",
        "org_login_required",
        "two_factor_setup_required",
        "enterprise_is_restricted",
        "access_denied",
    }
)
# Slack could not read the blocks: the plain message goes instead (a builder's bug must not
# cost an emergency alert).
BLOCK_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_too_long"})
NON_JSON_PREFIX = "Received a response in a non-JSON format"


class Verdict(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"  # transient: back off and try again
    SETUP = "setup"  # the token or setup is refused: pause all delivery
    FAILED = "failed"  # this message is refused for good


@dataclass(frozen=True)
class PostResult:
    verdict: Verdict
    ts: str | None = None
    error: str | None = None  # what went wrong, for last_error (no secret in it)
    retry_after: float | None = None  # seconds Slack asked to wait (429)


def delivery_configured(settings: Settings) -> bool:
    """A token and a channel: without either, alerts are recorded and wait as pending."""
    token = settings.slack_bot_token
    return bool(token and token.get_secret_value()) and bool(settings.slack_alerts_channel_id)


def backoff_seconds(attempts: int) -> float:
    """1, 2, 4 ... seconds after the 1st, 2nd, 3rd ... failed attempt; at most 5 minutes."""
    exponent = min(max(attempts - 1, 0), 20)
    return min(BACKOFF_FIRST_SECONDS * 2**exponent, BACKOFF_MAX_SECONDS)


def _retry_after(headers: Any) -> float:
    raw = None
    if headers:
        raw = headers.get("Retry-After") or headers.get("retry-after")
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    try:
        seconds = float(str(raw).strip())
    except (TypeError, ValueError):
        return RETRY_AFTER_DEFAULT_SECONDS
    if seconds != seconds:  # NaN
        return RETRY_AFTER_DEFAULT_SECONDS
    return min(max(seconds, RETRY_AFTER_DEFAULT_SECONDS), RETRY_AFTER_MAX_SECONDS)


def classify(error: Exception) -> PostResult:
    """What a failed chat.postMessage means for the alert."""
    if not isinstance(error, SlackApiError):
        # No answer from Slack (refused, reset, timed out): it may come back.
        return PostResult(Verdict.RETRY, error=f"network: {type(error).__name__}: {error}")
    response = error.response
    status = getattr(response, "status_code", None)
    data = getattr(response, "data", None)
    code = str(data.get("error") or "unknown") if isinstance(data, dict) else "unknown"
    if status == 429:
        seconds = _retry_after(getattr(response, "headers", None))
        return PostResult(
            Verdict.RETRY,
            error=f"ratelimited: Slack asked to wait {seconds:g} s",
            retry_after=seconds,
        )
    if code.startswith(NON_JSON_PREFIX) or (
        status is not None and (status >= 500 or status == 408)
    ):
        return PostResult(Verdict.RETRY, error=f"HTTP {status}: {code[:200]}")
    if code in TRANSIENT_ERRORS:
        return PostResult(Verdict.RETRY, error=code)
    if code in SETUP_ERRORS:
        return PostResult(Verdict.SETUP, error=f"{code}: Slack refused the OMS's SLACK_BOT_TOKEN")
    if status is not None and status != 200:
        # A proxy or a wrong SLACK_API_URL answering: not Slack's word on this message.
        return PostResult(Verdict.SETUP, error=f"HTTP {status} from SLACK_API_URL: {code[:200]}")
    return PostResult(Verdict.FAILED, error=code)


class AlertDeliverer:
    """Posts pending alerts to Slack; `start()` runs it in a thread, `stop()` ends it.

    `deliver_due()` is one pass (tests drive it with injected clocks): each channel's oldest
    pending alert is posted if it is due and the channel's pace allows.
    clock: the wall clock for `next_attempt_at` and `delivered_at` (aware UTC datetimes);
    monotonic: the pace between posts; sleep: how the thread waits between passes (by default
    until the next alert is due, a NOTIFY, or stop())."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        client: WebClient | None = None,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.configured = delivery_configured(settings)
        self._token = (
            settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
        )
        self._client = client
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pass_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self._owner_done = threading.Event()
        # Pace: when each channel may be posted to next (monotonic).
        self._next_post: dict[str, float] = {}
        # Token or setup refused: no post before this (monotonic).
        self._paused_until: float | None = None
        # Posted, but `delivered` not recorded yet (the database failed right then).
        self._unrecorded: dict[int, tuple[str, datetime]] = {}
        self._slack_trouble: Verdict | None = None  # logged once until a post succeeds
        self.delivered = 0  # posts Slack took, since this deliverer was made
        self.active = threading.Event()  # set while this deliverer holds the lock
        self.listening = threading.Event()  # set while LISTEN oms_alerts is in place
        self.notifications = 0  # NOTIFYs heard (each one wakes the deliverer)

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> bool:
        """Start the thread; False (and one log line) when Slack is not configured."""
        if not self.configured:
            log.info(
                "Slack alerts are not configured (SLACK_BOT_TOKEN and SLACK_ALERTS_CHANNEL_ID): "
                "alerts are recorded and wait as pending"
            )
            return False
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="oms-alerts", daemon=True)
            self._thread.start()
        return True

    def stop(self, timeout: float = SLACK_TIMEOUT_SECONDS + 5) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Look for due alerts now (e.g. after enqueueing in this process on SQLite)."""
        self._wake.set()

    @property
    def client(self) -> WebClient:
        if self._client is None:
            # No retry handlers: this class decides when to try again (and a retry by the
            # client after a lost answer would post twice).
            self._client = WebClient(
                token=self._token,
                base_url=self.settings.slack_api_url,
                timeout=SLACK_TIMEOUT_SECONDS,
                retry_handlers=[],
            )
        return self._client

    def _run(self) -> None:
        trouble_logged = False
        while not self._stop.is_set():
            try:
                with singleton_lock(self.engine, LOCK_NAME) as owner:
                    if owner:
                        log.info("alert delivery to Slack runs in this process")
                        self.active.set()
                        try:
                            self._deliver_until_stopped()
                        finally:
                            self.active.clear()
                        return
                trouble_logged = False
            except Exception as error:  # the database is down: ask again later
                if not trouble_logged:
                    log.warning(
                        "alert deliverer: cannot reach the database (%s)", type(error).__name__
                    )
                    trouble_logged = True
            self._stop.wait(LOCK_RETRY_SECONDS)

    def _deliver_until_stopped(self) -> None:
        self._owner_done.clear()
        if is_postgres(self.engine) and self._sleep is None:
            self._listener = threading.Thread(
                target=self._listen, name="oms-alerts-listener", daemon=True
            )
            self._listener.start()
        database_delay = 1.0
        database_trouble = False
        try:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    with self._pass_lock:
                        wait = self._pass()
                    if database_trouble:
                        log.info("alert deliverer: the database answers again")
                    database_trouble, database_delay = False, 1.0
                except Exception:
                    if not database_trouble:
                        log.exception("alert deliverer: a pass failed; trying again")
                    database_trouble = True
                    wait = database_delay
                    database_delay = min(database_delay * 2, DATABASE_BACKOFF_MAX_SECONDS)
                self._pause(wait)
        finally:
            self._owner_done.set()
            if self._listener is not None:
                self._listener.join(timeout=5)
                self._listener = None

    def _pause(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self._wake.wait(seconds)

    def _listen(self) -> None:
        """Wake the deliverer on every NOTIFY oms_alerts; reconnect with back-off."""
        conninfo = self.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        delay = 0.5
        while not self._owner_done.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as connection:
                    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.listening.set()
                    self._wake.set()  # whatever was recorded while nobody listened
                    delay = 0.5
                    while not self._owner_done.is_set():
                        for _ in connection.notifies(timeout=0.5):
                            self.notifications += 1
                            self._wake.set()
            except Exception as error:
                self.listening.clear()
                if self._owner_done.is_set():
                    return
                log.warning(
                    "alert listener: %s; polling until it reconnects in %.1f s",
                    type(error).__name__,
                    delay,
                )
                self._owner_done.wait(delay)
                delay = min(delay * 2, 10.0)
        self.listening.clear()

    # --- one pass ----------------------------------------------------------------------------
    def deliver_due(self) -> int:
        """Post what is due now: each channel's oldest pending alert, if its retry time has
        come and the channel's pace allows. Returns how many were delivered."""
        with self._pass_lock:
            before = self.delivered
            self._pass()
            return self.delivered - before

    def _poll_seconds(self) -> float:
        return POSTGRES_POLL_SECONDS if is_postgres(self.engine) else SQLITE_POLL_SECONDS

    def _pass(self) -> float:
        """One pass; returns the seconds until something may be due."""
        if not self.configured:
            return self._poll_seconds()
        self._record_unrecorded()
        if self._paused_until is not None:
            left = self._paused_until - self._monotonic()
            if left > 0:
                return min(left, self._poll_seconds())
            self._paused_until = None
        default_channel = self.settings.slack_alerts_channel_id or ""
        with self.engine.connect() as connection:
            heads: dict[str, int] = {}
            grouped = (
                select(ALERTS.c.channel_id, func.min(ALERTS.c.id))
                .where(ALERTS.c.state == AlertState.PENDING.value)
                .group_by(ALERTS.c.channel_id)
            )
            for channel_id, alert_id in connection.execute(grouped):
                channel = channel_id or default_channel
                heads[channel] = min(alert_id, heads.get(channel, alert_id))
            if not heads:
                return self._poll_seconds()
            rows = {
                row["id"]: row
                for row in connection.execute(
                    select(ALERTS).where(ALERTS.c.id.in_(list(heads.values())))
                ).mappings()
            }
        wait = self._poll_seconds()
        for channel, alert_id in sorted(heads.items(), key=lambda item: item[1]):
            if self._paused_until is not None:
                break  # the token was refused during this pass
            row = rows.get(alert_id)
            if row is None or alert_id in self._unrecorded:
                continue
            pace = self._next_post.get(channel, float("-inf")) - self._monotonic()
            due = row["next_attempt_at"]
            retry = (due - self._clock()).total_seconds() if due is not None else 0.0
            if pace > 0 or retry > 0:
                wait = min(wait, max(pace, retry))
                continue
            if self._deliver(channel, row):
                wait = min(wait, PACE_SECONDS)
        if self._paused_until is not None:
            wait = max(self._paused_until - self._monotonic(), MIN_WAIT_SECONDS)
        return max(wait, MIN_WAIT_SECONDS)

    def _deliver(self, channel: str, row: Any) -> bool:
        """Claim, post, record one alert; False when another deliverer claimed it first."""
        now = self._clock()
        with self.engine.begin() as connection:
            claimed = connection.execute(
                update(ALERTS)
                .where(
                    ALERTS.c.id == row["id"],
                    ALERTS.c.state == AlertState.PENDING.value,
                    ALERTS.c.attempts == row["attempts"],
                    or_(ALERTS.c.next_attempt_at.is_(None), ALERTS.c.next_attempt_at <= now),
                )
                .values(
                    attempts=row["attempts"] + 1,
                    next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS),
                )
            ).rowcount
        if claimed != 1:
            return False
        attempts = row["attempts"] + 1
        result = self._post(channel, row)
        self._next_post[channel] = self._monotonic() + PACE_SECONDS
        self._record(row["id"], attempts, result, channel)
        return True

    def _message(self, row: Any) -> dict[str, Any]:
        try:
            return blocks.render(row["kind"], row["title"], row["body"], row["created_at"])
        except Exception:
            log.exception("alert %s: its message could not be built; posting it plain", row["id"])
            return blocks.plain(row["kind"], row["title"], row["body"])

    def _post(self, channel: str, row: Any) -> PostResult:
        message = self._message(row)
        try:
            try:
                answer = self._post_message(channel, message)
            except SlackApiError as error:
                data = getattr(error.response, "data", None)
                code = data.get("error") if isinstance(data, dict) else None
                if code not in BLOCK_ERRORS:
                    raise
                log.error(
                    "alert %s: Slack refused its blocks (%s); posting it plain", row["id"], code
                )
                answer = self._post_message(
                    channel, blocks.plain(row["kind"], row["title"], row["body"])
                )
        except Exception as error:
            return classify(error)
        return PostResult(Verdict.DELIVERED, ts=str(answer.get("ts") or "") or None)

    def _post_message(self, channel: str, message: dict[str, Any]) -> Any:
        return self.client.chat_postMessage(
            channel=channel,
            text=message["text"],
            blocks=message["blocks"],
            unfurl_links=False,
            unfurl_media=False,
        )

    def _record(self, alert_id: int, attempts: int, result: PostResult, channel: str) -> None:
        now = self._clock()
        if result.verdict is Verdict.DELIVERED:
            self.delivered += 1
            if self._slack_trouble is not None:
                log.info("Slack takes alerts again")
                self._slack_trouble = None
            self._unrecorded[alert_id] = (result.ts or "", now)
            self._record_unrecorded()
            return
        error = self._safe(result.error or "unknown")
        values: dict[str, Any] = {"last_error": error[:LAST_ERROR_MAX]}
        if result.verdict is Verdict.FAILED:
            values.update(state=AlertState.FAILED.value, next_attempt_at=None)
            log.warning(
                "alert %d not delivered to %s: Slack refused it (%s)", alert_id, channel, error
            )
        elif result.verdict is Verdict.SETUP:
            self._paused_until = self._monotonic() + AUTH_PAUSE_SECONDS
            values["next_attempt_at"] = now + timedelta(seconds=AUTH_PAUSE_SECONDS)
            self._trouble(
                result.verdict,
                logging.ERROR,
                f"{error}; alerts wait as pending, trying again every "
                f"{AUTH_PAUSE_SECONDS / 60:g} minutes (fix the setting and restart)",
            )
        else:
            delay = (
                result.retry_after if result.retry_after is not None else backoff_seconds(attempts)
            )
            values["next_attempt_at"] = now + timedelta(seconds=delay)
            self._trouble(
                result.verdict,
                logging.WARNING,
                f"Slack did not take an alert ({error}); alerts wait and are retried",
            )
        with self.engine.begin() as connection:
            connection.execute(
                update(ALERTS)
                .where(ALERTS.c.id == alert_id, ALERTS.c.state == AlertState.PENDING.value)
                .values(values)
            )

    def _record_unrecorded(self) -> None:
        """Record `delivered` for what Slack took; kept in memory while the database fails,
        so that a database blip does not post an alert twice."""
        for alert_id, (ts, at) in list(self._unrecorded.items()):
            with self.engine.begin() as connection:
                connection.execute(
                    update(ALERTS)
                    .where(ALERTS.c.id == alert_id)
                    .values(
                        state=AlertState.DELIVERED.value,
                        slack_ts=ts[:40] or None,
                        delivered_at=at,
                        next_attempt_at=None,
                        last_error=None,
                    )
                )
            del self._unrecorded[alert_id]

    def _trouble(self, verdict: Verdict, level: int, message: str) -> None:
        """Log a kind of delivery problem once, until a post succeeds again."""
        if self._slack_trouble is not verdict:
            log.log(level, "alert delivery: %s", message)
        self._slack_trouble = verdict

    def _safe(self, text: str) -> str:
        """Never let the token into last_error or the log, whatever an error message holds."""
        return text.replace(self._token, "[token]") if self._token else text
