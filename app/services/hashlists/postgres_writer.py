"""Writing a batch of imported items to PostgreSQL: one ``COPY`` a batch.

A batch whose rows differ only in id and hash goes in binary form, every row
laid out at once in a NumPy array; any other in text form, built here (about
twice the speed of psycopg adapting each value of each row).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from app.services.hashlists.columns import COLUMN_LIST, IMPORTED, Shared, in_order
from app.services.hashlists.formats import Entry
from app.services.hashlists.resume import ImportOptions

_IDS = text(
    "SELECT min(v), max(v), CASE WHEN max(v) - min(v) + 1 = count(*) THEN NULL "
    "ELSE array_agg(v ORDER BY v) END "
    "FROM (SELECT nextval(CAST(:seq AS regclass)) AS v FROM generate_series(1, :n)) AS ids"
)
_COPY = f"COPY items ({COLUMN_LIST}) FROM STDIN"
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_BINARY_TRAILER = struct.pack("!h", -1)
_NULL = struct.pack("!i", -1)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
"""Binary timestamps count microseconds from here."""
_TEXT_NULL = "\\N"

# The binary rows are laid out as id, the shared columns, then the hash.
if (IMPORTED[0], IMPORTED[-1]) != ("id", "hash_value"):
    raise ValueError(f"a binary COPY row needs id first and hash_value last: {IMPORTED}")


def copy_text(value: str | None) -> str:
    """A value in PostgreSQL's COPY text format."""
    if value is None:
        return _TEXT_NULL
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _binary_text(value: str | None) -> bytes:
    if value is None:
        return _NULL
    data = value.encode()
    return struct.pack("!i", len(data)) + data


class PostgresItems:
    """Imported items into PostgreSQL, inside the caller's transaction."""

    def __init__(self, conn: Connection, options: ImportOptions) -> None:
        self.conn = conn
        self.options = options
        with conn.begin():
            self._sequence = str(conn.scalar(text("SELECT pg_get_serial_sequence('items', 'id')")))
        self._copy_memo: dict[str | None, str] = {}

    def new_ids(self, count: int) -> list[int]:
        """Ids for ``count`` new items from the sequence, taken before inserting
        so the batch's feed row can name its range."""
        # Contiguous unless another session took ids meanwhile: then, and only
        # then, the ids themselves come back.
        low, high, scattered = self.conn.execute(_IDS, {"seq": self._sequence, "n": count}).one()
        if scattered is not None:
            return [int(value) for value in scattered]
        return list(range(int(low), int(high) + 1))

    def uniform(self, ids: Sequence[int], shared: Shared, values: bytes, now: datetime) -> None:
        """A batch whose rows differ only in id and hash (``values``, the hashes
        end to end), by ``COPY`` in binary form: no Python step per row, and
        less for the server to parse than text."""
        count = len(ids)
        micros = (now - _EPOCH) // timedelta(microseconds=1)
        # The id's length is in ``head`` and the ids' own column below; the
        # hash's length is here and its bytes after.
        fields = {
            "id": b"",
            "media_type": _binary_text(shared.media_type),
            "category": _binary_text(shared.category),
            "case_ref": _binary_text(shared.case_ref),
            "note": _binary_text(shared.note),
            "quality": _NULL if shared.quality is None else struct.pack("!ii", 4, shared.quality),
            "active": struct.pack("!i?", 1, True),
            "created_at": struct.pack("!iq", 8, micros),
            "created_by": _binary_text(self.options.operator),
            "hash_signal": _binary_text(shared.signal),
            "hash_value": struct.pack("!i", shared.width),
        }
        middle = b"".join(in_order(fields))
        head = struct.pack("!hi", len(IMPORTED), 8)
        rows = np.empty((count, len(head) + 8 + len(middle) + shared.width), np.uint8)
        rows[:, : len(head)] = np.frombuffer(head, np.uint8)
        at = len(head) + 8
        rows[:, len(head) : at] = np.asarray(ids, ">i8").view(np.uint8).reshape(count, 8)
        rows[:, at : at + len(middle)] = np.frombuffer(middle, np.uint8)
        rows[:, at + len(middle) :] = np.frombuffer(values, np.uint8).reshape(count, shared.width)
        driver: Any = self.conn.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(_COPY + " (FORMAT binary)") as copy:
            copy.write(_BINARY_HEADER + rows.tobytes() + _BINARY_TRAILER)

    def _field(self, value: str | None) -> str:
        out = self._copy_memo.get(value)
        if out is None:
            out = self._copy_memo[value] = copy_text(value)
        return out

    def mixed(self, ids: Sequence[int], entries: Sequence[Entry], now: datetime) -> None:
        """A batch of per-line values, by ``COPY`` in text form, a column at a
        time."""
        field = self._field
        category = self.options.category.value
        case_ref = self.options.case_ref
        by_name: dict[str, Iterable[str]] = {
            "id": map(str, ids),
            "media_type": [e.media_type for e in entries],
            "category": [category if e.category is None else e.category for e in entries],
            "case_ref": [field(case_ref if e.case_ref is None else e.case_ref) for e in entries],
            "note": [field(e.note) for e in entries],
            "quality": [_TEXT_NULL if e.quality is None else str(e.quality) for e in entries],
            "active": repeat("t"),
            "created_at": repeat(copy_text(now.isoformat())),
            "created_by": repeat(field(self.options.operator)),
            "hash_signal": [e.signal for e in entries],
            "hash_value": ["\\\\x" + e.value.hex() for e in entries],
        }
        rows = "\n".join(map("\t".join, zip(*in_order(by_name), strict=False))) + "\n"
        driver: Any = self.conn.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(_COPY) as copy:
            copy.write(rows)
