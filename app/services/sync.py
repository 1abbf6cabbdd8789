"""Keeping one process's index in step with the database's change feed.

Every registration and deactivation writes an ``index_changes`` row in its own
transaction, and every bulk-import batch one ``add_range`` row for all of its
items. Each server process loads the index once, then applies the feed from
where the load began, so a change made through any process (or host) is
matched by all of them within one poll interval, with no rebuild.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.models import IndexChange, Item, ItemHash
from app.periodic import Periodic
from app.services.local_features import item_entries
from index import HashIndex

log = logging.getLogger(__name__)

ADD, REMOVE, ADD_RANGE = "add", "remove", "add_range"
"""Change-feed operations: an item's hashes enter or leave the index, or the
inline hashes of the active items with ids from ``item_id`` to
``last_item_id`` enter it (a bulk-import batch)."""

# Change ids are handed out at insert but become visible at commit, so on
# PostgreSQL a lower id can appear after a higher one. Polls look back this many
# ids and skip the ones already applied.
LOOKBACK = 10_000
PAGE = 50_000
"""Changes read per query. Above LOOKBACK, so a full page always moves the floor on."""
RANGE_CHUNK = 50_000
"""Item ids of an ``add_range`` read per query, so a range is applied in bounded memory."""

Hashes = dict[int, list[tuple[str, bytes]]]


def feed_position(session: Session) -> int:
    """The highest change id now visible (0 for an empty feed)."""
    return int(session.scalar(select(func.max(IndexChange.id))) or 0)


def feed_window(session: Session, position: int) -> list[int]:
    """Ids of the changes now visible within the look-back window below
    ``position`` (inclusive): those a load made now already holds."""
    return list(
        session.scalars(
            select(IndexChange.id)
            .where(IndexChange.id > position - LOOKBACK, IndexChange.id <= position)
            .order_by(IndexChange.id)
        )
    )


def item_hashes(session: Session, item_ids: Iterable[int]) -> Hashes:
    """(signal, value) of every hash of these items, active or not: their
    ``item_hashes`` rows and their inline hashes."""
    ids = sorted(set(item_ids))
    found: Hashes = defaultdict(list)
    for start in range(0, len(ids), 5_000):  # SQLite's bound-parameter limit
        chunk = ids[start : start + 5_000]
        rows = session.execute(
            select(ItemHash.item_id, ItemHash.signal, ItemHash.value).where(
                ItemHash.item_id.in_(chunk)
            )
        )
        for item_id, signal, value in rows:
            found[item_id].append((signal, value))
        inline = session.execute(
            select(Item.id, Item.hash_signal, Item.hash_value).where(
                Item.id.in_(chunk), Item.hash_value.is_not(None)
            )
        )
        for item_id, hash_signal, hash_value in inline:
            if hash_signal is not None and hash_value is not None:  # as the query says
                found[item_id].append((hash_signal, hash_value))
    return found


def range_hashes(
    session: Session, first: int, last: int
) -> Iterable[dict[str, list[tuple[bytes, int]]]]:
    """(value, item id) by signal of the inline hashes of the active items with
    ids from ``first`` to ``last``, a chunk of ids at a time.

    On PostgreSQL ids from a sequence need not be contiguous, so the range may
    hold other items too: only active items count, and adds are idempotent.
    """
    for start in range(first, last + 1, RANGE_CHUNK):
        end = min(last, start + RANGE_CHUNK - 1)
        rows = session.execute(
            # A primary-key range scan; the active flag is read, not filtered
            # on, so the plan cannot turn to ix_items_active instead.
            select(Item.id, Item.hash_signal, Item.hash_value, Item.active).where(
                Item.id >= start, Item.id <= end, Item.hash_value.is_not(None)
            )
        )
        chunk: dict[str, list[tuple[bytes, int]]] = defaultdict(list)
        for item_id, signal, value, active in rows:
            if active and signal is not None and value is not None:
                chunk[signal].append((value, item_id))
        yield chunk


class IndexFollower:
    """Applies the change feed to an index, in id order, each change once.

    Thread-safe for one thread polling while others call :meth:`skip` and
    :meth:`window`; polls themselves must not overlap.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        index: HashIndex,
        start: int,
        applied: Iterable[int] = (),
    ) -> None:
        self._sessions = sessions
        self._index = index
        # Changes up to ``start`` are in the loaded index; the look-back window
        # below it is replayed but for the changes ``applied`` names (those the
        # load is known to hold), which catches late commits. Replaying the
        # others is harmless (adds and removes are idempotent and applied in
        # order), but an add_range is a whole import batch, worth not reloading.
        self._floor = max(0, start - LOOKBACK)
        self._position = start
        self._applied: set[int] = {i for i in applied if i > self._floor}
        self._lock = threading.Lock()
        self._rounds = Periodic(
            "index-follower", self.poll, log, "index change feed poll failed; retrying"
        )

    @property
    def position(self) -> int:
        """Every change up to this id has been applied (snapshots record it)."""
        return self._position

    def window(self) -> tuple[int, list[int]]:
        """The position, and the changes in the look-back window below it that
        are applied: what a snapshot taken now holds (see :func:`feed_window`)."""
        with self._lock:
            return self._position, sorted(self._applied)

    def skip(self, change_id: int) -> None:
        """Count a change as applied without applying it: the caller has put its
        hashes in the index itself (an import, after its batch committed)."""
        with self._lock:
            if change_id > self._floor:
                self._applied.add(change_id)

    def poll(self) -> int:
        """Apply every visible change not yet applied, a page at a time; returns how many."""
        applied = 0
        while True:
            count, more = self._poll_page()
            applied += count
            if not more:
                return applied

    def _poll_page(self) -> tuple[int, bool]:
        with self._sessions() as session:
            c = IndexChange
            changes = session.execute(
                select(c.id, c.item_id, c.op, c.last_item_id)
                .where(IndexChange.id > self._floor)
                .order_by(IndexChange.id)
                .limit(PAGE)
            ).all()
            with self._lock:
                fresh = [c for c in changes if c.id not in self._applied]
            hashes = item_hashes(session, (c.item_id for c in fresh if c.op != ADD_RANGE))
            local = self._index.local
            features = (
                item_entries(session, (c.item_id for c in fresh if c.op == ADD))
                if local is not None
                else {}
            )
            # Runs of adds go to the index in one batch per signal; a remove ends a
            # run, so an add and a later remove of the same item keep their order.
            run: dict[str, list[tuple[bytes, int]]] = defaultdict(list)
            for change in fresh:
                if change.op == ADD:
                    for signal, value in hashes[change.item_id]:
                        run[signal].append((value, change.item_id))
                    if local is not None:
                        local.replace(change.item_id, features.get(change.item_id, []))
                elif change.op == ADD_RANGE:
                    self._flush(run)
                    last = change.last_item_id or change.item_id
                    for chunk in range_hashes(session, change.item_id, last):
                        self._flush(chunk)
                else:
                    self._flush(run)
                    for signal, value in hashes[change.item_id]:
                        self._index.remove(signal, value, change.item_id)
                    if local is not None:
                        local.remove(change.item_id)
            self._flush(run)
        with self._lock:
            self._applied.update(c.id for c in fresh)
            if changes:
                top = changes[-1].id
                self._position = max(self._position, top)
                if top - LOOKBACK > self._floor:
                    self._floor = top - LOOKBACK
                    self._applied = {i for i in self._applied if i > self._floor}
        more = len(changes) == PAGE
        return len(fresh), more

    def _flush(self, run: dict[str, list[tuple[bytes, int]]]) -> None:
        for signal, entries in run.items():
            if entries:
                self._index.add_many(signal, entries)
        run.clear()

    def start(self, interval: float) -> None:
        self._rounds.start(interval)

    def stop(self) -> None:
        self._rounds.stop()
