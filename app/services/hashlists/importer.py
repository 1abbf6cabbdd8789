"""Bulk import of a hash-list file into the database (and, through the change
feed, every server's index).

Each new hash-list entry becomes one active item (media type ``hashes``, or
``video_hashes`` for a video digest) holding its hash inline (``hash_signal``,
``hash_value``), without an ``item_hashes`` row. A batch of lines is one
transaction: its items (PostgreSQL: ``COPY``; SQLite: one ``executemany``),
one ``index_changes`` ``add_range`` row naming the batch's first and last item
id, and the import's ``hash_imports`` row moved on to the batch's last line, so
after a crash or Ctrl-C the same command resumes after the last committed line.

Whether a hash is already held by an active item is asked of the in-memory
index (an exact lookup), not of the database: nothing is written per hash to a
random-keyed b-tree, which is what kept imports at a tenth of the target speed
(docs/benchmarks.md). A hash already held, or earlier in the file, is counted
as already present and skipped, so importing a file twice adds nothing the
second time. One audit row is written when an import completes.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import queue
import struct
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import compress, repeat
from operator import eq, itemgetter
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, delete, func, insert, select, text, update

from app.models import AuditEvent, HashImport, IndexChange, Item, utcnow
from app.services.hashlists.formats import (
    Entry,
    Format,
    HashListError,
    LineReader,
    Rejection,
    parse,
)
from app.services.hashlists.seen import CodeSet
from app.services.sync import ADD_RANGE
from hashing.types import Signal
from index import HashIndex
from matching import Category

log = logging.getLogger(__name__)

DEFAULT_BATCH = 20_000
"""Lines per transaction. One change-feed row stands for a whole batch, so the
batch size no longer bears on the feed's look-back window; larger batches
gained little (docs/benchmarks.md) and hold more work a crash would undo."""

RUNNING, FAILED, DONE = "running", "failed", "done"

Added = tuple[str, bytes, int]
"""(signal, value, item id) of a hash an import stored."""


class ImportConflict(RuntimeError):
    """Another process moved the same import on: two runs of one file at once."""


@dataclass(frozen=True, slots=True)
class ImportOptions:
    fmt: Format
    category: Category
    """For lines that do not name their own."""
    case_ref: str | None = None
    """For lines that do not carry their own."""
    operator: str = "cli"
    filename: str = ""
    """What the audit trail calls the file (default: its path)."""
    batch_size: int | None = None
    """Lines per transaction; default :data:`DEFAULT_BATCH`."""


@dataclass
class ImportSummary:
    import_id: int
    filename: str
    file_sha256: str
    fmt: Format
    category: Category
    case_ref: str | None
    lines: int
    """Lines of the file committed (all of them once ``status`` is ``done``)."""
    added: int
    already_present: int
    rejected: int
    resumed_from: int
    """Lines a previous, interrupted run had committed (0 for a fresh import)."""
    status: str
    seconds: float = 0.0
    """Wall time of this run."""
    lines_this_run: int = 0
    added_this_run: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "filename": self.filename,
            "file_sha256": self.file_sha256,
            "format": self.fmt.value,
            "category": self.category.value,
            "case_ref": self.case_ref,
            "lines": self.lines,
            "added": self.added,
            "already_present": self.already_present,
            "rejected": self.rejected,
            "resumed_from_line": self.resumed_from,
            "status": self.status,
        }


class Committed(NamedTuple):
    """What one committed batch added."""

    change_id: int
    """Its ``add_range`` change-feed row."""
    added: dict[str, list[tuple[bytes, int]]]
    """(value, item id) of each new hash, by signal, as :meth:`HashIndex.add_many` takes them."""

    def rows(self) -> list[Added]:
        return [(s, value, key) for s, pairs in self.added.items() for value, key in pairs]


@dataclass
class Hooks:
    """What the caller hears while an import runs."""

    rejected: Callable[[Rejection], None] | None = None
    """Every rejected line, in order, including those of lines a previous run
    committed (so a report rewritten on resume is complete)."""
    committed: Callable[[Committed], None] | None = None
    """A batch that added hashes, after its commit (to put them in an index)."""
    progress: Callable[[int], None] | None = None
    """Bytes of the file read so far, after each batch."""
    between: Callable[[], None] | None = None
    """Called before each batch is written (the command applies the change feed
    to its index there). Batches are sorted into new and held hashes up to
    :data:`READ_AHEAD` batches before they are written."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def import_hash_list(
    engine: Engine,
    path: Path,
    options: ImportOptions,
    index: HashIndex,
    hooks: Hooks | None = None,
    *,
    digest: str | None = None,
    max_batches: int | None = None,
) -> ImportSummary:
    """Import ``path``, or resume an unfinished import of the same file.

    ``index`` answers which hashes active items already hold: it must hold
    every active item's hashes (a server's index, or one loaded as a server
    loads it), kept current through ``hooks.between`` or the caller's follower.
    The import does not add to it; ``hooks.committed`` may.

    ``digest`` is the file's SHA-256 hex when the caller has it already;
    ``max_batches`` stops after that many batches with the import left
    unfinished (status ``running``), as a crash would. Raises
    :class:`~app.services.hashlists.formats.HashListError` for a file that
    cannot be read in the format at all (before anything is written), and
    :class:`ImportConflict` when another run of the same import is moving it on.
    """
    hooks = hooks or Hooks()
    started = time.perf_counter()
    summary = _begin(engine, options, digest or file_sha256(path), options.filename or str(path))
    try:
        _run(engine, path, index, options, hooks, summary, max_batches)
    except ImportConflict:
        raise  # the row belongs to the run that moved it on
    except HashListError:
        _forget_unread(engine, summary)
        raise
    except BaseException:
        _mark_failed(engine, summary.import_id)
        raise
    summary.seconds = time.perf_counter() - started
    return summary


def _begin(engine: Engine, options: ImportOptions, digest: str, filename: str) -> ImportSummary:
    key = [
        HashImport.file_sha256 == digest,
        HashImport.format == options.fmt.value,
        HashImport.category == options.category.value,
        HashImport.case_ref.is_(None)
        if options.case_ref is None
        else HashImport.case_ref == options.case_ref,
        HashImport.status != DONE,
    ]
    now = utcnow()
    with engine.begin() as conn:
        row = conn.execute(
            select(
                HashImport.id,
                HashImport.lines_done,
                HashImport.added,
                HashImport.already_present,
                HashImport.rejected,
            )
            .where(*key)
            .order_by(HashImport.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            conn.execute(
                update(HashImport)
                .where(HashImport.id == row.id)
                .values(status=RUNNING, updated_at=now)
            )
            import_id, done = row.id, row.lines_done
            counts = (row.added, row.already_present, row.rejected)
        else:
            import_id = conn.execute(
                insert(HashImport)
                .values(
                    filename=filename[:500],
                    file_sha256=digest,
                    format=options.fmt.value,
                    category=options.category.value,
                    case_ref=options.case_ref,
                    operator=options.operator,
                    status=RUNNING,
                    lines_done=0,
                    added=0,
                    already_present=0,
                    rejected=0,
                    started_at=now,
                    updated_at=now,
                )
                .returning(HashImport.id)
            ).scalar_one()
            done, counts = 0, (0, 0, 0)
    return ImportSummary(
        import_id=import_id,
        filename=filename,
        file_sha256=digest,
        fmt=options.fmt,
        category=options.category,
        case_ref=options.case_ref,
        lines=done,
        added=counts[0],
        already_present=counts[1],
        rejected=counts[2],
        resumed_from=done,
        status=RUNNING,
    )


def _run(
    engine: Engine,
    path: Path,
    index: HashIndex,
    options: ImportOptions,
    hooks: Hooks,
    summary: ImportSummary,
    max_batches: int | None,
) -> None:
    batch_size = options.batch_size or DEFAULT_BATCH
    read = _read(path, options.fmt, summary.lines, batch_size, hooks.rejected, _Held(index))
    batches = 0
    # The file is read, parsed and sorted into new and held hashes a batch or
    # two ahead on another thread while this one writes: the database works
    # without the GIL (SQLite in one statement a batch, PostgreSQL in its own
    # process), so the two overlap.
    with (
        _fewer_collections(),
        _writer(engine, options) as writer,
        _ahead(read, READ_AHEAD) as ready,
    ):
        for batch in ready:
            if batch.new or batch.already or batch.rejected or batch.last > summary.lines:
                if hooks.between is not None:
                    hooks.between()
                committed = writer.commit(
                    summary, batch.new, batch.already, batch.rejected, batch.last
                )
                if committed is not None and hooks.committed is not None:
                    hooks.committed(committed)
                batches += 1
            if hooks.progress is not None:
                hooks.progress(batch.position)
            if batch.final:
                break
            if max_batches is not None and batches >= max_batches:
                return
    _finish(engine, options, summary)


GC_THRESHOLD = 100_000
"""Allocations between the garbage collector's young-generation passes while an
import runs (Python's default: 700)."""


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often for the duration.

    An import allocates a few million short-lived tuples and lists, none of them
    in cycles; at the default threshold the collector's full passes over every
    object of the process took a quarter of an import's CPU (500,000 lines on
    SQLite: 2.3 s on the writing thread, 1.4 s at this threshold and 1.5 s with
    collection off). Process-wide, so it is restored as it was when done.
    """
    global _gc_users, _gc_saved
    with _gc_lock:  # imports may run at once (uploads): the last one out restores
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(_gc_saved[0], GC_THRESHOLD), *_gc_saved[1:])
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.set_threshold(*_gc_saved)


_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved = gc.get_threshold()


READ_AHEAD = 2
"""Batches read ahead of the one being written."""


class _Batch(NamedTuple):
    """A batch of the file, sorted out."""

    new: list[Entry]
    """Entries of hashes no active item holds, nor an earlier line, in file order."""
    already: int
    rejected: int
    last: int
    """The batch's last line."""
    position: int
    """Bytes of the file read up to it."""
    final: bool = False
    """The end of the file (the batch may be empty: only trailing blank lines)."""


def _read(
    path: Path,
    fmt: Format,
    skip_to: int,
    batch_size: int,
    rejected_hook: Callable[[Rejection], None] | None,
    held: _Held,
) -> Iterator[_Batch]:
    """The file's outcomes after line ``skip_to``, ``batch_size`` lines a batch;
    every rejection goes to ``rejected_hook``, those of earlier lines too."""

    def batch(entries: list[Entry], rejected: int, last: int, final: bool = False) -> _Batch:
        new = held.new(entries)
        return _Batch(new, len(entries) - len(new), rejected, last, reader.position, final)

    with path.open("rb") as stream:
        reader = LineReader(stream)
        entries: list[Entry] = []
        rejected = 0
        last = skip_to
        for parsed in parse(fmt, reader):
            if isinstance(parsed, Rejection):
                if rejected_hook is not None:
                    rejected_hook(parsed)
                if parsed.line <= skip_to:
                    continue
                rejected += 1
            elif parsed.line <= skip_to:
                continue
            else:
                entries.append(parsed)
            if len(entries) + rejected >= batch_size:
                yield batch(entries, rejected, parsed.line)
                entries, rejected = [], 0
            last = parsed.line
        # Trailing blank lines count as lines of the file, not as outcomes.
        yield batch(entries, rejected, max(last, reader.lines), final=True)


@contextmanager
def _ahead(items: Iterator[_Batch], depth: int) -> Iterator[Iterator[_Batch]]:
    """``items`` produced on a thread of its own, up to ``depth`` ahead of the
    consumer; an exception there is raised here. Leaving the block stops it."""
    handoff: queue.Queue[tuple[_Batch | None, BaseException | None]] = queue.Queue(depth)
    stop = threading.Event()

    def put(message: tuple[_Batch | None, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            put((None, exc))
        finally:
            if isinstance(items, Generator):
                items.close()  # the file, on this thread

    def consume() -> Iterator[_Batch]:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            assert item is not None
            yield item
            if item.final:
                return

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()


class _Held:
    """Which entries of a batch are new: not held by an active item (asked of the
    index, an exact lookup per signal), not new earlier in the file, and not
    earlier in the batch."""

    def __init__(self, index: HashIndex) -> None:
        self.index = index
        self.seen: dict[str, CodeSet] = defaultdict(CodeSet)
        """The hashes found new so far (the caller's index may never get them:
        the command's does not). A batch that then fails to commit ends the run,
        and a rerun starts again from the last committed line."""

    def new(self, entries: Sequence[Entry]) -> list[Entry]:
        """The new entries, in file order; from now on they count as seen."""
        if not entries:
            return []
        values = list(map(_VALUE, entries))
        signal = entries[0].signal
        if _all_equal(signal, map(_SIGNAL, entries)) and len(set(values)) == len(values):
            # The common case, without a Python step per entry: one signal, no
            # hash twice in the batch.
            fresh = np.logical_not(self._known(signal.value, values)).tolist()
            self.seen[signal.value].add(list(compress(values, fresh)))
            return list(compress(entries, fresh))
        unique: dict[tuple[Signal, bytes], Entry] = {}
        for entry in entries:  # the first line with a hash keeps it
            unique.setdefault((entry.signal, entry.value), entry)
        by_signal: dict[Signal, list[bytes]] = defaultdict(list)
        for signal, value in unique:
            by_signal[signal].append(value)
        new_keys: set[tuple[Signal, bytes]] = set()
        for signal, group in by_signal.items():
            fresh = np.logical_not(self._known(signal.value, group)).tolist()
            new_values = list(compress(group, fresh))
            self.seen[signal.value].add(new_values)
            new_keys.update((signal, value) for value in new_values)
        return [entry for key, entry in unique.items() if key in new_keys]

    def _known(self, signal: str, values: list[bytes]) -> npt.NDArray[np.bool_]:
        return self.seen[signal].contains(values) | self.index.contains(signal, values)


_SIGNAL = itemgetter(1)
_VALUE = itemgetter(2)


def _all_equal(first: object, items: Iterable[object]) -> bool:
    """Whether every item equals ``first``, compared in C (a set of enum members
    would hash each through Enum.__hash__, in Python)."""
    return all(map(eq, repeat(first), items))


# SQLite settings of the import's own connection, restored when it is done.
_SQLITE_PRAGMAS = {"cache_size": -131_072}

_COLUMNS = (
    "id",
    "media_type",
    "category",
    "case_ref",
    "note",
    "quality",
    "active",
    "created_at",
    "created_by",
    "hash_signal",
    "hash_value",
)
_INSERT = f"INSERT INTO items ({', '.join(_COLUMNS)}) "
# SQLite: a batch is one statement whose rows SQLite makes itself, with the
# hashes in one blob cut by substr(): no Python binding per row, three times the
# rows a second of executemany. The batch's item ids are contiguous (this
# transaction holds the write lock), so each row's id is the first plus its rank.
_SQLITE_UNIFORM = (
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :count) "
    + _INSERT
    + "SELECT :first + i, :media_type, :category, :case_ref, :note, :quality, 1, :created_at, "
    ":created_by, :signal, substr(:values, i * :width + 1, :width) FROM n"
)
"""Every entry of the batch has the same signal, category, case, quality, note
and media type (a list without per-line columns)."""
_SQLITE_MIXED = (
    _INSERT + "SELECT :first + key, value ->> 0, value ->> 1, value ->> 2, value ->> 3, "
    "value ->> 4, 1, :created_at, :created_by, value ->> 5, substr(:values, value ->> 6, "
    "value ->> 7) FROM json_each(:rows)"
)
"""Per-line values as one JSON array of rows."""
_SHAPE = itemgetter(1, 3, 4, 5, 6, 7)
_PG_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_PG_BINARY_TRAILER = struct.pack("!h", -1)
_PG_NULL = struct.pack("!i", -1)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
"""Binary timestamps count microseconds from here."""


class _Shared(NamedTuple):
    """What every row of a uniform batch has in common (all but id and hash)."""

    media_type: str
    category: str
    case_ref: str | None
    note: str | None
    quality: int | None
    signal: str
    width: int
    """Bytes of each hash."""


"""What _SQLITE_UNIFORM needs the same in every entry: signal, category, case,
quality, note, media type."""
_PG_IDS = text(
    "SELECT min(v), max(v), CASE WHEN max(v) - min(v) + 1 = count(*) THEN NULL "
    "ELSE array_agg(v ORDER BY v) END "
    "FROM (SELECT nextval(CAST(:seq AS regclass)) AS v FROM generate_series(1, :n)) AS ids"
)
_PG_COPY = f"COPY items ({', '.join(_COLUMNS)}) FROM STDIN"


@contextmanager
def _writer(engine: Engine, options: ImportOptions) -> Iterator[_BatchWriter]:
    with engine.connect() as conn:
        saved: dict[str, Any] = {}
        if conn.dialect.name == "sqlite":
            with conn.begin():
                for name, value in _SQLITE_PRAGMAS.items():
                    saved[name] = conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                    conn.exec_driver_sql(f"PRAGMA {name} = {value}")
        try:
            yield _BatchWriter(conn, options)
        finally:
            if conn.in_transaction():
                conn.rollback()
            if saved:
                with conn.begin():
                    for name, value in saved.items():
                        conn.exec_driver_sql(f"PRAGMA {name} = {int(value)}")


def _by_signal(entries: Sequence[Entry], ids: Sequence[int]) -> dict[str, list[tuple[bytes, int]]]:
    """(value, item id) of each entry, by signal name."""
    if _all_equal(entries[0].signal, map(_SIGNAL, entries)):
        return {str(entries[0].signal): list(zip(map(_VALUE, entries), ids, strict=True))}
    added: dict[str, list[tuple[bytes, int]]] = defaultdict(list)
    for item_id, entry in zip(ids, entries, strict=True):
        # str() of these string enums is their value, without Enum.value's cost.
        added[str(entry.signal)].append((entry.value, item_id))
    return dict(added)


def _copy_text(value: str | None) -> str:
    """A value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


class _BatchWriter:
    def __init__(self, conn: Connection, options: ImportOptions) -> None:
        self.conn = conn
        self.options = options
        self.postgres = conn.dialect.name == "postgresql"
        self._sequence = ""
        if self.postgres:
            with conn.begin():
                self._sequence = str(
                    conn.scalar(text("SELECT pg_get_serial_sequence('items', 'id')"))
                )
        self._created_at = Item.__table__.c.created_at.type.dialect_impl(conn.dialect)
        self._copy_memo: dict[str | None, str] = {}

    def commit(
        self,
        summary: ImportSummary,
        new: Sequence[Entry],
        already: int,
        rejected: int,
        last_line: int,
    ) -> Committed | None:
        """Write one batch's new entries and the import's progress in one
        transaction; returns what it added (None when nothing)."""
        conn = self.conn
        now = utcnow()
        committed: Committed | None = None
        with conn.begin():
            # Written first: on SQLite this takes the write lock, so the ids read
            # below stay free until the commit; on both databases the row check
            # stops a second run of the same import from counting lines twice.
            moved = conn.execute(
                update(HashImport)
                .where(HashImport.id == summary.import_id, HashImport.lines_done == summary.lines)
                .values(
                    updated_at=now,
                    lines_done=last_line,
                    added=HashImport.added + len(new),
                    already_present=HashImport.already_present + already,
                    rejected=HashImport.rejected + rejected,
                )
            )
            if moved.rowcount != 1:
                raise ImportConflict(
                    f"import {summary.import_id} was moved on by another run; rerun to resume"
                )
            if new:
                ids = self._new_item_ids(len(new))
                self._insert(ids, new, now)
                # Last before the commit: a feed id becomes visible at the commit,
                # and a short gap keeps it inside the followers' look-back window.
                change_id = conn.execute(
                    insert(IndexChange)
                    .values(item_id=ids[0], last_item_id=ids[-1], op=ADD_RANGE, created_at=now)
                    .returning(IndexChange.id)
                ).scalar_one()
                committed = Committed(change_id, _by_signal(new, ids))
        summary.lines_this_run += last_line - summary.lines
        summary.lines = last_line
        summary.added += len(new)
        summary.added_this_run += len(new)
        summary.already_present += already
        summary.rejected += rejected
        return committed

    def _new_item_ids(self, count: int) -> list[int]:
        """Ids for ``count`` new items, in file order, taken before inserting so
        the batch's feed row can name its range."""
        if self.postgres:
            # Contiguous unless another session took ids meanwhile: then, and only
            # then, the ids themselves come back.
            low, high, scattered = self.conn.execute(
                _PG_IDS, {"seq": self._sequence, "n": count}
            ).one()
            if scattered is not None:
                return [int(value) for value in scattered]
            return list(range(int(low), int(high) + 1))
        # SQLite: this transaction holds the database's write lock (see above).
        top = int(self.conn.scalar(select(func.max(Item.id))) or 0)
        return list(range(top + 1, top + 1 + count))

    def _insert(self, ids: Sequence[int], entries: Sequence[Entry], now: datetime) -> None:
        values = b"".join(map(_VALUE, entries))
        shared: _Shared | None = None
        if _all_equal(_SHAPE(entries[0]), map(_SHAPE, entries)):
            e = entries[0]
            shared = _Shared(
                e.media_type,
                self.options.category.value if e.category is None else e.category.value,
                self.options.case_ref if e.case_ref is None else e.case_ref,
                e.note,
                e.quality,
                e.signal.value,
                len(e.value),
            )
        if self.postgres:
            if shared is not None:
                self._copy_binary(ids, shared, values, now)
            else:
                self._copy(ids, entries, now)
            return
        process = self._created_at.bind_processor(self.conn.dialect)
        fixed = {
            "first": ids[0],
            "created_at": process(now) if process is not None else now,
            "created_by": self.options.operator,
            "values": values,
        }
        driver: Any = self.conn.connection.driver_connection
        if shared is not None:
            driver.execute(_SQLITE_UNIFORM, fixed | shared._asdict() | {"count": len(ids)})
            return
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
        driver.execute(_SQLITE_MIXED, fixed | {"rows": json.dumps(rows)})

    def _copy_binary(
        self, ids: Sequence[int], shared: _Shared, values: bytes, now: datetime
    ) -> None:
        """A batch whose rows differ only in id and hash, by ``COPY`` in binary
        form, every row laid out at once in a NumPy array: no Python step per
        row, and less for the server to parse than text."""
        count = len(ids)

        def text_field(value: str | None) -> bytes:
            if value is None:
                return _PG_NULL
            data = value.encode()
            return struct.pack("!i", len(data)) + data

        micros = (now - _PG_EPOCH) // timedelta(microseconds=1)
        middle = b"".join(
            (
                text_field(shared.media_type),
                text_field(shared.category),
                text_field(shared.case_ref),
                text_field(shared.note),
                _PG_NULL if shared.quality is None else struct.pack("!ii", 4, shared.quality),
                struct.pack("!i?", 1, True),
                struct.pack("!iq", 8, micros),
                text_field(self.options.operator),
                text_field(shared.signal),
                struct.pack("!i", shared.width),
            )
        )
        head = struct.pack("!hi", len(_COLUMNS), 8)
        rows = np.empty((count, len(head) + 8 + len(middle) + shared.width), np.uint8)
        rows[:, : len(head)] = np.frombuffer(head, np.uint8)
        at = len(head) + 8
        rows[:, len(head) : at] = np.asarray(ids, ">i8").view(np.uint8).reshape(count, 8)
        rows[:, at : at + len(middle)] = np.frombuffer(middle, np.uint8)
        rows[:, at + len(middle) :] = np.frombuffer(values, np.uint8).reshape(count, shared.width)
        driver: Any = self.conn.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(_PG_COPY + " (FORMAT binary)") as copy:
            copy.write(_PG_BINARY_HEADER + rows.tobytes() + _PG_BINARY_TRAILER)

    def _copy(self, ids: Sequence[int], entries: Sequence[Entry], now: datetime) -> None:
        """The batch's items by ``COPY`` in text form, built here: about twice the
        speed of psycopg adapting each value of each row."""
        memo = self._copy_memo

        def field(value: str | None) -> str:
            out = memo.get(value)
            if out is None:
                out = memo[value] = _copy_text(value)
            return out

        category = self.options.category.value
        case_ref = self.options.case_ref
        # active, created_at and created_by are the same for every row.
        fixed = f"\tt\t{_copy_text(now.isoformat())}\t{field(self.options.operator)}\t"
        null = "\\N"
        lines = [
            f"{item_id}\t{e.media_type}\t"
            f"{category if e.category is None else e.category}\t"
            f"{field(case_ref if e.case_ref is None else e.case_ref)}\t"
            f"{field(e.note)}\t{null if e.quality is None else e.quality}"
            f"{fixed}{e.signal}\t\\\\x{e.value.hex()}\n"
            for item_id, e in zip(ids, entries, strict=True)
        ]
        driver: Any = self.conn.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(_PG_COPY) as copy:
            copy.write("".join(lines))


def _finish(engine: Engine, options: ImportOptions, summary: ImportSummary) -> None:
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            update(HashImport)
            .where(HashImport.id == summary.import_id)
            .values(status=DONE, updated_at=now, finished_at=now)
        )
        conn.execute(
            insert(AuditEvent).values(
                created_at=now,
                actor=options.operator,
                action="import",
                item_id=None,
                detail=json.dumps(summary.as_json() | {"status": DONE}, ensure_ascii=False),
            )
        )
    summary.status = DONE


def _mark_failed(engine: Engine, import_id: int) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(
                update(HashImport)
                .where(HashImport.id == import_id, HashImport.status == RUNNING)
                .values(status=FAILED, updated_at=utcnow())
            )
    except Exception:  # the database may be what failed; a rerun resumes all the same
        log.warning("could not mark import %d failed", import_id, exc_info=True)


def _forget_unread(engine: Engine, summary: ImportSummary) -> None:
    """Drop the record of a new import of a file that could not be read at all:
    nothing of it was written, and a record would only be noise."""
    if summary.resumed_from or summary.lines:
        _mark_failed(engine, summary.import_id)
        return
    with engine.begin() as conn:
        conn.execute(delete(HashImport).where(HashImport.id == summary.import_id))


@dataclass
class RejectionSample:
    """The first ``limit`` rejections and how many there were in all."""

    limit: int
    items: list[Rejection] = field(default_factory=list)
    total: int = 0

    def __call__(self, rejection: Rejection) -> None:
        self.total += 1
        if len(self.items) < self.limit:
            self.items.append(rejection)
