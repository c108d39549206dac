"""Who may do what from Slack.

Slack lets anyone in the workspace run a slash command, so the bot authorises every request
itself: traders may trade, admins may trade and run admin commands, and when allowed channels
are configured, trading and admin commands only work there. Read-only commands (positions,
account, orders, quotes, help) show account data, so they are for traders and admins too,
unless the bot is open to the whole workspace.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_bot.config import BotSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused; `message` is the polite text shown to the user."""

    message: str
    action: str
    user_id: str
    channel_id: str | None
    reason: str  # "not_trader" | "not_admin" | "not_reader" | "channel_not_allowed"


class Authorizer:
    def __init__(self, settings: BotSettings) -> None:
        self._traders = frozenset(settings.slack_trader_user_ids)
        self._admins = frozenset(settings.slack_admin_user_ids)
        self._channels = tuple(settings.slack_allowed_channel_ids)
        self._open_to_workspace = settings.slack_open_to_workspace

    def is_admin(self, user_id: str) -> bool:
        return user_id in self._admins

    def may_trade(self, user_id: str) -> bool:
        """Whether the user may trade at all, wherever they are (e.g. to tailor /oms help)."""
        return self._open_to_workspace or user_id in self._traders or user_id in self._admins

    def channel_allowed(self, channel_id: str | None) -> bool:
        return not self._channels or channel_id in self._channels

    def check_trade(
        self, user_id: str, channel_id: str | None, action: str = "trade"
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
            )
        return self._check_channel(action, user_id, channel_id)

    def check_admin(
        self, user_id: str, channel_id: str | None, action: str = "use admin commands"
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
            )
        return self._check_channel(action, user_id, channel_id)

    def check_read(
        self, user_id: str, channel_id: str | None, action: str = "see OMS account data"
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
            )
        return None

    def _check_channel(self, action: str, user_id: str, channel_id: str | None) -> Refusal | None:
        if self.channel_allowed(channel_id):
            return None
        channels = ", ".join(f"<#{channel}>" for channel in self._channels)
        return self._refuse(
            "channel_not_allowed",
            action,
            user_id,
            channel_id,
            f"Sorry, you cannot {action} from this channel; please use {channels}.",
        )

    @staticmethod
    def _refuse(
        reason: str, action: str, user_id: str, channel_id: str | None, message: str
    ) -> Refusal:
        log.warning(
            "slack request refused: reason=%s action=%r user=%s channel=%s",
            reason,
            action,
            user_id,
            channel_id,
        )
        return Refusal(
            message=message, action=action, user_id=user_id, channel_id=channel_id, reason=reason
        )
