"""Items: what the check path reads of them, and writing one with its hashes,
features, change-feed row and audit row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from app.failures import DomainError, Failure
from app.models import AuditEvent, IndexChange, Item
from app.repository.features import NewFeatures, entry_from, feature_row
from app.repository.hashes import NewHash, hash_rows, item_frames, stored_hashes
from index import HashIndex
from matching import Category, ItemFacts
from matching.clip_frames import ItemFrames

_ITEMS = cast(Table, Item.__table__)
# Built once: building the statement cost a check more than running it.
_ACTIVE_FACTS = select(
    _ITEMS.c.id, _ITEMS.c.category, _ITEMS.c.quality, _ITEMS.c.keyframes.is_not(None)
).where(_ITEMS.c.id.in_(bindparam("ids", expanding=True)), _ITEMS.c.active.is_(True))


class ItemStore:
    """The registered items as judging reads them (:class:`matching.judge.Items`),
    through one session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def facts(self, item_ids: Sequence[int]) -> dict[int, ItemFacts]:
        """Category, quality and kind of those of ``item_ids`` that are still active."""
        if not item_ids:
            return {}
        rows = self._session.execute(_ACTIVE_FACTS, {"ids": list(item_ids)})
        return {
            item_id: ItemFacts(category, quality, bool(clip))
            for item_id, category, quality, clip in rows
        }

    def frames(self, item_ids: Sequence[int], *, timed_only: bool = False) -> dict[int, ItemFrames]:
        """Each item's PDQ and pHash hashes grouped by keyframe."""
        return item_frames(self._session, item_ids, timed_only=timed_only)


def get_item(session: Session, item_id: int) -> Item:
    """The item ``item_id``; ``item_not_found`` if there is none."""
    item = session.get(Item, item_id)
    if item is None:
        raise DomainError(Failure.NOT_FOUND, "item_not_found", f"no item {item_id}")
    return item


def active_item(session: Session, item_id: int) -> Item | None:
    item = session.get(Item, item_id)
    return item if item is not None and item.active else None


def add_item(
    session: Session,
    *,
    actor: str,
    media_type: str,
    category: Category,
    case_ref: str | None,
    note: str | None,
    quality: int | None,
    hashes: Sequence[NewHash],
    features: Sequence[NewFeatures],
    duration: float | None,
    keyframes: int | None,
    now: datetime,
) -> Item:
    """Add an item registered ``now`` with its hashes, local features, change-feed
    row and audit row to the session (flushed, not committed)."""
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
    item.hashes = hash_rows(hashes)
    session.add(item)
    session.flush()
    session.add_all([feature_row(item.id, f) for f in features])
    session.add(IndexChange(item_id=item.id, op="add", created_at=item.created_at))
    detail = {
        "category": item.category,
        "case_ref": case_ref,
        "hashes": len(item.hashes),
        "local_features": len(features),
        "media_type": media_type,
    }
    session.add(
        AuditEvent(
            created_at=now,
            actor=actor,
            action="register",
            item_id=item.id,
            detail=json.dumps(detail),
        )
    )
    return item


def mark_inactive(session: Session, item: Item, *, actor: str, reason: str, now: datetime) -> None:
    """Record in the session that ``item`` stopped matching ``now``: its flag, a
    change-feed row and an audit row (not committed)."""
    item.active = False
    item.deactivated_at = now
    item.deactivated_by = actor
    item.deactivation_reason = reason
    session.add(IndexChange(item_id=item.id, op="remove", created_at=now))
    session.add(
        AuditEvent(
            created_at=now,
            actor=actor,
            action="deactivate",
            item_id=item.id,
            detail=json.dumps({"reason": reason}),
        )
    )


def index_item(index: HashIndex, item: Item, features: Sequence[NewFeatures]) -> None:
    """Put a committed item's hashes and features in this process's index."""
    for row in item.hashes:
        index.add(row.signal, row.value, item.id)
    if index.local is not None and features:
        # A replace: this process's change feed may have replayed the item already.
        index.local.replace(item.id, [entry_from(f) for f in features])


def unindex_item(index: HashIndex, item: Item) -> None:
    """Take a deactivated item's hashes and features out of this process's index."""
    for row in stored_hashes(item):
        index.remove(row.signal, row.value, item.id)
    if index.local is not None:
        index.local.remove(item.id)
