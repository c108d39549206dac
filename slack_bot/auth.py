"""Who may do what from Slack.

Slack lets anyone in the workspace run a slash command, so the bot authorises every request
itself: traders may trade, admins may trade and run admin commands, and when allowed channels
are configured, trading and admin commands only work there. Read-only commands (positions,
account, orders, quotes, help) show account data, so they are for traders and admins too,
unless the bot is open to the whole workspace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bot.config import BotSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempt:
    """What a user tried, as the audit trail records a refusal of it: the command, button or
    form used, the user's name, and what it was aimed at (e.g. "trade 12")."""

    source: str  # "/trade", "button order_cancel", "form trade_form"
    user_name: str | None = None
    target: str | None = None

    @classmethod
    def of_command(cls, command: dict[str, Any]) -> Attempt:
        return cls(str(command.get("command") or "a command"), command.get("user_name"))

    @classmethod
    def of_button(
        cls, body: dict[str, Any], action: dict[str, Any], target: str | None = None
    ) -> Attempt:
        return cls(f"button {action.get('action_id')}", user_name_of(body), target)

    @classmethod
    def of_form(cls, body: dict[str, Any], view: dict[str, Any]) -> Attempt:
        return cls(f"form {view.get('callback_id')}", user_name_of(body))


def user_name_of(body: dict[str, Any]) -> str | None:
    """The Slack user's name in an interaction payload (buttons, forms)."""
    user = body.get("user") or {}
    return user.get("username") or user.get("name")


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused; `message` is the polite text shown to the user."""

    message: str
    action: str
    user_id: str
    channel_id: str | None
    reason: str  # "not_trader" | "not_admin" | "not_reader" | "channel_not_allowed"
    attempt: Attempt | None = None


class Authorizer:
    def __init__(
        self, settings: BotSettings, on_refusal: Callable[[Refusal], None] | None = None
    ) -> None:
        self._traders = frozenset(settings.slack_trader_user_ids)
        self._admins = frozenset(settings.slack_admin_user_ids)
        self._channels = tuple(settings.slack_allowed_channel_ids)
        self._open_to_workspace = settings.slack_open_to_workspace
        # Told of every refusal (the bot reports them to the OMS audit trail); must not block.
        self.on_refusal = on_refusal

    def is_admin(self, user_id: str) -> bool:
        return user_id in self._admins

    def may_trade(self, user_id: str) -> bool:
        """Whether the user may trade at all, wherever they are (e.g. to tailor /oms help)."""
        return self._open_to_workspace or user_id in self._traders or user_id in self._admins

    def channel_allowed(self, channel_id: str | None) -> bool:
        return not self._channels or channel_id in self._channels

    def check_trade(
        self,
        user_id: str,
        channel_id: str | None,
        action: str = "trade",
        *,
        attempt: Attempt | None = None,
    ) -> Refusal | None:
        """None when the user may trade here; `action` words the refusal ("sell", …)."""
        if not self.may_trade(user_id):
            return self._refuse(
                "not_trader",
                action,
                user_id,
                channel_id,
                f"Sorry, you are not allowed to {action} from Slack. Ask an admin to add your "
                f"user id ({user_id}) to SLACK_TRADER_USER_IDS.",
                attempt,
            )
        return self._check_channel(action, user_id, channel_id, attempt)

    def check_admin(
        self,
        user_id: str,
        channel_id: str | None,
        action: str = "use admin commands",
        *,
        attempt: Attempt | None = None,
    ) -> Refusal | None:
        """None when the user is an admin in an allowed channel; open_to_workspace never
        makes anyone an admin."""
        if not self.is_admin(user_id):
            return self._refuse(
                "not_admin",
                action,
                user_id,
                channel_id,
                f"Sorry, only OMS admins may {action} from Slack. Ask an admin to add your "
                f"user id ({user_id}) to SLACK_ADMIN_USER_IDS.",
                attempt,
            )
        return self._check_channel(action, user_id, channel_id, attempt)

    def check_read(
        self,
        user_id: str,
        channel_id: str | None,
        action: str = "see OMS account data",
        *,
        attempt: Attempt | None = None,
    ) -> Refusal | None:
        """None when the user may run read-only commands; these work in any channel."""
        if not self.may_trade(user_id):
            return self._refuse(
                "not_reader",
                action,
                user_id,
                channel_id,
                f"Sorry, you are not allowed to {action} from Slack. Ask an admin to add your "
                f"user id ({user_id}) to SLACK_TRADER_USER_IDS.",
                attempt,
            )
        return None

    def _check_channel(
        self, action: str, user_id: str, channel_id: str | None, attempt: Attempt | None
    ) -> Refusal | None:
        if self.channel_allowed(channel_id):
            return None
        channels = ", ".join(f"<#{channel}>" for channel in self._channels)
        return self._refuse(
            "channel_not_allowed",
            action,
            user_id,
            channel_id,
            f"Sorry, you cannot {action} from this channel; please use {channels}.",
            attempt,
        )

    def _refuse(
        self,
        reason: str,
        action: str,
        user_id: str,
        channel_id: str | None,
        message: str,
        attempt: Attempt | None,
    ) -> Refusal:
        log.warning(
            "slack request refused: reason=%s action=%r user=%s channel=%s",
            reason,
            action,
            user_id,
            channel_id,
        )
        refusal = Refusal(
            message=message,
            action=action,
            user_id=user_id,
            channel_id=channel_id,
            reason=reason,
            attempt=attempt,
        )
        if self.on_refusal is not None:
            try:
                self.on_refusal(refusal)
            except Exception:  # reporting must never stand between the user and the answer
                log.exception("could not hand the refusal of %s over for the audit trail", user_id)
        return refusal
