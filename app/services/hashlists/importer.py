"""Bulk import of a hash-list file into the database (and, through the change
feed, every server's index).

Each new hash-list entry becomes one active item (media type ``hashes``, or
``video_hashes`` for a video digest) holding its hash inline (``hash_signal``,
``hash_value``), without an ``item_hashes`` row. The file is read and sorted
into new and held hashes a batch or two ahead on another thread
(:mod:`.reading`, :mod:`.dedupe`); each batch of lines is one transaction
(:mod:`.writing`) that moves the import's ``hash_imports`` row on
(:mod:`.resume`), so after a crash or Ctrl-C the same command resumes after the
last committed line.

A hash already held by an active item, or earlier in the file, is counted as
already present and skipped, so importing a file twice adds nothing the second
time. One audit row is written when an import completes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from app.services.hashlists.dedupe import Held
from app.services.hashlists.formats import HashListError
from app.services.hashlists.lines import Rejection
from app.services.hashlists.reading import READ_AHEAD, ahead, fewer_collections, read
from app.services.hashlists.resume import (
    ImportConflict,
    ImportOptions,
    ImportSummary,
    begin,
    finish,
    forget_unread,
    mark_failed,
)
from app.services.hashlists.writing import Committed, writer
from index import HashIndex

DEFAULT_BATCH = 20_000
"""Lines per transaction. One change-feed row stands for a whole batch, so the
batch size no longer bears on the feed's look-back window; larger batches
gained little (docs/benchmarks.md) and hold more work a crash would undo."""


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
    :data:`~app.services.hashlists.reading.READ_AHEAD` batches before they are
    written."""


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file at ``path``, in hex."""
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
    :class:`~app.services.hashlists.resume.ImportConflict` when another run of
    the same import is moving it on.
    """
    hooks = hooks or Hooks()
    started = time.perf_counter()
    summary = begin(engine, options, digest or file_sha256(path), options.filename or str(path))
    try:
        _run(engine, path, index, options, hooks, summary, max_batches)
    except ImportConflict:
        raise  # the row belongs to the run that moved it on
    except HashListError:
        forget_unread(engine, summary)
        raise
    except BaseException:
        mark_failed(engine, summary.import_id)
        raise
    summary.seconds = time.perf_counter() - started
    return summary


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
    batches = read(path, options.fmt, summary.lines, batch_size, hooks.rejected, Held(index))
    written = 0
    # The file is read, parsed and sorted a batch or two ahead on another
    # thread while this one writes.
    with (
        fewer_collections(),
        writer(engine, options) as batch_writer,
        ahead(batches, READ_AHEAD) as ready,
    ):
        for batch in ready:
            if batch.new or batch.already or batch.rejected or batch.last > summary.lines:
                if hooks.between is not None:
                    hooks.between()
                committed = batch_writer.commit(
                    summary, batch.new, batch.already, batch.rejected, batch.last
                )
                if committed is not None and hooks.committed is not None:
                    hooks.committed(committed)
                written += 1
            if hooks.progress is not None:
                hooks.progress(batch.position)
            if batch.final:
                break
            if max_batches is not None and written >= max_batches:
                return
    finish(engine, options, summary)
