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
        self._applied: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> int:
        """Apply every visible change not yet applied; returns how many."""
        with self._sessions() as session:
            changes = session.execute(
                select(IndexChange.id, IndexChange.item_id, IndexChange.op)
                .where(IndexChange.id > self._floor)
                .order_by(IndexChange.id)
            ).all()
            fresh = [c for c in changes if c.id not in self._applied]
            if not fresh:
                return 0
            hashes: dict[int, list[tuple[str, bytes]]] = defaultdict(list)
            rows = session.execute(
                select(ItemHash.item_id, ItemHash.signal, ItemHash.value).where(
                    ItemHash.item_id.in_({c.item_id for c in fresh})
                )
            )
            for item_id, signal, value in rows:
                hashes[item_id].append((signal, value))
        for change in fresh:
            apply = self._index.add if change.op == "add" else self._index.remove
            for signal, value in hashes[change.item_id]:
                apply(signal, value, change.item_id)
            self._applied.add(change.id)
        top = changes[-1].id
        if top - LOOKBACK > self._floor:
            self._floor = top - LOOKBACK
            self._applied = {i for i in self._applied if i > self._floor}
        return len(fresh)

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
