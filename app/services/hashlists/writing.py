"""Committing an import's batches: each batch one transaction holding its new
items, one ``index_changes`` ``add_range`` row naming the batch's first and last
item id, and the import's ``hash_imports`` row moved on to the batch's last line.

The items go in by the database's own writer (:mod:`.sqlite_writer`,
:mod:`.postgres_writer`); this module holds what both share.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from operator import itemgetter
from typing import NamedTuple, Protocol

from sqlalchemy import Connection, Engine, insert

from app.models import IndexChange, utcnow
from app.services.hashlists.columns import Shared
from app.services.hashlists.dedupe import SIGNAL, VALUE, all_equal
from app.services.hashlists.formats import Entry
from app.services.hashlists.postgres_writer import PostgresItems
from app.services.hashlists.resume import ImportOptions, ImportSummary, count_in, move_on
from app.services.hashlists.sqlite_writer import SqliteItems, import_settings
from app.services.sync import ADD_RANGE

Added = tuple[str, bytes, int]
"""(signal, value, item id) of a hash an import stored."""

_SHAPE = itemgetter(1, 3, 4, 5, 6, 7)
"""What :class:`Shared` needs the same in every entry: signal, category, case,
quality, note, media type."""


class Committed(NamedTuple):
    """What one committed batch added."""

    change_id: int
    """Its ``add_range`` change-feed row."""
    added: dict[str, list[tuple[bytes, int]]]
    """(value, item id) of each new hash, by signal, as :meth:`HashIndex.add_many` takes them."""

    def rows(self) -> list[Added]:
        return [(s, value, key) for s, pairs in self.added.items() for value, key in pairs]


class ItemWriter(Protocol):
    """A database's way of writing imported items, inside the caller's transaction."""

    def new_ids(self, count: int) -> list[int]: ...

    def uniform(self, ids: Sequence[int], shared: Shared, values: bytes, now: datetime) -> None: ...

    def mixed(self, ids: Sequence[int], entries: Sequence[Entry], now: datetime) -> None: ...


@contextmanager
def writer(engine: Engine, options: ImportOptions) -> Iterator[BatchWriter]:
    """A :class:`BatchWriter` on a connection of its own for the import's duration."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            with import_settings(conn):
                yield BatchWriter(conn, SqliteItems(conn, options), options)
            return
        try:
            yield BatchWriter(conn, PostgresItems(conn, options), options)
        finally:
            if conn.in_transaction():
                conn.rollback()


def by_signal(entries: Sequence[Entry], ids: Sequence[int]) -> dict[str, list[tuple[bytes, int]]]:
    """(value, item id) of each entry, by signal name."""
    if all_equal(entries[0].signal, map(SIGNAL, entries)):
        return {str(entries[0].signal): list(zip(map(VALUE, entries), ids, strict=True))}
    added: dict[str, list[tuple[bytes, int]]] = defaultdict(list)
    for item_id, entry in zip(ids, entries, strict=True):
        # str() of these string enums is their value, without Enum.value's cost.
        added[str(entry.signal)].append((entry.value, item_id))
    return dict(added)


class BatchWriter:
    """One import's batches, each committed in a transaction of its own on the
    import's connection."""

    def __init__(self, conn: Connection, items: ItemWriter, options: ImportOptions) -> None:
        self.conn = conn
        self.items = items
        self.options = options

    def commit(
        self,
        summary: ImportSummary,
        new: Sequence[Entry],
        already: int,
        rejected: int,
        last_line: int,
    ) -> Committed | None:
        """Write one batch's new entries and the import's progress in one
        transaction; returns what it added (None when nothing). Raises
        :class:`~app.services.hashlists.resume.ImportConflict` when another run
        of the same import moved it on (nothing of the batch is then written)."""
        conn = self.conn
        now = utcnow()
        committed: Committed | None = None
        with conn.begin():
            # Written first: on SQLite this takes the write lock, so the ids read
            # below stay free until the commit; on both databases the row check
            # stops a second run of the same import from counting lines twice.
            move_on(conn, summary, now, len(new), already, rejected, last_line)
            if new:
                ids = self.items.new_ids(len(new))
                self._insert(ids, new, now)
                # Last before the commit: a feed id becomes visible at the commit,
                # and a short gap keeps it inside the followers' look-back window.
                change_id = conn.execute(
                    insert(IndexChange)
                    .values(item_id=ids[0], last_item_id=ids[-1], op=ADD_RANGE, created_at=now)
                    .returning(IndexChange.id)
                ).scalar_one()
                committed = Committed(change_id, by_signal(new, ids))
        count_in(summary, len(new), already, rejected, last_line)
        return committed

    def _insert(self, ids: Sequence[int], entries: Sequence[Entry], now: datetime) -> None:
        """The batch's items: as a uniform batch when every row but id and hash
        is the same (a list without per-line columns), else each row with its own
        values."""
        if not all_equal(_SHAPE(entries[0]), map(_SHAPE, entries)):
            self.items.mixed(ids, entries, now)
            return
        e = entries[0]
        shared = Shared(
            e.media_type,
            self.options.category.value if e.category is None else e.category.value,
            self.options.case_ref if e.case_ref is None else e.case_ref,
            e.note,
            e.quality,
            e.signal.value,
            len(e.value),
        )
        self.items.uniform(ids, shared, b"".join(map(VALUE, entries)), now)
