"""Refusals go to the OMS audit trail: who tried what, where, and why the bot said no.

Each report is sent in the background, so the user's answer (and Slack's ack) never waits for
the OMS; when the OMS cannot take it, the bot's log keeps it (the Authorizer logged the refusal
already, so it is never lost without a trace)."""

from __future__ import annotations

import logging
from concurrent.futures import Executor

from slack_bot.auth import Refusal
from slack_bot.oms_client import OmsClient, OmsError, OmsUnavailable

log = logging.getLogger(__name__)

# The Authorizer's reasons, in the audit trail's words.
REASONS = {
    "not_trader": "user not allowed",
    "not_reader": "user not allowed",
    "not_admin": "user not allowed (admins only)",
    "channel_not_allowed": "channel not allowed",
}


class RefusalReporter:
    """An `Authorizer.on_refusal`: reports each refusal to POST /api/v1/audit/refusals."""

    def __init__(self, oms: OmsClient, executor: Executor) -> None:
        self._oms = oms
        self._executor = executor

    def __call__(self, refusal: Refusal) -> None:
        self._executor.submit(self._send, refusal)

    def _send(self, refusal: Refusal) -> None:
        attempt = refusal.attempt
        try:
            # Cut to what the OMS takes: a long name must not cost the record.
            self._oms.record_refusal(
                refusal.user_id,
                (attempt.source if attempt else refusal.action)[:100],
                REASONS.get(refusal.reason, refusal.reason),
                actor_name=attempt.user_name[:100] if attempt and attempt.user_name else None,
                target=attempt.target[:200] if attempt and attempt.target else None,
                channel_id=refusal.channel_id or None,
            )
        except (OmsError, OmsUnavailable) as error:
            log.warning(
                "the refusal of %s (%s) is not in the OMS audit trail: %s",
                refusal.user_id,
                refusal.reason,
                error,
            )
        except Exception:  # a worker thread: nothing else would ever see it
            log.exception("could not report the refusal of %s to the OMS", refusal.user_id)
