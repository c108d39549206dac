"""Page cursors: an opaque token for "rows with an id below this one", per list.

Each list has its own prefix, so a cursor handed out by one list is refused by another, and
only what `encode` made is accepted (`int()` alone would take "-1", "+5", "1_0" or non-ASCII
digits)."""

from __future__ import annotations

import base64
import re

from oms_api.errors import ServiceError

_ID = re.compile(r"[1-9][0-9]{0,9}")


class IdCursor:
    def __init__(self, prefix: str, max_id: int) -> None:
        self.prefix = prefix
        self.max_id = max_id  # the id column's range (INTEGER: 2**31 - 1 on PostgreSQL)

    def encode(self, row_id: int) -> str:
        return base64.urlsafe_b64encode(f"{self.prefix}:{row_id}".encode()).decode().rstrip("=")

    def decode(self, cursor: str) -> int:
        """The id a cursor stands for; 400 `invalid_cursor` for anything else."""
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            text = base64.urlsafe_b64decode(padded.encode()).decode()
        except ValueError:  # bad base64, or not UTF-8 (UnicodeDecodeError)
            text = ""
        prefix, _, digits = text.partition(":")
        if prefix != self.prefix or not _ID.fullmatch(digits) or int(digits) > self.max_id:
            raise ServiceError(400, "invalid_cursor", "cursor is not one this API handed out")
        return int(digits)
