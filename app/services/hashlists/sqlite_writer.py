"""Writing a batch of imported items to SQLite: one statement a batch.

The statement makes its rows itself, with the hashes in one blob cut by
``substr()``: no Python binding per row, three times the rows a second of
``executemany``. The batch's item ids are contiguous, as the batch's
transaction holds the database's write lock (see
:meth:`~app.services.hashlists.writing.BatchWriter.commit`), so each row's id is
the first plus its rank.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from app.models import Item
from app.services.hashlists.columns import COLUMN_LIST, ITEMS, Shared, in_order
from app.services.hashlists.dedupe import VALUE
from app.services.hashlists.formats import Entry
from app.services.hashlists.resume import ImportOptions

PRAGMAS = {"cache_size": -131_072}
"""SQLite settings of the import's own connection, restored when it is done."""

_INSERT = f"INSERT INTO items ({COLUMN_LIST}) "
_UNIFORM = (
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :count) "
    + _INSERT
    + "SELECT "
    + ", ".join(
        in_order(
            {
                "id": ":first + i",
                "media_type": ":media_type",
                "category": ":category",
                "case_ref": ":case_ref",
                "note": ":note",
                "quality": ":quality",
                "active": "1",
                "created_at": ":created_at",
                "created_by": ":created_by",
                "hash_signal": ":signal",
                "hash_value": "substr(:values, i * :width + 1, :width)",
            }
        )
    )
    + " FROM n"
)
"""Every entry of the batch has the same signal, category, case, quality, note
and media type (a list without per-line columns)."""
_MIXED = (
    _INSERT
    + "SELECT "
    + ", ".join(
        in_order(
            {
                "id": ":first + key",
                "media_type": "value ->> 0",
                "category": "value ->> 1",
                "case_ref": "value ->> 2",
                "note": "value ->> 3",
                "quality": "value ->> 4",
                "active": "1",
                "created_at": ":created_at",
                "created_by": ":created_by",
                "hash_signal": "value ->> 5",
                "hash_value": "substr(:values, value ->> 6, value ->> 7)",
            }
        )
    )
    + " FROM json_each(:rows)"
)
"""Per-line values as one JSON array of rows (see :meth:`SqliteItems.mixed`)."""


@contextmanager
def import_settings(conn: Connection) -> Iterator[None]:
    """:data:`PRAGMAS` on ``conn`` for the duration, then as they were."""
    saved: dict[str, Any] = {}
    with conn.begin():
        for name, value in PRAGMAS.items():
            saved[name] = conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            conn.exec_driver_sql(f"PRAGMA {name} = {value}")
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()
        with conn.begin():
            for name, value in saved.items():
                conn.exec_driver_sql(f"PRAGMA {name} = {int(value)}")


class SqliteItems:
    """Imported items into SQLite, inside the caller's transaction."""

    def __init__(self, conn: Connection, options: ImportOptions) -> None:
        self.conn = conn
        self.options = options
        self._created_at = ITEMS.c.created_at.type.dialect_impl(conn.dialect)

    def new_ids(self, count: int) -> list[int]:
        """Ids for ``count`` new items: after the highest, as this transaction
        holds the database's write lock."""
        top = int(self.conn.scalar(select(func.max(Item.id))) or 0)
        return list(range(top + 1, top + 1 + count))

    def _fixed(self, ids: Sequence[int], values: bytes, now: datetime) -> dict[str, Any]:
        process = self._created_at.bind_processor(self.conn.dialect)
        return {
            "first": ids[0],
            "created_at": process(now) if process is not None else now,
            "created_by": self.options.operator,
            "values": values,
        }

    def uniform(self, ids: Sequence[int], shared: Shared, values: bytes, now: datetime) -> None:
        """A batch whose rows differ only in id and hash (``values``, the hashes
        end to end)."""
        driver: Any = self.conn.connection.driver_connection
        fixed = self._fixed(ids, values, now)
        driver.execute(_UNIFORM, fixed | shared._asdict() | {"count": len(ids)})

    def mixed(self, ids: Sequence[int], entries: Sequence[Entry], now: datetime) -> None:
        """A batch of per-line values: each row as a JSON array of its own
        values and its hash's offset and length in a blob of all the hashes."""
        values = b"".join(map(VALUE, entries))
        category = self.options.category.value
        case_ref = self.options.case_ref
        rows = []
        offset = 1
        for e in entries:
            rows.append(
                (
                    e.media_type,
                    category if e.category is None else str(e.category),
                    case_ref if e.case_ref is None else e.case_ref,
                    e.note,
                    e.quality,
                    str(e.signal),
                    offset,
                    len(e.value),
                )
            )
            offset += len(e.value)
        driver: Any = self.conn.connection.driver_connection
        driver.execute(_MIXED, self._fixed(ids, values, now) | {"rows": json.dumps(rows)})
