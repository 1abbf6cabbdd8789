"""Bulk import of a hash-list file into the database (and, through the change
feed, every server's index).

Each hash-list entry becomes one active item (media type ``hashes``, or
``video_hashes`` for a video digest) with its ``item_hashes`` row and one
``index_changes`` ``add`` row, written in bulk (a staging table, then three
``INSERT ... SELECT``), a batch of lines per transaction. The same transaction
moves the import's ``hash_imports`` row on to the batch's last line, so after
a crash or Ctrl-C the same command resumes after the last committed line. A
hash already held by an active item, or earlier in the file, is counted as
already present and skipped, so importing a file twice adds nothing the second
time. One audit row is written when an import completes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    true,
    update,
)

from app.models import AuditEvent, HashImport, IndexChange, Item, ItemHash, utcnow
from app.schemas import Category
from app.services.hashlists.formats import (
    Entry,
    Format,
    HashListError,
    LineReader,
    Rejection,
    parse,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH = 5_000
"""Lines per transaction on PostgreSQL. A batch's ``index_changes`` ids are
taken at insert and seen at commit, while other sessions may commit higher ids
meanwhile; kept well below the change feed's look-back window (10,000 ids in
app/services/sync.py), so no follower polling meanwhile skips them."""
DEFAULT_BATCH_SQLITE = 20_000
"""Lines per transaction on SQLite, whose single writer makes feed ids visible
in order; larger batches write each page of the random-keyed hash index fewer
times (docs/benchmarks.md)."""
ANALYZE_MIN_ROWS = 50_000
"""PostgreSQL statistics are refreshed once an import has added this many rows
and as many as the table held at the last refresh (see ``_analyze``)."""
IN_CHUNK = 5_000
"""Values per ``IN (...)`` lookup of hashes already held (SQLite allows 32,766
parameters a statement)."""

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
    """Lines per transaction; default :data:`DEFAULT_BATCH` (PostgreSQL) or
    :data:`DEFAULT_BATCH_SQLITE`."""


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


@dataclass
class Hooks:
    """What the caller hears while an import runs."""

    rejected: Callable[[Rejection], None] | None = None
    """Every rejected line, in order, including those of lines a previous run
    committed (so a report rewritten on resume is complete)."""
    committed: Callable[[list[Added]], None] | None = None
    """The hashes a batch stored, after its commit (to put them in an index)."""
    progress: Callable[[int], None] | None = None
    """Bytes of the file read so far, after each batch."""


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
    hooks: Hooks | None = None,
    *,
    digest: str | None = None,
    max_batches: int | None = None,
) -> ImportSummary:
    """Import ``path``, or resume an unfinished import of the same file.

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
        _run(engine, path, options, hooks, summary, max_batches)
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
    options: ImportOptions,
    hooks: Hooks,
    summary: ImportSummary,
    max_batches: int | None,
) -> None:
    skip_to = summary.lines
    batch_size = options.batch_size or default_batch(engine.dialect.name)
    batches = 0
    with path.open("rb") as stream, _writer(engine, options) as writer:
        reader = LineReader(stream)
        entries: list[Entry] = []
        rejected = 0
        last = skip_to
        for parsed in parse(options.fmt, reader):
            if isinstance(parsed, Rejection):
                if hooks.rejected is not None:
                    hooks.rejected(parsed)
                if parsed.line <= skip_to:
                    continue
                rejected += 1
            else:
                if parsed.line <= skip_to:
                    continue
                entries.append(parsed)
            last = parsed.line
            if len(entries) + rejected >= batch_size:
                writer.commit(hooks, summary, entries, rejected, last)
                entries, rejected = [], 0
                batches += 1
                if hooks.progress is not None:
                    hooks.progress(reader.position)
                if max_batches is not None and batches >= max_batches:
                    return
        # Trailing blank lines count as lines of the file, not as outcomes.
        last = max(last, reader.lines)
        if entries or rejected or last > summary.lines:
            writer.commit(hooks, summary, entries, rejected, last)
        if hooks.progress is not None:
            hooks.progress(reader.position)
    _finish(engine, options, summary)


def default_batch(dialect: str) -> int:
    return DEFAULT_BATCH_SQLITE if dialect == "sqlite" else DEFAULT_BATCH


# Each batch's new entries go to this per-connection temporary table first (one
# row a hash, by COPY or one executemany), and from there into items,
# item_hashes and index_changes by three INSERT ... SELECT statements, so the
# per-row work of the three inserts happens inside the database.
_STAGE_METADATA = MetaData()
STAGE = Table(
    "hashwall_import_stage",
    _STAGE_METADATA,
    # SQLite's INTEGER PRIMARY KEY is the row id itself, not a second b-tree.
    Column(
        "item_id",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("signal", String(20), nullable=False),
    Column("value", LargeBinary, nullable=False),
    Column("category", String(30), nullable=False),
    Column("case_ref", String(200)),
    Column("quality", Integer),
    Column("note", Text),
    Column("media_type", String(20), nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)
_STAGE_COLUMNS = [c.name for c in STAGE.columns]

_PG_HELD = text(
    "SELECT u.value FROM unnest(CAST(:values AS bytea[])) AS u(value) WHERE EXISTS ("
    "SELECT 1 FROM item_hashes JOIN items ON items.id = item_hashes.item_id "
    "WHERE item_hashes.signal = :signal AND item_hashes.value = u.value AND items.active)"
)


def _sqlite_held(count: int) -> str:
    return (
        "SELECT item_hashes.value FROM item_hashes JOIN items ON items.id = item_hashes.item_id "
        f"WHERE item_hashes.signal = ? AND item_hashes.value IN ({', '.join('?' * count)}) "
        "AND items.active"
    )


# SQLite settings of the import's own connection, restored when it is done. A
# larger page cache keeps the random-keyed ix_item_hashes_signal_value in
# memory; the staging table never touches the disk.
_SQLITE_PRAGMAS = {"cache_size": -131_072, "temp_store": 2}


@contextmanager
def _writer(engine: Engine, options: ImportOptions) -> Iterator[_BatchWriter]:
    with engine.connect() as conn:
        saved: dict[str, Any] = {}
        with conn.begin():
            if conn.dialect.name == "sqlite":
                for name, value in _SQLITE_PRAGMAS.items():
                    saved[name] = conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                    conn.exec_driver_sql(f"PRAGMA {name} = {value}")
            STAGE.create(conn, checkfirst=True)
            writer = _BatchWriter(conn, options)
        try:
            yield writer
        finally:
            if conn.in_transaction():
                conn.rollback()
            with conn.begin():
                STAGE.drop(conn, checkfirst=True)
                for name, value in saved.items():
                    conn.exec_driver_sql(f"PRAGMA {name} = {int(value)}")


class _BatchWriter:
    def __init__(self, conn: Connection, options: ImportOptions) -> None:
        self.conn = conn
        self.options = options
        self.postgres = conn.dialect.name == "postgresql"
        self._sequence = ""
        self._analyzed_rows = 0
        self._added_since_analyze = 0
        if self.postgres:
            self._sequence = str(conn.scalar(text("SELECT pg_get_serial_sequence('items', 'id')")))
            self._analyze()

    def commit(
        self,
        hooks: Hooks,
        summary: ImportSummary,
        entries: Sequence[Entry],
        rejected: int,
        last_line: int,
    ) -> None:
        """Write one batch and the import's progress in one transaction."""
        conn = self.conn
        now = utcnow()
        with conn.begin():
            # Written first: on SQLite this takes the write lock, so the ids read
            # below stay free until the commit; on both databases the row check
            # stops a second run of the same import from counting lines twice.
            moved = conn.execute(
                update(HashImport)
                .where(HashImport.id == summary.import_id, HashImport.lines_done == summary.lines)
                .values(updated_at=now)
            )
            if moved.rowcount != 1:
                raise ImportConflict(
                    f"import {summary.import_id} was moved on by another run; rerun to resume"
                )
            unique: dict[tuple[str, bytes], Entry] = {}
            for entry in entries:  # the first line with a hash keeps it
                unique.setdefault((entry.signal.value, entry.value), entry)
            held = self._held(unique.keys())
            new = [entry for key, entry in unique.items() if key not in held]
            added = self._insert(new, now) if new else []
            already = len(entries) - len(new)
            conn.execute(
                update(HashImport)
                .where(HashImport.id == summary.import_id)
                .values(
                    lines_done=last_line,
                    added=HashImport.added + len(new),
                    already_present=HashImport.already_present + already,
                    rejected=HashImport.rejected + rejected,
                )
            )
        summary.lines_this_run += last_line - summary.lines
        summary.lines = last_line
        summary.added += len(new)
        summary.already_present += already
        summary.rejected += rejected
        if hooks.committed is not None and added:
            hooks.committed(added)
        if self.postgres:
            self._added_since_analyze += len(new)
            if self._added_since_analyze > max(self._analyzed_rows, ANALYZE_MIN_ROWS):
                with conn.begin():
                    self._analyze()

    def _analyze(self) -> None:
        """Refresh PostgreSQL's statistics of the tables an import grows.

        Planned from the statistics of a much smaller table, the lookup of held
        hashes becomes a hash join over all of item_hashes, once a batch: an
        import into an empty database slowed to 500 hashes/s by 200,000. Each
        time the import has doubled the table, ANALYZE (a sample of 30,000 rows)
        keeps the plan on index probes.
        """
        self.conn.exec_driver_sql("ANALYZE items, item_hashes")
        rows = self.conn.scalar(
            text("SELECT reltuples FROM pg_class WHERE oid = CAST('item_hashes' AS regclass)")
        )
        self._analyzed_rows = max(0, int(rows or 0))
        self._added_since_analyze = 0

    def _held(self, keys: Iterable[tuple[str, bytes]]) -> set[tuple[str, bytes]]:
        """Those of ``keys`` (signal, value) some active item already holds,
        looked up a batch at a time through ``ix_item_hashes_signal_value``."""
        by_signal: dict[str, list[bytes]] = defaultdict(list)
        for signal, value in keys:
            by_signal[signal].append(value)
        held: set[tuple[str, bytes]] = set()
        for signal, values in by_signal.items():
            if self.postgres:
                # One semi-join of the batch as an array against the index: twice
                # the speed of IN lists of the same values (docs/benchmarks.md).
                rows = self.conn.execute(_PG_HELD, {"signal": signal, "values": values})
                held.update((signal, value) for (value,) in rows)
                continue
            for start in range(0, len(values), IN_CHUNK):
                chunk = values[start : start + IN_CHUNK]
                # Plain SQL on the driver: compiling and processing 5,000 bound
                # parameters through SQLAlchemy took longer than the lookup.
                rows = self.conn.exec_driver_sql(_sqlite_held(len(chunk)), (signal, *chunk))
                held.update((signal, value) for (value,) in rows)
        return held

    def _new_item_ids(self, count: int) -> list[int]:
        """Ids for ``count`` new items, taken before inserting so the item, hash
        and feed rows can all be written from the staging table."""
        if self.postgres:
            rows = self.conn.execute(
                text("SELECT nextval(CAST(:seq AS regclass)) FROM generate_series(1, :n)"),
                {"seq": self._sequence, "n": count},
            )
            return [int(value) for (value,) in rows]
        # SQLite: this transaction holds the database's write lock (see above).
        top = int(self.conn.scalar(select(func.max(Item.id))) or 0)
        return list(range(top + 1, top + 1 + count))

    def _insert(self, entries: Sequence[Entry], now: datetime) -> list[Added]:
        conn = self.conn
        category = self.options.category.value
        case_ref = self.options.case_ref
        ids = self._new_item_ids(len(entries))
        rows = [
            (
                item_id,
                e.signal.value,
                e.value,
                category if e.category is None else e.category.value,
                case_ref if e.case_ref is None else e.case_ref,
                e.quality,
                e.note,
                e.media_type,
            )
            for item_id, e in zip(ids, entries, strict=True)
        ]
        self._stage(rows)
        s = STAGE.c
        conn.execute(
            insert(Item).from_select(
                [
                    "id",
                    "media_type",
                    "category",
                    "case_ref",
                    "note",
                    "quality",
                    "active",
                    "created_at",
                    "created_by",
                ],
                select(
                    s.item_id,
                    s.media_type,
                    s.category,
                    s.case_ref,
                    s.note,
                    s.quality,
                    true(),
                    literal(now, Item.created_at.type),
                    literal(self.options.operator, Item.created_by.type),
                ).order_by(s.item_id),
            )
        )
        conn.execute(
            insert(ItemHash).from_select(
                ["item_id", "signal", "value", "variant", "quality"],
                select(
                    s.item_id, s.signal, s.value, literal("original", String()), s.quality
                ).order_by(s.item_id),
            )
        )
        # Last before the commit: feed ids become visible at the commit, and a
        # short gap keeps them inside the followers' look-back window.
        conn.execute(
            insert(IndexChange).from_select(
                ["item_id", "op", "created_at"],
                select(
                    s.item_id, literal("add", String()), literal(now, IndexChange.created_at.type)
                ).order_by(s.item_id),
            )
        )
        if not self.postgres:
            conn.execute(delete(STAGE))  # PostgreSQL empties it at the commit
        return [(signal, value, item_id) for item_id, signal, value, *_ in rows]

    def _stage(self, rows: list[tuple[Any, ...]]) -> None:
        if self.postgres:
            # COPY: the fastest way into PostgreSQL, several times executemany's speed.
            driver: Any = self.conn.connection.driver_connection
            columns = ", ".join(_STAGE_COLUMNS)
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY {STAGE.name} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        self.conn.execute(
            insert(STAGE), [dict(zip(_STAGE_COLUMNS, row, strict=True)) for row in rows]
        )


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
