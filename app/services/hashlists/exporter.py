"""Export of the active hash list, streamed from the database to a file."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from sqlalchemy import Engine, Row, Select, select, union_all

from app.models import Item, ItemHash
from app.services.hashlists.formats import Format
from app.services.hashlists.list_writer import OutRow, Writer
from hashing.types import Signal
from matching import Category
from matching.clip_frames import BAND_VARIANTS

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
        rows = conn.execution_options(yield_per=STREAM_ROWS).execute(_query(category, signal))
        return _write(rows, Writer(fmt, out))


_Exported = Select[str, bytes, str, str | None, int | None, str | None, str, datetime]
"""The fields of an :class:`OutRow`, in order."""


def _query(category: Category | None, signal: Signal | None) -> _Exported:
    """Every active hash (registered or inline) as the fields of an
    :class:`OutRow`, ordered by signal, value and the id of the item holding it."""
    columns = (
        Item.category,
        Item.case_ref,
        Item.quality,
        Item.note,
        Item.media_type,
        Item.created_at,
        Item.id.label("item_id"),
    )
    registered = (
        select(ItemHash.signal.label("signal"), ItemHash.value.label("value"), *columns)
        .join(Item, Item.id == ItemHash.item_id)
        .where(Item.active.is_(True), ItemHash.variant.not_in(BAND_VARIANTS))
    )
    # Bulk-imported items hold their one hash inline (never a band).
    inline = select(
        Item.hash_signal.label("signal"), Item.hash_value.label("value"), *columns
    ).where(Item.active.is_(True), Item.hash_value.is_not(None))
    if category is not None:
        registered = registered.where(Item.category == category.value)
        inline = inline.where(Item.category == category.value)
    if signal is not None:
        registered = registered.where(ItemHash.signal == signal.value)
        inline = inline.where(Item.hash_signal == signal.value)
    both = union_all(registered, inline).subquery()
    return select(
        both.c.signal,
        both.c.value,
        both.c.category,
        both.c.case_ref,
        both.c.quality,
        both.c.note,
        both.c.media_type,
        both.c.created_at,
    ).order_by(
        # Equal hashes come together, so duplicates are dropped without a set
        # of everything written; the first item holding a hash speaks for it.
        both.c.signal,
        both.c.value,
        both.c.item_id,
    )


def _write(
    rows: Iterable[Row[str, bytes, str, str | None, int | None, str | None, str, datetime]],
    writer: Writer,
) -> ExportSummary:
    """Each hash of ``rows`` (ordered as :func:`_query` orders them) once."""
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
