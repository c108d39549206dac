"""The order state machine: which status may follow which.

Odd but real broker sequences are allowed on purpose (a fill reported after a cancel, a
pending cancel that the broker refuses, an order we gave up on that the broker processed after
all); anything else is logged and ignored by the order service, never crashed on.
"""

from __future__ import annotations

from oms_api.orders.enums import OrderStatus as S

_BROKER_HAS_IT = frozenset(
    {S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED}
)

TRANSITIONS: dict[S, frozenset[S]] = {
    # After a crash a pending_submit order may have reached the broker and moved on since:
    # whatever the broker reports for its client_order_id is adopted.
    S.PENDING_SUBMIT: frozenset(
        {
            S.SUBMITTED,
            S.UNKNOWN,
            S.REJECTED,
            S.ACCEPTED,
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.CANCELED,
            S.EXPIRED,
            S.NOT_SENT,  # the connection could not even be opened
        }
    ),
    S.SUBMITTED: frozenset(
        {
            S.ACCEPTED,
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.REJECTED,
            S.UNKNOWN,
            S.CANCELED,
            S.EXPIRED,
            S.NOT_SENT,
        }
    ),
    S.UNKNOWN: frozenset(
        {
            S.SUBMITTED,  # re-sent with the same client_order_id after the grace period
            S.ACCEPTED,
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.REJECTED,
            S.CANCELED,
            S.EXPIRED,
            S.NOT_SENT,  # the broker kept saying it has no such order, until it was too old
        }
    ),
    S.ACCEPTED: frozenset(
        {
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.PENDING_CANCEL,
            S.CANCELED,
            S.EXPIRED,
            S.REJECTED,
            S.REPLACED,
        }
    ),
    S.PARTIALLY_FILLED: frozenset({S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED, S.REPLACED}),
    S.PENDING_CANCEL: frozenset(
        {
            S.CANCELED,
            S.FILLED,  # the fill won the race against the cancel
            S.PARTIALLY_FILLED,
            S.ACCEPTED,  # the broker refused the cancel
            S.EXPIRED,
        }
    ),
    # A late fill can arrive after the cancel was confirmed; the fill is a fact and wins.
    S.CANCELED: frozenset({S.FILLED, S.PARTIALLY_FILLED}),
    S.EXPIRED: frozenset({S.FILLED, S.PARTIALLY_FILLED}),
    # A request the broker refused, or one we gave up on, may still have been processed by the
    # broker from an earlier attempt with the same client_order_id (a send that timed out):
    # what the broker then reports about that order is a fact, and the status follows it.
    S.REJECTED: _BROKER_HAS_IT,
    S.NOT_SENT: _BROKER_HAS_IT,
    S.FILLED: frozenset(),
    S.REPLACED: frozenset(),
}


def can_transition(current: S, new: S) -> bool:
    return current == new or new in TRANSITIONS[current]


# Alpaca's order statuses, mapped onto ours.
BROKER_STATUS_MAP: dict[str, S] = {
    "new": S.ACCEPTED,
    "accepted": S.ACCEPTED,
    "pending_new": S.ACCEPTED,
    "accepted_for_bidding": S.ACCEPTED,
    "held": S.ACCEPTED,
    "calculated": S.ACCEPTED,
    "stopped": S.ACCEPTED,
    "suspended": S.ACCEPTED,
    "pending_review": S.ACCEPTED,
    "pending_replace": S.ACCEPTED,
    "done_for_day": S.ACCEPTED,
    "partially_filled": S.PARTIALLY_FILLED,
    "filled": S.FILLED,
    "pending_cancel": S.PENDING_CANCEL,
    "canceled": S.CANCELED,
    "expired": S.EXPIRED,
    "rejected": S.REJECTED,
    "replaced": S.REPLACED,
}


def from_broker_status(status: str) -> S | None:
    return BROKER_STATUS_MAP.get(status)
