"""Export of the active hash list, streamed from the database to a file."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from sqlalchemy import Engine, Row

from app.repository.hashes import exported_hashes
from app.services.hashlists.formats import Format
from app.services.hashlists.list_writer import OutRow, Writer
from hashing.types import Signal
from matching import Category

STREAM_ROWS = 10_000
"""Rows fetched at a time: a server-side cursor on PostgreSQL, so an export of
ten million hashes holds no more than this many in memory."""


@dataclass(frozen=True, slots=True)
class ExportSummary:
    written: int
    """Hashes written."""
    not_representable: int
    """Active hashes the format has no name for (a pHash in a ThreatExchange list)."""
    duplicates: int
    """Hashes held by more than one active item, written once."""


def export_hash_list(
    engine: Engine,
    out: TextIO,
    fmt: Format,
    *,
    category: Category | None = None,
    signal: Signal | None = None,
) -> ExportSummary:
    """Write every hash of every active item (its ``item_hashes`` rows or its
    inline hash) to ``out`` in ``fmt``, once each, ordered by signal and value
    (the first item holding a hash, by id, gives its category, case and quality).

    Band hashes (the top and bottom of a picture) are left out: they match only
    in pairs, and a partner would take each for a whole picture. The rows are
    read in one transaction, :data:`STREAM_ROWS` at a time.
    """
    with engine.connect() as conn:
        rows = conn.execution_options(yield_per=STREAM_ROWS).execute(
            exported_hashes(category, signal)
        )
        return _write(rows, Writer(fmt, out))


def _write(
    rows: Iterable[Row[str, bytes, str, str | None, int | None, str | None, str, datetime]],
    writer: Writer,
) -> ExportSummary:
    """Each hash of ``rows`` (ordered as :func:`exported_hashes` orders them) once."""
    written = skipped = duplicates = 0
    previous: tuple[str, bytes] | None = None
    for row in rows:
        key = (row.signal, row.value)
        if key == previous:
            duplicates += 1
            continue
        previous = key
        if writer.write(OutRow(*row)):
            written += 1
        else:
            skipped += 1
    return ExportSummary(written, skipped, duplicates)
