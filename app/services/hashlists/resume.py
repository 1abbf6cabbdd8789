"""The ``hash_imports`` row of an import: what makes an unfinished import resumable.

An import is known by its file's SHA-256, format, category and case reference.
:func:`begin` finds the unfinished row of the same import (a run that was
interrupted) or makes a new one; each batch's transaction moves the row on to
the batch's last line (:func:`move_on`), so after a crash or Ctrl-C the same
command resumes after the last committed line; :func:`finish` marks it done and
writes the one audit row of the import.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from app.models import AuditEvent, HashImport, utcnow
from app.services.hashlists.formats import Format
from matching import Category

log = logging.getLogger(__name__)

RUNNING, FAILED, DONE = "running", "failed", "done"


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
    """Lines per transaction; default :data:`~app.services.hashlists.importer.DEFAULT_BATCH`."""


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


def begin(engine: Engine, options: ImportOptions, digest: str, filename: str) -> ImportSummary:
    """The import's row, marked running: the newest unfinished one of the same
    file, format, category and case (its counts carried on), or a new one."""
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
            .where(*_same_import(options, digest))
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
            import_id = _insert(conn, options, digest, filename, now)
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


def _same_import(options: ImportOptions, digest: str) -> list[Any]:
    return [
        HashImport.file_sha256 == digest,
        HashImport.format == options.fmt.value,
        HashImport.category == options.category.value,
        HashImport.case_ref.is_(None)
        if options.case_ref is None
        else HashImport.case_ref == options.case_ref,
        HashImport.status != DONE,
    ]


def _insert(
    conn: Connection, options: ImportOptions, digest: str, filename: str, now: datetime
) -> int:
    return int(
        conn.execute(
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
    )


def move_on(
    conn: Connection,
    summary: ImportSummary,
    now: datetime,
    added: int,
    already: int,
    rejected: int,
    last_line: int,
) -> None:
    """Move the row on to ``last_line`` with a batch's counts, in the batch's
    transaction. Raises :class:`ImportConflict` when the row is no longer at
    ``summary.lines``: another run of the same import moved it on."""
    moved = conn.execute(
        update(HashImport)
        .where(HashImport.id == summary.import_id, HashImport.lines_done == summary.lines)
        .values(
            updated_at=now,
            lines_done=last_line,
            added=HashImport.added + added,
            already_present=HashImport.already_present + already,
            rejected=HashImport.rejected + rejected,
        )
    )
    if moved.rowcount != 1:
        raise ImportConflict(
            f"import {summary.import_id} was moved on by another run; rerun to resume"
        )


def count_in(summary: ImportSummary, added: int, already: int, rejected: int, last: int) -> None:
    """Count a committed batch in the run's summary (after :func:`move_on` committed)."""
    summary.lines_this_run += last - summary.lines
    summary.lines = last
    summary.added += added
    summary.added_this_run += added
    summary.already_present += already
    summary.rejected += rejected


def finish(engine: Engine, options: ImportOptions, summary: ImportSummary) -> None:
    """Mark the import done and write its one audit row."""
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


def mark_failed(engine: Engine, import_id: int) -> None:
    """Mark a running import failed; a database that cannot be written is logged,
    not raised (a rerun resumes all the same)."""
    try:
        with engine.begin() as conn:
            conn.execute(
                update(HashImport)
                .where(HashImport.id == import_id, HashImport.status == RUNNING)
                .values(status=FAILED, updated_at=utcnow())
            )
    except Exception:  # the database may be what failed; a rerun resumes all the same
        log.warning("could not mark import %d failed", import_id, exc_info=True)


def forget_unread(engine: Engine, summary: ImportSummary) -> None:
    """Drop the record of a new import of a file that could not be read at all:
    nothing of it was written, and a record would only be noise."""
    if summary.resumed_from or summary.lines:
        mark_failed(engine, summary.import_id)
        return
    with engine.begin() as conn:
        conn.execute(delete(HashImport).where(HashImport.id == summary.import_id))
