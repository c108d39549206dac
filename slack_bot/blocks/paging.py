"""Page buttons over an OMS list paged with an opaque cursor (/reconcile's discrepancies,
/history's trades): each button carries the list's filters, the cursor of the page it opens
and the cursors of the pages before it, so every page is one OMS request away."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from slack_bot.blocks.common import BUTTON_VALUE_LIMIT

# An OMS cursor is opaque but short (a few dozen characters); refuse anything absurd.
CURSOR_LIMIT = 500
FILTER_VALUE_LIMIT = 64
FilterValue = str | int | None


def _is_cursor(value: object) -> bool:
    return value is None or (isinstance(value, str) and 0 < len(value) <= CURSOR_LIMIT)


def _is_filter(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return 0 < len(value) <= FILTER_VALUE_LIMIT
    return value is None or isinstance(value, int)


@dataclass(frozen=True)
class CursorPage:
    """Which page of which list a message shows, and how it got there.

    `cursor` is the OMS cursor the page was fetched with (None: the first page). `back` holds
    the cursors of the pages before it, the nearest last; the oldest are dropped when the
    button value would outgrow Slack's limit, and Previous then goes to the first page."""

    kind: str
    filters: dict[str, FilterValue] = field(default_factory=dict)
    page: int = 0
    cursor: str | None = None
    back: tuple[str | None, ...] = ()

    def to_value(self) -> str:
        """The page button value, within Slack's limit (dropping the oldest back cursors)."""
        page = self
        while True:
            value = json.dumps(
                {
                    "kind": page.kind,
                    "page": page.page,
                    "filters": page.filters,
                    "cursor": page.cursor,
                    "back": list(page.back),
                },
                separators=(",", ":"),
            )
            if len(value) <= BUTTON_VALUE_LIMIT or not page.back:
                return value
            page = replace(page, back=page.back[1:])

    @classmethod
    def from_value(cls, value: str, kind: str) -> CursorPage:
        """The inverse of `to_value` for a list of `kind`; ValueError for anything else."""
        try:
            data: Any = json.loads(value)
        except (TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a {kind} page value") from exc
        if not isinstance(data, dict) or data.get("kind") != kind:
            raise ValueError(f"not a {kind} page value")
        page, filters = data.get("page"), data.get("filters")
        cursor, back = data.get("cursor"), data.get("back")
        if (
            not isinstance(page, int)
            or isinstance(page, bool)
            or page < 0
            or not isinstance(filters, dict)
            or not all(isinstance(k, str) and _is_filter(v) for k, v in filters.items())
            or not _is_cursor(cursor)
            or not isinstance(back, list)
            or not all(_is_cursor(item) for item in back)
            or len(back) > page
        ):
            raise ValueError(f"not a {kind} page value")
        return cls(kind, dict(filters), page, cursor, tuple(back))

    def following(self, next_cursor: str) -> CursorPage:
        return replace(self, page=self.page + 1, cursor=next_cursor, back=(*self.back, self.cursor))

    def previous(self) -> CursorPage:
        if not self.back:  # the way back was dropped: start again from the first page
            return replace(self, page=0, cursor=None, back=())
        return replace(self, page=self.page - 1, cursor=self.back[-1], back=self.back[:-1])


def fitting(value: str | None) -> str | None:
    """A button value Slack takes, else None (only an absurd OMS cursor could overflow:
    better no button than a refused message)."""
    return value if value is not None and len(value) <= BUTTON_VALUE_LIMIT else None


def nav_values(where: CursorPage, next_cursor: str | None) -> tuple[str | None, str | None]:
    """(Previous, Next) button values of the page `where`, None where there is no such page."""
    previous = where.previous().to_value() if where.page > 0 else None
    following = where.following(next_cursor).to_value() if next_cursor else None
    return fitting(previous), fitting(following)
