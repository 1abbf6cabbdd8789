"""The index an import asks which hashes are held, and how its batches reach it.

A server imports against its own index (:class:`ServedIndex`): each batch's new
hashes go into it at once, so this process matches them without waiting for the
change feed. The command and the benchmark have no server's index at hand:
they load one as a server starts (:func:`load_import_index`) and keep it current
through the change feed while importing (:class:`FeedPoll`). Either way the
follower of the index is told to skip the batch's feed row (:func:`publish`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Engine

from app import db
from app.services.hashlists.writing import Committed
from app.services.index_store import IndexRunner, Startup, load, new_index, write_snapshot
from app.services.sync import IndexFollower
from app.settings import Settings
from index import HashIndex

NO_MERGE = 2**62
"""Merge threshold of a loaded import index: it is only asked exact questions,
which the unmerged additions answer as fast (a merge of millions of codes costs
seconds of CPU the import can use)."""
SNAPSHOT_AFTER_REPLAY_SECONDS = 2.0
"""A replay of the change feed longer than this (a snapshot older than imports
made since) is followed by a fresh snapshot, so the next command need not redo it."""
FEED_POLL_SECONDS = 1.0
"""How often a loaded import index takes in the change feed while importing, so
hashes registered or deactivated meanwhile through a server count."""


def publish(batch: Committed, index: HashIndex | None, follower: IndexFollower | None) -> None:
    """A committed batch's hashes into ``index`` (None: the import's own record
    of the hashes it found new answers for them), and its feed row counted as
    applied by ``follower``, which then need not read the batch back."""
    if index is not None:
        for signal, entries in batch.added.items():
            index.add_many(signal, entries)
    if follower is not None:
        follower.skip(batch.change_id)


@dataclass(frozen=True, slots=True)
class ServedIndex:
    """A server's own index, loaded and followed by its runner."""

    index: HashIndex
    runner: IndexRunner | None
    """Its follower, once the runner has one, skips what an import adds."""

    def committed(self, batch: Committed) -> None:
        publish(batch, self.index, None if self.runner is None else self.runner.follower)


@dataclass
class ImportIndex:
    """An index loaded for an import as a server loads it."""

    index: HashIndex
    follower: IndexFollower
    startup: Startup
    replayed: int
    """Changes of the feed applied after the load."""
    seconds: float
    """Load and replay."""
    snapshot_seconds: float | None = None
    """Writing a snapshot after the load; None when none was written."""

    def committed(self, batch: Committed) -> None:
        # Its hashes are in the import's own record; the follower need not read them.
        publish(batch, None, self.follower)


def load_import_index(engine: Engine, settings: Settings) -> ImportIndex:
    """Load the index as a server starts: the newest snapshot plus the change feed,
    or else every active hash from the database. After a load from the database
    or a long replay a snapshot is written, as a server would, so the next
    import or start reads it rather than doing the same again."""
    started = time.perf_counter()
    sessions = db.make_sessionmaker(engine)
    index = new_index(settings.model_copy(update={"index_merge_threshold": NO_MERGE}))
    startup = load(sessions, index, settings.snapshot_dir)
    follower = IndexFollower(sessions, index, startup.checkpoint, startup.applied)
    replay_started = time.perf_counter()
    replayed = follower.poll()
    replay_seconds = time.perf_counter() - replay_started
    loaded = ImportIndex(index, follower, startup, replayed, time.perf_counter() - started)
    stale = startup.source == "database" or replay_seconds > SNAPSHOT_AFTER_REPLAY_SECONDS
    if stale and settings.index_snapshot_seconds:
        started = time.perf_counter()
        position, applied = follower.window()
        if write_snapshot(settings.snapshot_dir, index, position, applied) is not None:
            loaded.snapshot_seconds = time.perf_counter() - started
    return loaded


class FeedPoll:
    """Applies the change feed to an index at most once a ``seconds``."""

    def __init__(self, follower: IndexFollower, seconds: float) -> None:
        self.follower = follower
        self.seconds = seconds
        self.last = time.monotonic()

    def __call__(self) -> None:
        if time.monotonic() - self.last >= self.seconds:
            self.follower.poll()
            self.last = time.monotonic()
