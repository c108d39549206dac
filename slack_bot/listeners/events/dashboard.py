"""The App Home tab's dashboard: the desk read from the OMS (five reads side by side) and
published to one user with views.publish — when they open the tab, and after each thing they
do there. Shared by the app_home_opened listener and the Home tab's buttons.

A click in the Home tab has no channel and no response_url: what it does is posted in the
desk's channel (the first allowed channel; without one, the user's messages with the app),
authorised as if done there, and what the user must know is shown on top of the tab."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError

from slack_bot import wording
from slack_bot.auth import Attempt
from slack_bot.blocks.home import ALERTS_SHOWN, HomeData, home_notice_view, home_view
from slack_bot.deps import BotDeps
from slack_bot.listeners.common import sentence_for, trading_mode
from slack_bot.oms_client import OmsClient, OmsError, OmsUnavailable

log = logging.getLogger(__name__)

NOT_BUILT = "The dashboard could not be built just now — open this tab again in a minute."
HOME_STALE_BUTTON = "That button was from an older view of the desk — here it is again, refreshed."


def _alerts(oms: OmsClient) -> list[dict[str, Any]]:
    return oms.alerts(ALERTS_SHOWN).get("alerts") or []


# Each part of the dashboard: how it is read, what it is called in a sentence, its JSON type.
PARTS: dict[str, tuple[Callable[[OmsClient], Any], str, type]] = {
    "account": (OmsClient.account, "the account", dict),
    "portfolios": (OmsClient.portfolios, "the portfolios", list),
    "positions": (OmsClient.positions, "positions", list),
    "trading_state": (OmsClient.trading_state, "the trading state", dict),
    "alerts": (_alerts, "the alerts", list),
}


def read_desk(deps: BotDeps) -> HomeData | None:
    """Every part of the dashboard, read side by side; a part that failed is None with its
    sentence in `problems`. None when the OMS could not be reached at all."""
    futures = {part: deps.lookups.submit(read, deps.oms) for part, (read, _, _) in PARTS.items()}
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    unreachable = 0
    for part, future in futures.items():
        _, reading, kind = PARTS[part]
        try:
            answer = future.result()
        except OmsUnavailable as error:
            log.warning("home: %s unavailable: %s", reading, error)
            unreachable += 1
            problems[part] = wording.OMS_DOWN_READ
            continue
        except OmsError as error:
            log.info("home: OMS refused %s: %s %s", reading, error.code, error.message)
            problems[part] = sentence_for(error, reading=reading)
            continue
        if not isinstance(answer, kind):
            log.warning("home: unexpected answer for %s: %s", reading, type(answer).__name__)
            problems[part] = f"The OMS answered something unexpected for {reading}."
            continue
        values[part] = answer
    if unreachable == len(PARTS):
        return None
    account = values.get("account")
    mode = str(account.get("mode") or "") if account else ""
    return HomeData(
        **values,
        problems=problems,
        mode=mode or trading_mode(deps),
        as_of=deps.clock(),
    )


def build_home(
    deps: BotDeps,
    user: str,
    notice: str | None = None,
    tone: str = "info",
    posted_in: str | None = None,
) -> dict[str, Any]:
    """The user's Home tab: the dashboard, or why there is none (not allowed, OMS down)."""
    refusal = deps.authorizer.check_read(
        user, None, "see the trading desk", attempt=Attempt("app home", None, "the dashboard")
    )
    if refusal is not None:
        return home_notice_view(refusal.message)
    data = read_desk(deps)
    if data is None:
        sentence = (
            "The OMS cannot be reached right now, so the desk cannot be shown — open this "
            "tab again in a minute."
        )
        return home_notice_view(f"{notice} {sentence}" if notice else sentence)
    return home_view(
        data,
        admin=deps.authorizer.is_admin(user),
        trader=deps.authorizer.may_trade(user),
        notice=notice,
        tone=tone,
        posted_in=posted_in,
    )


def publish_home(
    deps: BotDeps,
    client: Any,
    user: str,
    *,
    notice: str | None = None,
    tone: str = "info",
    posted_in: str | None = None,
) -> None:
    """views.publish the user's Home tab, with `notice` on top (and where its result was
    posted). Never raises: a listener thread is the caller."""
    try:
        view = build_home(deps, user, notice, tone, posted_in)
    except Exception:
        log.exception("home: the dashboard for %s could not be built", user)
        view = home_notice_view(f"{notice} {NOT_BUILT}" if notice else NOT_BUILT)
    try:
        client.views_publish(user_id=user, view=view)
    except SlackApiError as error:
        log.warning("home: views.publish for %s failed: %s", user, error.response.get("error"))
    except Exception:
        log.exception("home: views.publish for %s failed", user)


# --- clicks in the Home tab -----------------------------------------------------------------
def clicked_in_home(body: dict[str, Any]) -> bool:
    """A listener matcher: the button is in a Home tab, not in a message or a modal."""
    container = body.get("container") or {}
    view = body.get("view") or {}
    return container.get("type") == "view" and view.get("type") == "home"


def home_channel(deps: BotDeps, user: str) -> str:
    """Where a Home tab action is authorised and its result posted: the desk's first allowed
    channel, else the user's messages with the app (a user id as channel is their DM)."""
    allowed = deps.settings.slack_allowed_channel_ids
    return allowed[0] if allowed else user


def as_message_click(body: dict[str, Any]) -> dict[str, Any]:
    """The click's body as the message buttons' handlers read it: the rendering of the tab
    (its hash, new at each publish) stands in for the message, so a double click on one
    rendering acts once."""
    container = {**(body.get("container") or {})}
    container["message_ts"] = str((body.get("view") or {}).get("hash") or "")
    return {**body, "container": container}


class HomeReplies:
    """Stands in for bolt's `respond` in a Home tab click (which has no response_url): keeps
    what a shared handler would have told the user, to show on top of the tab."""

    def __init__(self) -> None:
        self.sentences: list[str] = []

    def __call__(self, text: str = "", **_: Any) -> None:
        self.sentences.append(text)

    @property
    def last(self) -> str | None:
        return self.sentences[-1] if self.sentences else None


class HomeSellViews:
    """Sell modals opened from the Home tab (by view id, bounded): their confirmation, once
    placed, republishes the tab."""

    def __init__(self, capacity: int = 1000) -> None:
        self._views: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self._capacity = capacity

    def add(self, view_id: str, user: str) -> None:
        with self._lock:
            self._views[view_id] = user
            while len(self._views) > self._capacity:
                self._views.popitem(last=False)

    def user_of(self, view_id: str) -> str | None:
        with self._lock:
            return self._views.get(view_id)


_sell_views: dict[int, HomeSellViews] = {}
_sell_views_lock = threading.Lock()


def home_sell_views(deps: BotDeps) -> HomeSellViews:
    """This app's Home tab sell modals (one registry per BotDeps, as `trading_mode` caches)."""
    with _sell_views_lock:
        return _sell_views.setdefault(id(deps), HomeSellViews())
