"""Registering and deactivating items: database first, then the index."""

from __future__ import annotations

import json
from array import array
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import cast

import numpy as np
from sqlalchemy import Table, bindparam, exists, select
from sqlalchemy.orm import Session

from app.failures import DomainError, Failure
from app.models import AuditEvent, IndexChange, Item, ItemFeatures, ItemHash
from app.observability import REGISTRATIONS
from app.services.local_features import NewFeatures, entry_from, feature_row, load_local
from app.settings import Settings
from hashing.clip import ClipHashes
from hashing.pipeline import EMBEDDED_VIEW, ImageHashes
from hashing.transforms import Transform
from hashing.types import HashValue, Signal
from hashing.vpdq import VpdqFrame, format_vpdq
from index import HashIndex
from matching import (
    Candidate,
    Category,
    ItemFacts,
    MatchPolicy,
    Verdict,
    decide,
    holds,
)
from matching.clip import search_clip
from matching.clip_compare import still_coverage
from matching.clip_frames import BAND_VARIANTS, ClipQuery, ItemFrames, item_frames_of
from matching.still import Query, search_still

INLINE_VARIANT = "original"
"""Variant of an item's inline hash (a bulk-imported entry is the picture itself)."""


@dataclass(frozen=True, slots=True)
class StoredHash:
    """One hash of an item, from ``item_hashes`` or inline on its items row."""

    signal: str
    value: bytes
    variant: str = INLINE_VARIANT
    quality: int | None = None
    frame_at: float | None = None


def stored_hashes(item: Item) -> list[StoredHash]:
    """Every hash of ``item``: its ``item_hashes`` rows and its inline hash, if any.

    A bulk-imported item keeps its one hash on its own row (``hash_signal``,
    ``hash_value``; quality the item's) rather than in ``item_hashes``.
    """
    stored = [StoredHash(h.signal, h.value, h.variant, h.quality, h.frame_at) for h in item.hashes]
    if item.hash_signal is not None and item.hash_value is not None:
        stored.append(StoredHash(item.hash_signal, item.hash_value, quality=item.quality))
    return stored


@dataclass(frozen=True, slots=True)
class NewHash:
    value: HashValue
    variant: str = "original"
    quality: int | None = None
    at: float | None = None
    """Seconds into the clip, for a keyframe's hash."""


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
    stored = [NewHash(hashes.sha256, variant="file")]
    for view in hashes.views:
        if view.name == EMBEDDED_VIEW:
            continue
        stored.append(NewHash(view.pdq[Transform.ORIGINAL], view.name, view.quality))
        stored.append(NewHash(view.phash[Transform.ORIGINAL], view.name))
    stored += [NewHash(value, name, hashes.quality) for name, value in hashes.variants]
    if hashes.halves is not None and not media_features(hashes):
        top, bottom = hashes.halves
        stored += [
            NewHash(top, "half_top", hashes.quality),
            NewHash(bottom, "half_bottom", hashes.quality),
        ]
    return [h for h in stored if h.value.informative]


def media_features(hashes: ImageHashes) -> list[NewFeatures]:
    """What registering a still stores for the local tier: its keypoints and cells
    (none when it has no keypoints, or none were made)."""
    if hashes.local is None or hashes.cells is None or len(hashes.local) == 0:
        return []
    return [NewFeatures(hashes.local, hashes.cells)]


def clip_features(clip: ClipHashes) -> list[NewFeatures]:
    """What registering a clip stores for the local tier: the keypoints and cells
    of the keyframes that were given them, with their timestamps."""
    return [
        NewFeatures(k.local, k.cells, k.at)
        for k in clip.keyframes
        if k.local is not None and k.cells is not None and len(k.local)
    ]


def clip_hashes(clip: ClipHashes) -> list[NewHash]:
    """What registering a clip stores: the file digest and, for every keyframe,
    the PDQ of each view, the pHash and the bands of the primary one, with its
    timestamp."""
    stored = [NewHash(clip.sha256, variant="file")]
    for keyframe in clip.keyframes:
        for view in keyframe.views:
            stored.append(
                NewHash(view.pdq[Transform.ORIGINAL], view.name, view.quality, keyframe.at)
            )
        primary = keyframe.views[0]
        stored.append(NewHash(primary.phash[Transform.ORIGINAL], primary.name, None, keyframe.at))
        if primary.halves is not None:
            top, bottom = primary.halves
            stored.append(NewHash(top, "half_top", primary.quality, keyframe.at))
            stored.append(NewHash(bottom, "half_bottom", primary.quality, keyframe.at))
    return [h for h in stored if h.value.informative]


def vpdq_hashes(frames: Sequence[VpdqFrame], settings: Settings) -> list[NewHash]:
    """The frames of a vPDQ hash worth storing: quality at or above the floor, and
    not within the dedupe distance of the previous stored frame (as for media)."""
    stored: list[NewHash] = []
    previous: HashValue | None = None
    for f in frames:
        if f.quality < settings.pdq_min_quality or not f.pdq.informative:
            continue
        if previous is not None and f.pdq.distance(previous) < settings.video_dedupe_distance:
            continue
        stored.append(NewHash(f.pdq, "vpdq", f.quality, f.at))
        previous = f.pdq
    return stored


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
_ACTIVE_FACTS = select(
    _ITEMS.c.id, _ITEMS.c.category, _ITEMS.c.quality, _ITEMS.c.keyframes.is_not(None)
).where(_ITEMS.c.id.in_(bindparam("ids", expanding=True)), _ITEMS.c.active.is_(True))


def needs_layouts(session: Session, settings: Settings) -> bool:
    """Whether a still's layout views (:func:`hashing.pipeline.hash_pixels`) can
    match anything: while the local tier is off, off for a category, or an
    active item registered without local features (before the tier existed)
    still holds the bands of its canvas. Otherwise the local tier finds every
    picture under a caption or inside a canvas, and the views cost a check a
    millisecond and a half for nothing."""
    if not settings.local_features or settings.local_features_off:
        return True
    has_features = exists().where(_FEATURES.c.item_id == _HASHES.c.item_id)
    active = exists().where(_ITEMS.c.id == _HASHES.c.item_id, _ITEMS.c.active.is_(True))
    layout_only = (
        select(_HASHES.c.item_id)
        .where(_HASHES.c.variant.in_(list(BAND_VARIANTS)), active, ~has_features)
        .limit(1)
    )
    return session.execute(layout_only).first() is not None


def item_frames(
    session: Session, item_ids: Sequence[int], *, timed_only: bool = False
) -> dict[int, ItemFrames]:
    """Each item's PDQ and pHash hashes grouped by keyframe (see
    :func:`matching.clip.item_frames_of`); ``timed_only`` skips the hashes of
    still items (and imported ones), which have no keyframe times."""
    if not item_ids:
        return {}
    rows = session.execute(_TIMED_FRAMES if timed_only else _FRAMES, {"ids": list(item_ids)})
    grouped: dict[int, list[tuple[str, bytes, float | None, str]]] = defaultdict(list)
    for item_id, signal, value, at, variant in rows:
        grouped[item_id].append((signal, value, at, variant))
    if timed_only:
        return {item_id: item_frames_of(entries) for item_id, entries in grouped.items()}
    for item_id, hash_signal, hash_value in session.execute(_INLINE, {"ids": list(item_ids)}):
        if hash_signal is not None and hash_value is not None:  # as the query says
            grouped[item_id].append((hash_signal, hash_value, None, INLINE_VARIANT))
    return {item_id: item_frames_of(entries) for item_id, entries in grouped.items()}


def judge(
    session: Session, index: HashIndex, query: Query | ClipQuery, policy: MatchPolicy
) -> tuple[Verdict, dict[int, ItemFacts]]:
    """Search the index for a still or a clip, load what the decision needs of the
    items found, and decide (:func:`matching.decide`); returns the verdict and
    the facts of the active items it names."""
    candidates: list[Candidate]
    if isinstance(query, ClipQuery):
        candidates = search_clip(index, query, lambda ids: item_frames(session, ids), policy)
        facts = active_item_facts(session, [c.item_id for c in candidates])
    else:
        candidates, facts = search_still(
            index, query, policy, lambda ids: active_item_facts(session, ids)
        )
        # The facts say which items are clips: only those have keyframes to load,
        # so a still matching a still costs no query more.
        clip_ids = [c.item_id for c in candidates if c.item_id in facts and facts[c.item_id].clip]
        candidates = with_still_coverage(session, query, candidates, clip_ids, policy)
    return decide(candidates, facts, policy), facts


def with_still_coverage(
    session: Session,
    query: Query,
    candidates: list[Candidate],
    clip_ids: Sequence[int],
    policy: MatchPolicy,
) -> list[Candidate]:
    """A still's candidates, those among ``clip_ids`` that matched a clip item's
    keyframes (a screenshot of a video) saying where in it."""
    codes = [q.value.value for q in query.hashes if q.value.signal is Signal.PDQ and not q.part]
    frames = item_frames(session, clip_ids, timed_only=True)
    for i, c in enumerate(candidates):
        if c.item_id in frames:
            coverage = still_coverage(codes, frames[c.item_id], policy)
            if coverage is not None:
                candidates[i] = replace(c, coverage=coverage)
    return candidates


def find_duplicate(
    session: Session, index: HashIndex, query: Query | ClipQuery, policy: MatchPolicy
) -> tuple[Item, Candidate] | None:
    """An active item the query would be blocked by and that already holds it: for
    a clip, most of its keyframes (registering a whole video whose excerpt is
    registered adds the rest of it), and for a match by keypoints most of the
    picture, flat pixels aside (a registered clip or photo found as an inset
    beside other pictures is only a part)."""
    # An item found in an inset is a part of the picture, never all of it: the
    # inset search could not find a duplicate, and would cost every registration.
    verdict, _ = judge(session, index, query, replace(policy, local_insets=0))
    frame = query.frame if isinstance(query, Query) else None
    for candidate in verdict.candidates:
        if not holds(candidate, policy, frame):
            continue
        item = session.get(Item, candidate.item_id)
        if item is not None and item.active:
            return item, candidate
    return None


def register_item(
    session: Session,
    index: HashIndex,
    *,
    actor: str,
    media_type: str,
    category: Category,
    case_ref: str | None,
    note: str | None,
    quality: int | None,
    hashes: Sequence[NewHash],
    features: Sequence[NewFeatures] = (),
    duration: float | None = None,
    keyframes: int | None = None,
    now: datetime,
) -> Item:
    """Insert an item with its hashes, its local features and an audit row, as
    registered ``now``, commit, then index it.

    The order is the durability rule: a crash after the commit loses nothing
    (the index is rebuilt from the database on start), and the index never
    holds an item the database does not.
    """
    item = Item(
        media_type=media_type,
        category=category.value,
        case_ref=case_ref,
        note=note,
        quality=quality,
        duration=duration,
        keyframes=keyframes,
        active=True,
        created_at=now,
        created_by=actor,
    )
    unique: dict[tuple[Signal, bytes], NewHash] = {}
    for h in hashes:  # the first keyframe showing a picture keeps it
        unique.setdefault((h.value.signal, h.value.value), h)
    item.hashes = [
        ItemHash(
            signal=h.value.signal.value,
            value=h.value.value,
            variant=h.variant,
            quality=h.quality,
            frame_at=h.at,
        )
        for h in unique.values()
    ]
    session.add(item)
    session.flush()
    session.add_all([feature_row(item.id, f) for f in features])
    session.add(IndexChange(item_id=item.id, op="add", created_at=item.created_at))
    session.add(
        AuditEvent(
            created_at=item.created_at,
            actor=actor,
            action="register",
            item_id=item.id,
            detail=json.dumps(
                {
                    "category": item.category,
                    "case_ref": case_ref,
                    "hashes": len(item.hashes),
                    "local_features": len(features),
                    "media_type": media_type,
                }
            ),
        )
    )
    session.commit()
    REGISTRATIONS.labels(item.category, media_type).inc()
    for row in item.hashes:
        index.add(row.signal, row.value, item.id)
    if index.local is not None and features:
        # A replace: this process's change feed may have replayed the item already.
        index.local.replace(item.id, [entry_from(f) for f in features])
    return item


def deactivate_item(
    session: Session, index: HashIndex, item_id: int, *, actor: str, reason: str, now: datetime
) -> Item:
    """Stop an item matching at once (as of ``now``); it stays in the database and
    the audit trail."""
    item = session.get(Item, item_id)
    if item is None:
        raise DomainError(Failure.NOT_FOUND, "item_not_found", f"no item {item_id}")
    if not item.active:
        return item
    item.active = False
    item.deactivated_at = now
    item.deactivated_by = actor
    item.deactivation_reason = reason
    session.add(IndexChange(item_id=item.id, op="remove", created_at=item.deactivated_at))
    session.add(
        AuditEvent(
            created_at=item.deactivated_at,
            actor=actor,
            action="deactivate",
            item_id=item.id,
            detail=json.dumps({"reason": reason}),
        )
    )
    session.commit()
    for row in stored_hashes(item):
        index.remove(row.signal, row.value, item.id)
    if index.local is not None:
        index.local.remove(item.id)
    return item


def load_index(session: Session, index: HashIndex) -> int:
    """Fill the index with every hash of every active item, ``item_hashes`` rows
    and inline ones, and their local features; returns the rows loaded.

    Rows are gathered into one array per signal and the index built once,
    rather than added in batches that would each be merged.
    """
    registered = session.execute(
        select(ItemHash.signal, ItemHash.value, ItemHash.item_id)
        .join(Item, Item.id == ItemHash.item_id)
        .where(Item.active.is_(True))
        .order_by(ItemHash.id)
        .execution_options(yield_per=50_000)
    )
    # Bulk-imported items, in primary-key order; the active flag is read rather
    # than filtered on, so no plan can swap the table scan for ix_items_active.
    inline = session.execute(
        select(Item.hash_signal, Item.hash_value, Item.id, Item.active)
        .where(Item.hash_value.is_not(None))
        .order_by(Item.id)
        .execution_options(yield_per=50_000)
    )
    values: dict[str, bytearray] = defaultdict(bytearray)
    keys: dict[str, array[int]] = defaultdict(lambda: array("q"))
    widths: dict[str, int] = {}
    count = 0

    def gather(signal: str, value: bytes, item_id: int) -> None:
        nonlocal count
        if widths.setdefault(signal, len(value)) != len(value):
            raise ValueError(f"{signal} hashes of different lengths in the database")
        values[signal] += value
        keys[signal].append(item_id)
        count += 1

    for signal, value, item_id in registered:
        gather(signal, value, item_id)
    for hash_signal, hash_value, item_id, active in inline:
        if active and hash_signal is not None and hash_value is not None:
            gather(hash_signal, hash_value, item_id)
    for signal in index.signals:
        width = widths.get(signal, 1)
        codes = np.frombuffer(bytes(values[signal]), np.uint8).reshape(-1, width)
        index.reset(signal, codes, np.frombuffer(keys[signal], np.int64))
    return count + load_local(session, index)


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


def get_item(session: Session, item_id: int) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise DomainError(Failure.NOT_FOUND, "item_not_found", f"no item {item_id}")
    return item


def active_item_facts(session: Session, item_ids: Sequence[int]) -> dict[int, ItemFacts]:
    """Category, quality and kind of those of ``item_ids`` that are still active."""
    if not item_ids:
        return {}
    rows = session.execute(_ACTIVE_FACTS, {"ids": list(item_ids)})
    return {
        item_id: ItemFacts(category, quality, bool(clip))
        for item_id, category, quality, clip in rows
    }
