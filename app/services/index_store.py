"""Loading the index at start-up and keeping snapshots of it on disk.

A process loads the newest snapshot (seconds, even for millions of hashes) and
replays the change feed from the snapshot's checkpoint; without a usable
snapshot it loads every active hash from the database, which stays the one
source of truth. Snapshots are written in the background by whichever process
takes the lock first, so N workers do not all write the same files.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.periodic import Periodic
from app.repository.features import load_local
from app.repository.hashes import load_hashes
from app.services.sync import IndexFollower, feed_position, feed_window
from app.settings import Settings
from hashing.types import Signal
from index import HashIndex, snapshot
from index.local import LocalIndex
from index.vocabulary import Vocabulary

log = logging.getLogger(__name__)


def new_index(settings: Settings | None = None) -> HashIndex:
    """An empty index shaped by ``settings``: a Hamming index per perceptual
    signal, an exact one per digest."""
    settings = settings or Settings()
    return HashIndex(
        hamming={s.value: s.bits for s in Signal if s.perceptual},
        exact=[s.value for s in Signal if not s.perceptual],
        threads=settings.faiss_threads,
        # The tables are shaped for the block distances, where every match must be found.
        radius={
            Signal.PDQ.value: settings.index_exact_distance or settings.pdq_block_distance,
            Signal.PHASH.value: settings.phash_corroboration_distance,
        },
        merge_threshold=settings.index_merge_threshold,
        local=LocalIndex(Vocabulary.bundled()) if settings.local_features else None,
    )


@dataclass(frozen=True, slots=True)
class Startup:
    """How this process's index was loaded."""

    source: str
    """``snapshot`` or ``database``."""
    checkpoint: int
    rows: int
    seconds: float
    applied: tuple[int, ...] = ()
    """Changes in the feed's look-back window below ``checkpoint`` that the
    loaded index holds, so the replay skips them (see :class:`IndexFollower`)."""


APPLIED = "feed_applied"
"""Manifest entry of a snapshot: the ``applied`` changes, as [first, last] runs."""


def _runs(ids: Sequence[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for i in sorted(ids):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return runs


def _unruns(runs: Any) -> tuple[int, ...]:
    """The ids of :func:`_runs`' output; () for anything else (an older snapshot)."""
    try:
        return tuple(i for first, last in runs for i in range(int(first), int(last) + 1))
    except (TypeError, ValueError):
        return ()


def load_index(session: Session, index: HashIndex) -> int:
    """Fill the index with every hash and every local feature of every active
    item, as the database holds them now; returns the rows loaded."""
    return load_hashes(session, index) + load_local(session, index)


def load(sessions: sessionmaker[Session], index: HashIndex, root: Path) -> Startup:
    """Fill ``index`` from the newest snapshot or else the database."""
    started = time.perf_counter()
    loaded = snapshot.read(root, index)
    if loaded is not None:
        with sessions() as session:
            position = feed_position(session)
        if loaded.checkpoint > position:
            # Written against another database, or this one was restored from
            # an older backup: the snapshot holds changes the database lacks.
            log.warning(
                "index snapshot %s is at change %d but the database only at %d; ignoring it",
                loaded.path.name,
                loaded.checkpoint,
                position,
            )
            loaded = None
    if loaded is not None:
        log.info(
            "index loaded from snapshot %s: %d rows at change %d in %.1f s",
            loaded.path.name,
            loaded.rows,
            loaded.checkpoint,
            loaded.seconds,
        )
        applied = _unruns(loaded.extra.get(APPLIED, ()))
        return Startup("snapshot", loaded.checkpoint, loaded.rows, loaded.seconds, applied)
    with sessions() as session:
        # The position and the changes visible below it are read before the
        # rows, which then hold all of those; a change committed in between is
        # both loaded and replayed, which is harmless.
        start = feed_position(session)
        window = feed_window(session, start)
        rows = load_index(session, index)
    seconds = time.perf_counter() - started
    log.info("index loaded from the database: %d rows in %.1f s", rows, seconds)
    return Startup("database", start, rows, seconds, tuple(window))


def write_snapshot(
    root: Path, index: HashIndex, checkpoint: int, applied: Iterable[int] = ()
) -> Path | None:
    """Write a snapshot unless another process is writing one or a newer one exists."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        path = snapshot.current(root)
        if path is not None:
            try:
                if snapshot.manifest(path)["checkpoint"] >= checkpoint:
                    return None
            except (OSError, ValueError, KeyError):
                pass  # an unreadable snapshot is replaced
        started = time.perf_counter()
        written = snapshot.write(root, index, checkpoint, {APPLIED: _runs(list(applied))})
        log.info("index snapshot %s written in %.1f s", written.name, time.perf_counter() - started)
        return written


class SnapshotKeeper:
    """Writes a snapshot every ``interval`` seconds when the feed has moved on."""

    def __init__(
        self, root: Path, index: HashIndex, follower: IndexFollower, interval: float, written: int
    ) -> None:
        self._root = root
        self._index = index
        self._follower = follower
        self._interval = interval
        self._written = written
        self._rounds = Periodic(
            "index-snapshots", self.run_once, log, "index snapshot failed; will retry"
        )

    def run_once(self) -> Path | None:
        position, applied = self._follower.window()
        if position <= self._written:
            return None
        path = write_snapshot(self._root, self._index, position, applied)
        self._written = position
        return path

    def start(self, first_delay: float) -> None:
        self._rounds.start(self._interval, first_delay)

    def stop(self) -> None:
        self._rounds.stop(timeout=30)


class IndexRunner:
    """Loads the index on a background thread, then follows the feed and snapshots.

    Until the load is done ``index.ready`` stays False, and ``/readyz`` and the
    routes that search or change the index answer 503.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        index: HashIndex,
        root: Path,
        *,
        sync_seconds: float,
        snapshot_seconds: float,
    ) -> None:
        self._sessions = sessions
        self._index = index
        self._root = root
        self._sync_seconds = sync_seconds
        self._snapshot_seconds = snapshot_seconds
        self._stop = threading.Event()
        self._loaded = threading.Event()
        self.startup: Startup | None = None
        self.follower: IndexFollower | None = None
        self.keeper: SnapshotKeeper | None = None
        self._thread = threading.Thread(target=self._run, name="index-loader", daemon=True)

    def start(self, wait: float) -> None:
        """Start loading; block up to ``wait`` seconds for the load to finish."""
        self._thread.start()
        if wait:
            self._loaded.wait(wait)

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                startup = load(self._sessions, self._index, self._root)
                follower = IndexFollower(
                    self._sessions, self._index, startup.checkpoint, startup.applied
                )
                follower.poll()
                break
            except Exception:  # the database may still be starting; keep trying
                log.exception("index load failed; retrying in %.0f s", delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)
        else:
            return
        self.startup, self.follower = startup, follower
        follower.start(self._sync_seconds)
        self._index.ready = True
        self._loaded.set()
        if self._snapshot_seconds:
            written = startup.checkpoint if startup.source == "snapshot" else -1
            self.keeper = SnapshotKeeper(
                self._root, self._index, follower, self._snapshot_seconds, written
            )
            # Soon after a load from the database, so the next start is fast.
            self.keeper.start(first_delay=5.0 if written < 0 else self._snapshot_seconds)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self.follower is not None:
            self.follower.stop()
        if self.keeper is not None:
            self.keeper.stop()
