"""Keeping one process's index in step with the database's change feed.

Every registration and deactivation writes an ``index_changes`` row in its own
transaction. Each server process loads the index once, then applies the feed
from where the load began, so a change made through any process (or host) is
matched by all of them within one poll interval, with no rebuild.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.models import IndexChange, ItemHash
from index import HashIndex

log = logging.getLogger(__name__)

# Change ids are handed out at insert but become visible at commit, so on
# PostgreSQL a lower id can appear after a higher one. Polls look back this many
# ids and skip the ones already applied.
LOOKBACK = 10_000
PAGE = 50_000
"""Changes read per query, so a bulk import of millions is applied in bounded
memory. Above LOOKBACK, so a full page always moves the floor on."""


def feed_position(session: Session) -> int:
    """The highest change id now visible (0 for an empty feed)."""
    return int(session.scalar(select(func.max(IndexChange.id))) or 0)


class IndexFollower:
    """Applies the change feed to an index, in id order, each change once."""

    def __init__(self, sessions: sessionmaker[Session], index: HashIndex, start: int) -> None:
        self._sessions = sessions
        self._index = index
        # Changes up to ``start`` are in the loaded index; the lookback window
        # below it is replayed, which is harmless (adds and removes are
        # idempotent and applied in order) and catches late commits.
        self._floor = max(0, start - LOOKBACK)
        self._position = start
        self._applied: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def position(self) -> int:
        """Every change up to this id has been applied (snapshots record it)."""
        return self._position

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
            changes = session.execute(
                select(IndexChange.id, IndexChange.item_id, IndexChange.op)
                .where(IndexChange.id > self._floor)
                .order_by(IndexChange.id)
                .limit(PAGE)
            ).all()
            fresh = [c for c in changes if c.id not in self._applied]
            hashes: dict[int, list[tuple[str, bytes]]] = defaultdict(list)
            if fresh:
                rows = session.execute(
                    select(ItemHash.item_id, ItemHash.signal, ItemHash.value).where(
                        ItemHash.item_id.in_({c.item_id for c in fresh})
                    )
                )
                for item_id, signal, value in rows:
                    hashes[item_id].append((signal, value))
        # Runs of adds go to the index in one batch per signal; a remove ends a
        # run, so an add and a later remove of the same item keep their order.
        run: dict[str, list[tuple[bytes, int]]] = defaultdict(list)
        for change in fresh:
            if change.op == "add":
                for signal, value in hashes[change.item_id]:
                    run[signal].append((value, change.item_id))
                continue
            self._flush(run)
            for signal, value in hashes[change.item_id]:
                self._index.remove(signal, value, change.item_id)
        self._flush(run)
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
            self._index.add_many(signal, entries)
        run.clear()

    def start(self, interval: float) -> None:
        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self.poll()
                except Exception:  # a database hiccup must not kill the follower
                    log.exception("index change feed poll failed; retrying")

        self._thread = threading.Thread(target=run, name="index-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
