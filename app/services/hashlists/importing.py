"""Importing a hash list: the use case ``POST /import``, ``hashwall import`` and
the import benchmark call alike.

A server imports against the index it serves from (:class:`ServedIndex`); the
command and the benchmark pass the settings to load one with as a server starts,
which then follows the change feed while the import runs. The batches, the
resume bookkeeping and the database writers are :mod:`.importer`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from app.services.hashlists.formats import parse
from app.services.hashlists.import_index import (
    FEED_POLL_SECONDS,
    FeedPoll,
    ImportIndex,
    ServedIndex,
    load_import_index,
)
from app.services.hashlists.importer import Hooks, import_hash_list
from app.services.hashlists.lines import LineReader, Rejection
from app.services.hashlists.rejections import RejectionReport, RejectionSample
from app.services.hashlists.resume import ImportOptions, ImportSummary
from app.settings import Settings


@dataclass(frozen=True, slots=True)
class ImportRun:
    summary: ImportSummary
    rejections: RejectionSample
    """The first rejected lines (as many as asked for) and how many in all."""
    reported: int
    """Lines in the rejection report (0 without one)."""
    index: ImportIndex | None
    """The index loaded for the import; None when it used a served one."""


def import_list(
    engine: Engine,
    path: Path,
    options: ImportOptions,
    index: ServedIndex | Settings,
    *,
    digest: str | None = None,
    report: Path | None = None,
    keep_rejections: int = 0,
    progress: Callable[[int], None] | None = None,
    loaded: Callable[[ImportIndex], None] | None = None,
    max_batches: int | None = None,
) -> ImportRun:
    """Import the hash list at ``path`` (or resume its unfinished import), each
    batch of lines its own transaction.

    ``index`` is a server's index, which gets each batch's new hashes at once,
    or the settings to load one with first as a server starts (then ``loaded``
    hears of it before the import begins, and a file that cannot be read in the
    format at all fails before the load). Rejected lines go to the CSV file
    ``report`` (made at the first one) and the first ``keep_rejections`` of them
    into the answer; ``progress`` hears the bytes read after each batch.
    ``digest`` and ``max_batches`` are :func:`.importer.import_hash_list`'s.

    Raises :class:`~app.services.hashlists.formats.HashListError` for a file
    that cannot be read in the format (nothing written) and
    :class:`~app.services.hashlists.resume.ImportConflict` when another run of
    the same import is moving it on.
    """
    sample = RejectionSample(keep_rejections)
    with ExitStack() as stack:
        reporter = None if report is None else stack.enter_context(RejectionReport(report))
        hooks = Hooks(rejected=sample if reporter is None else _both(sample, reporter))
        hooks.progress = progress
        loaded_index = None
        if isinstance(index, ServedIndex):
            served = index.index
            hooks.committed = index.committed
        else:
            _check_readable(path, options)
            loaded_index = load_import_index(engine, index)
            if loaded is not None:
                loaded(loaded_index)
            served = loaded_index.index
            hooks.committed = loaded_index.committed
            hooks.between = FeedPoll(loaded_index.follower, FEED_POLL_SECONDS)
        summary = import_hash_list(
            engine, path, options, served, hooks, digest=digest, max_batches=max_batches
        )
    return ImportRun(summary, sample, 0 if reporter is None else reporter.count, loaded_index)


def _check_readable(path: Path, options: ImportOptions) -> None:
    """Raises HashListError for a file that cannot be read in the format at all,
    before an index is loaded for it."""
    with path.open("rb") as stream:
        next(parse(options.fmt, LineReader(stream)), None)


def _both(
    first: Callable[[Rejection], None], second: Callable[[Rejection], None]
) -> Callable[[Rejection], None]:
    def both(rejection: Rejection) -> None:
        first(rejection)
        second(rejection)

    return both
