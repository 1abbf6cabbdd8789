"""The ``items`` columns an import writes, taken from the table, and what the
rows of a batch may share.

An imported item holds its one hash inline (``hash_signal``, ``hash_value``):
the columns written are those no row may leave empty, those an
:class:`~app.services.hashlists.formats.Entry` carries, and the inline hash;
a clip's and a deactivation's columns stay NULL. They are written in the
table's order, each writer giving every one of them a value by name
(:func:`in_order`), so a column added to the table that an import must fill
stops the import's modules from loading instead of leaving it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import Column, Table

from app.models import Item
from app.services.hashlists.formats import Entry

ITEMS = cast(Table, Item.__table__)

INLINE_HASH = {ITEMS.c.hash_signal.name: "signal", ITEMS.c.hash_value.name: "value"}
"""The inline hash's columns, and the :class:`Entry` field each holds."""


def _written(column: Column[Any]) -> bool:
    return not column.nullable or column.name in Entry._fields or column.name in INLINE_HASH


IMPORTED: tuple[str, ...] = tuple(column.name for column in ITEMS.columns if _written(column))
"""Names of the columns an import writes, in the table's order."""

COLUMN_LIST = ", ".join(IMPORTED)
"""The column list of an ``INSERT`` or ``COPY`` of imported items."""

_T = TypeVar("_T")


def in_order(values: Mapping[str, _T]) -> list[_T]:
    """``values`` (one per imported column, by name) in :data:`IMPORTED` order.
    Raises ValueError when a column has no value or a value no column."""
    missing = [name for name in IMPORTED if name not in values]
    extra = sorted(set(values) - set(IMPORTED))
    if missing or extra:
        raise ValueError(f"imported items' columns: no value for {missing}, no column for {extra}")
    return [values[name] for name in IMPORTED]


class Shared(NamedTuple):
    """What every row of a uniform batch has in common (all but id and hash)."""

    media_type: str
    category: str
    case_ref: str | None
    note: str | None
    quality: int | None
    signal: str
    width: int
    """Bytes of each hash."""
