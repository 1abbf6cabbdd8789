"""Items' local features: how they are stored, and loading them into the index.

A row of ``item_features`` holds one still's (or one keyframe's) keypoint
positions, ORB descriptors and cell signatures (:mod:`hashing.features`); the
local index (:mod:`index.local`) holds the same in memory, keyed by item id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Item, ItemFeatures
from hashing.cells import CELL_GRID, Cells
from hashing.clip import ClipHashes
from hashing.features import LocalFeatures
from hashing.pipeline import ImageHashes
from index import HashIndex
from index.entries import Entry

POSITION_SCALE = 16
"""Keypoint positions are stored in sixteenths of a pixel (uint16: frames up to 4095 px)."""
_CELLS = CELL_GRID * CELL_GRID


@dataclass(frozen=True, slots=True)
class NewFeatures:
    """Local features to store with a new item: a still's, or a keyframe's at ``at``."""

    features: LocalFeatures
    cells: Cells
    at: float | None = None


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


def feature_row(item_id: int, new: NewFeatures) -> ItemFeatures:
    f = new.features
    positions = np.clip(np.rint(f.xy * POSITION_SCALE), 0, 65535).astype("<u2")
    return ItemFeatures(
        item_id=item_id,
        frame_at=new.at,
        width=f.width,
        height=f.height,
        keypoints=positions.tobytes(),
        descriptors=np.ascontiguousarray(f.descriptors, np.uint8).tobytes(),
        cells=new.cells.signatures.astype("<u8").tobytes() + new.cells.flat.tobytes(),
    )


def entry_of(
    width: int,
    height: int,
    keypoints: bytes,
    descriptors: bytes,
    cells: bytes,
    at: float | None = None,
) -> Entry:
    """The index's entry for a stored row."""
    xy = np.frombuffer(keypoints, "<u2").reshape(-1, 2).astype(np.float32)
    xy *= np.float32(1 / POSITION_SCALE)
    signatures = np.frombuffer(cells[: 8 * _CELLS], "<u8").astype(np.uint64)
    flat = np.frombuffer(cells[8 * _CELLS :], np.uint8).copy()
    d = np.frombuffer(descriptors, np.uint8).reshape(-1, 32).copy()
    return Entry(xy, d, width, height, signatures, flat, at)


def entry_from(new: NewFeatures) -> Entry:
    """The index's entry for features just computed (as they will read back)."""
    row = feature_row(0, new)
    return entry_of(row.width, row.height, row.keypoints, row.descriptors, row.cells, new.at)


_COLUMNS = (
    ItemFeatures.item_id,
    ItemFeatures.width,
    ItemFeatures.height,
    ItemFeatures.keypoints,
    ItemFeatures.descriptors,
    ItemFeatures.cells,
    ItemFeatures.frame_at,
)


def load_local(session: Session, index: HashIndex) -> int:
    """Every active item's features into the index's local tier; returns the
    entries loaded (none when the index has no local tier)."""
    if index.local is None:
        return 0
    rows = session.execute(
        select(*_COLUMNS)
        .join(Item, Item.id == ItemFeatures.item_id)
        .where(Item.active.is_(True))
        .order_by(ItemFeatures.id)
        .execution_options(yield_per=10_000)
    )
    count = 0
    for item_id, width, height, keypoints, descriptors, cells, at in rows:
        index.local.add(item_id, entry_of(width, height, keypoints, descriptors, cells, at))
        count += 1
    return count


def item_entries(session: Session, item_ids: Iterable[int]) -> dict[int, list[Entry]]:
    """The stored entries of these items (for the change feed)."""
    ids = sorted(set(item_ids))
    found: dict[int, list[Entry]] = defaultdict(list)
    for start in range(0, len(ids), 5_000):  # SQLite's bound-parameter limit
        chunk: Sequence[int] = ids[start : start + 5_000]
        rows = session.execute(
            select(*_COLUMNS).where(ItemFeatures.item_id.in_(chunk)).order_by(ItemFeatures.id)
        )
        for item_id, width, height, keypoints, descriptors, cells, at in rows:
            found[item_id].append(entry_of(width, height, keypoints, descriptors, cells, at))
    return found
