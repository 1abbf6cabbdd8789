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

from app.models import IndexChange
from app.periodic import Periodic
from app.repository.features import item_entries
from app.repository.hashes import hashes_of, inline_range
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
            hashes = hashes_of(session, (c.item_id for c in fresh if c.op != ADD_RANGE))
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
                    for chunk in inline_range(session, change.item_id, last, RANGE_CHUNK):
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
