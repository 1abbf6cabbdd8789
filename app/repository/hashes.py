"""Items' hashes: what a registration stores, and every way they are read back.

Most items keep their hashes as ``item_hashes`` rows (signal, value, variant,
quality, keyframe time). A bulk-imported entry keeps its one hash inline on its
``items`` row (``hash_signal``, ``hash_value``; its quality the item's), which
saves a row per hash at ten million items. Everything that reads hashes (the
check path, index loading, the change feed, the exporter, the API's answers)
reads both through this module.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import numpy as np
from sqlalchemy import Select, Table, bindparam, exists, select, union_all
from sqlalchemy.orm import Session

from app.models import Item, ItemFeatures, ItemHash
from app.repository.features import media_features
from hashing.clip import ClipHashes
from hashing.pipeline import ImageHashes
from hashing.transforms import Transform
from hashing.types import HashValue, Signal
from hashing.variants import Variant
from hashing.vpdq import VpdqFrame, format_vpdq
from index import HashIndex
from matching import Category
from matching.clip_frames import BAND_VARIANTS, ItemFrames, item_frames_of

CHUNK = 5_000
"""Item ids per ``IN`` list: under SQLite's bound-parameter limit."""


@dataclass(frozen=True, slots=True)
class NewHash:
    """A hash to store with a new item."""

    value: HashValue
    variant: str = Variant.ORIGINAL
    quality: int | None = None
    at: float | None = None
    """Seconds into the clip, for a keyframe's hash."""


@dataclass(frozen=True, slots=True)
class StoredHash:
    """One hash of an item, from ``item_hashes`` or inline on its items row."""

    signal: str
    value: bytes
    variant: str = Variant.ORIGINAL
    """An inline hash is of the picture itself (a bulk-imported entry)."""
    quality: int | None = None
    frame_at: float | None = None


def media_hashes(hashes: ImageHashes) -> list[NewHash]:
    """What registering media stores: the file digest, the original orientation of
    every view's PDQ and pHash, and for an item without local features the PDQ
    of each crop and rotation variant and of the bands of its canvas (the fixed
    grid and layouts of the global hashes; an item with local features is found
    at any crop, angle and layout by its keypoints).

    A picture found embedded in the item is not stored: the check side still
    looks for a registered picture inside an upload's canvas, but on the item
    side that view is whatever part the finder picked (one tile of a collage),
    which other uploads share without sharing the item (docs/benchmarks.md)."""
    stored = [NewHash(hashes.sha256, Variant.FILE)]
    for view in hashes.views:
        if view.name == Variant.EMBEDDED:
            continue
        stored.append(NewHash(view.pdq[Transform.ORIGINAL], view.name, view.quality))
        stored.append(NewHash(view.phash[Transform.ORIGINAL], view.name))
    stored += [NewHash(value, name, hashes.quality) for name, value in hashes.variants]
    if hashes.halves is not None and not media_features(hashes):
        top, bottom = hashes.halves
        stored += [
            NewHash(top, Variant.HALF_TOP, hashes.quality),
            NewHash(bottom, Variant.HALF_BOTTOM, hashes.quality),
        ]
    return [h for h in stored if h.value.informative]


def clip_hashes(clip: ClipHashes) -> list[NewHash]:
    """What registering a clip stores: the file digest and, for every keyframe,
    the PDQ of each view, the pHash and the bands of the primary one, with its
    timestamp."""
    stored = [NewHash(clip.sha256, Variant.FILE)]
    for keyframe in clip.keyframes:
        for view in keyframe.views:
            stored.append(
                NewHash(view.pdq[Transform.ORIGINAL], view.name, view.quality, keyframe.at)
            )
        primary = keyframe.views[0]
        stored.append(NewHash(primary.phash[Transform.ORIGINAL], primary.name, None, keyframe.at))
        if primary.halves is not None:
            top, bottom = primary.halves
            stored.append(NewHash(top, Variant.HALF_TOP, primary.quality, keyframe.at))
            stored.append(NewHash(bottom, Variant.HALF_BOTTOM, primary.quality, keyframe.at))
    return [h for h in stored if h.value.informative]


def vpdq_hashes(
    frames: Sequence[VpdqFrame], *, min_quality: int, dedupe_distance: int
) -> list[NewHash]:
    """The frames of a vPDQ hash worth storing: quality at or above
    ``min_quality``, and not within ``dedupe_distance`` bits of the previous
    stored frame (as for media)."""
    stored: list[NewHash] = []
    previous: HashValue | None = None
    for f in frames:
        if f.quality < min_quality or not f.pdq.informative:
            continue
        if previous is not None and f.pdq.distance(previous) < dedupe_distance:
            continue
        stored.append(NewHash(f.pdq, Variant.VPDQ, f.quality, f.at))
        previous = f.pdq
    return stored


def hash_rows(hashes: Iterable[NewHash]) -> list[ItemHash]:
    """The ``item_hashes`` rows of a new item, each distinct hash once: the first
    keyframe showing a picture keeps it."""
    unique: dict[tuple[Signal, bytes], NewHash] = {}
    for h in hashes:
        unique.setdefault((h.value.signal, h.value.value), h)
    return [
        ItemHash(
            signal=h.value.signal.value,
            value=h.value.value,
            variant=h.variant,
            quality=h.quality,
            frame_at=h.at,
        )
        for h in unique.values()
    ]


def stored_hashes(item: Item) -> list[StoredHash]:
    """Every hash of ``item``: its ``item_hashes`` rows and its inline hash, if any."""
    stored = [StoredHash(h.signal, h.value, h.variant, h.quality, h.frame_at) for h in item.hashes]
    if item.hash_signal is not None and item.hash_value is not None:
        stored.append(StoredHash(item.hash_signal, item.hash_value, quality=item.quality))
    return stored


def hashes_out(item: Item) -> dict[str, list[str]]:
    """Hex hashes by signal; a clip's keyframes also as vPDQ lines (one PDQ per
    keyframe, its primary view's), the form hash-sharing partners take."""
    out: dict[str, list[str]] = defaultdict(list)
    frames: dict[float, VpdqFrame] = {}
    for row in stored_hashes(item):
        out[row.signal].append(row.value.hex())
        if row.signal == Signal.PDQ.value and row.frame_at is not None:
            frames.setdefault(
                row.frame_at,
                VpdqFrame(HashValue(Signal.PDQ, row.value), row.quality or 0, row.frame_at),
            )
    if frames:
        out["vpdq"] = format_vpdq(sorted(frames.values(), key=lambda f: f.at))
    return dict(out)


_ITEMS = cast(Table, Item.__table__)
_HASHES = cast(Table, ItemHash.__table__)
_FEATURES = cast(Table, ItemFeatures.__table__)
# Statements of the check path, built once: building one cost a check more
# than running it.
_FRAMES = (
    select(
        _HASHES.c.item_id, _HASHES.c.signal, _HASHES.c.value, _HASHES.c.frame_at, _HASHES.c.variant
    )
    .where(
        _HASHES.c.item_id.in_(bindparam("ids", expanding=True)),
        _HASHES.c.signal.in_([Signal.PDQ.value, Signal.PHASH.value]),
    )
    .order_by(_HASHES.c.item_id, _HASHES.c.id)
)
_TIMED_FRAMES = _FRAMES.where(_HASHES.c.frame_at.is_not(None))
# An inline hash (an imported item's one hash) has no keyframe time.
_INLINE = select(_ITEMS.c.id, _ITEMS.c.hash_signal, _ITEMS.c.hash_value).where(
    _ITEMS.c.id.in_(bindparam("ids", expanding=True)),
    _ITEMS.c.hash_signal.in_([Signal.PDQ.value, Signal.PHASH.value]),
)


def item_frames(
    session: Session, item_ids: Sequence[int], *, timed_only: bool = False
) -> dict[int, ItemFrames]:
    """Each item's PDQ and pHash hashes grouped by keyframe (see
    :func:`matching.clip_frames.item_frames_of`); ``timed_only`` skips the hashes of
    still items (and imported ones), which have no keyframe times."""
    if not item_ids:
        return {}
    rows = session.execute(_TIMED_FRAMES if timed_only else _FRAMES, {"ids": list(item_ids)})
    grouped: dict[int, list[tuple[str, bytes, float | None, str]]] = defaultdict(list)
    for item_id, signal, value, at, variant in rows:
        grouped[item_id].append((signal, value, at, variant))
    if not timed_only:
        for item_id, hash_signal, hash_value in session.execute(_INLINE, {"ids": list(item_ids)}):
            if hash_signal is not None and hash_value is not None:  # as the query says
                grouped[item_id].append((hash_signal, hash_value, None, Variant.ORIGINAL))
    return {item_id: item_frames_of(entries) for item_id, entries in grouped.items()}


ItemHashes = dict[int, list[tuple[str, bytes]]]
"""(signal, value) of each hash, by item id."""


def hashes_of(session: Session, item_ids: Iterable[int]) -> ItemHashes:
    """(signal, value) of every hash of these items, active or not: their
    ``item_hashes`` rows and their inline hashes."""
    ids = sorted(set(item_ids))
    found: ItemHashes = defaultdict(list)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = session.execute(
            select(ItemHash.item_id, ItemHash.signal, ItemHash.value).where(
                ItemHash.item_id.in_(chunk)
            )
        )
        for item_id, signal, value in rows:
            found[item_id].append((signal, value))
        inline = session.execute(
            select(Item.id, Item.hash_signal, Item.hash_value).where(
                Item.id.in_(chunk), Item.hash_value.is_not(None)
            )
        )
        for item_id, hash_signal, hash_value in inline:
            if hash_signal is not None and hash_value is not None:  # as the query says
                found[item_id].append((hash_signal, hash_value))
    return found


def inline_range(
    session: Session, first: int, last: int, chunk: int
) -> Iterator[dict[str, list[tuple[bytes, int]]]]:
    """(value, item id) by signal of the inline hashes of the active items with
    ids from ``first`` to ``last``, ``chunk`` ids at a time.

    On PostgreSQL ids from a sequence need not be contiguous, so the range may
    hold other items too: only active items count.
    """
    for start in range(first, last + 1, chunk):
        end = min(last, start + chunk - 1)
        rows = session.execute(
            # A primary-key range scan; the active flag is read, not filtered
            # on, so the plan cannot turn to ix_items_active instead.
            select(Item.id, Item.hash_signal, Item.hash_value, Item.active).where(
                Item.id >= start, Item.id <= end, Item.hash_value.is_not(None)
            )
        )
        found: dict[str, list[tuple[bytes, int]]] = defaultdict(list)
        for item_id, signal, value, active in rows:
            if active and signal is not None and value is not None:
                found[signal].append((value, item_id))
        yield found


def active_hashes(session: Session) -> Iterator[tuple[str, bytes, int]]:
    """(signal, value, item id) of every hash of every active item: the
    ``item_hashes`` rows in insertion order, then the inline hashes in item order."""
    registered = session.execute(
        select(ItemHash.signal, ItemHash.value, ItemHash.item_id)
        .join(Item, Item.id == ItemHash.item_id)
        .where(Item.active.is_(True))
        .order_by(ItemHash.id)
        .execution_options(yield_per=50_000)
    )
    for signal, value, item_id in registered:
        yield signal, value, item_id
    # The active flag is read rather than filtered on, so no plan can swap the
    # table scan for ix_items_active.
    inline = session.execute(
        select(Item.hash_signal, Item.hash_value, Item.id, Item.active)
        .where(Item.hash_value.is_not(None))
        .order_by(Item.id)
        .execution_options(yield_per=50_000)
    )
    for hash_signal, hash_value, item_id, active in inline:
        if active and hash_signal is not None and hash_value is not None:
            yield hash_signal, hash_value, item_id


def load_hashes(session: Session, index: HashIndex) -> int:
    """Fill the index with every hash of every active item; returns the hashes
    loaded. They are gathered into one array per signal and the index built
    once, rather than added in batches that would each be merged."""
    values: dict[str, bytearray] = defaultdict(bytearray)
    keys: dict[str, array[int]] = defaultdict(lambda: array("q"))
    widths: dict[str, int] = {}
    count = 0
    for signal, value, item_id in active_hashes(session):
        if widths.setdefault(signal, len(value)) != len(value):
            raise ValueError(f"{signal} hashes of different lengths in the database")
        values[signal] += value
        keys[signal].append(item_id)
        count += 1
    for signal in index.signals:
        width = widths.get(signal, 1)
        codes = np.frombuffer(bytes(values[signal]), np.uint8).reshape(-1, width)
        index.reset(signal, codes, np.frombuffer(keys[signal], np.int64))
    return count


def any_layout_only_item(session: Session) -> bool:
    """Whether an active item holds the bands of its canvas without local
    features to be found by (one registered before the local tier existed, or
    while it was off)."""
    has_features = exists().where(_FEATURES.c.item_id == _HASHES.c.item_id)
    active = exists().where(_ITEMS.c.id == _HASHES.c.item_id, _ITEMS.c.active.is_(True))
    layout_only = (
        select(_HASHES.c.item_id)
        .where(_HASHES.c.variant.in_(list(BAND_VARIANTS)), active, ~has_features)
        .limit(1)
    )
    return session.execute(layout_only).first() is not None


ExportedHashes = Select[str, bytes, str, str | None, int | None, str | None, str, datetime]
"""An exported hash and its item's fields: signal, value, category, case, quality,
note, media type, registered at."""


def exported_hashes(category: Category | None, signal: Signal | None) -> ExportedHashes:
    """Every active hash (registered or inline) with its item's fields, ordered
    by signal, value and the id of the item holding it (so equal hashes come
    together). Band hashes are left out: they match only in pairs, and a
    partner would take each for a whole picture."""
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
