"""Registering and deactivating items: database first, then the index."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import ApiError
from app.models import AuditEvent, IndexChange, Item, ItemHash, utcnow
from app.schemas import Category, Decision
from app.services.matching import Candidate, Query, search
from app.settings import Settings
from hashing.pipeline import ImageHashes
from hashing.transforms import Transform
from hashing.types import HashValue
from index import HashIndex


@dataclass(frozen=True, slots=True)
class NewHash:
    value: HashValue
    variant: str = "original"
    quality: int | None = None


def media_hashes(hashes: ImageHashes) -> list[NewHash]:
    """What registering media stores: the file digest, the original orientation of
    every view's PDQ and pHash, and the PDQ of each crop and rotation variant."""
    stored = [NewHash(hashes.sha256, variant="file")]
    for view in hashes.views:
        stored.append(NewHash(view.pdq[Transform.ORIGINAL], view.name, view.quality))
        stored.append(NewHash(view.phash[Transform.ORIGINAL], view.name))
    stored += [NewHash(value, name, hashes.quality) for name, value in hashes.variants]
    top, bottom = hashes.halves
    stored += [
        NewHash(top, "half_top", hashes.quality),
        NewHash(bottom, "half_bottom", hashes.quality),
    ]
    return stored


def find_duplicate(
    session: Session, index: HashIndex, query: Query, settings: Settings
) -> tuple[Item, Candidate] | None:
    """An active item the query would be blocked by, if any."""
    for candidate in search(index, query, settings):
        if candidate.decision is not Decision.BLOCK:
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
) -> Item:
    """Insert an item with its hashes and an audit row, commit, then index it.

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
        active=True,
        created_at=utcnow(),
        created_by=actor,
    )
    unique = {(h.value.signal, h.value.value): h for h in hashes}
    item.hashes = [
        ItemHash(
            signal=h.value.signal.value, value=h.value.value, variant=h.variant, quality=h.quality
        )
        for h in unique.values()
    ]
    session.add(item)
    session.flush()
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
                    "media_type": media_type,
                }
            ),
        )
    )
    session.commit()
    for row in item.hashes:
        index.add(row.signal, row.value, item.id)
    return item


def deactivate_item(
    session: Session, index: HashIndex, item_id: int, *, actor: str, reason: str
) -> Item:
    """Stop an item matching at once; it stays in the database and the audit trail."""
    item = session.get(Item, item_id)
    if item is None:
        raise ApiError(404, "item_not_found", f"no item {item_id}")
    if not item.active:
        return item
    item.active = False
    item.deactivated_at = utcnow()
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
    for row in item.hashes:
        index.remove(row.signal, row.value, item.id)
    return item


def load_index(session: Session, index: HashIndex) -> int:
    """Fill the index with every hash of every active item; returns the rows loaded."""
    rows = session.execute(
        select(ItemHash.signal, ItemHash.value, ItemHash.item_id)
        .join(Item, Item.id == ItemHash.item_id)
        .where(Item.active.is_(True))
        .order_by(ItemHash.id)
        .execution_options(yield_per=50_000)
    )
    batches: dict[str, list[tuple[bytes, int]]] = defaultdict(list)
    count = 0
    for signal, value, item_id in rows:
        batches[signal].append((value, item_id))
        count += 1
        if len(batches[signal]) >= 50_000:
            index.add_many(signal, batches.pop(signal))
    for signal, entries in batches.items():
        index.add_many(signal, entries)
    return count


def hashes_out(item: Item) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for row in item.hashes:
        out[row.signal].append(row.value.hex())
    return dict(out)


def get_item(session: Session, item_id: int) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise ApiError(404, "item_not_found", f"no item {item_id}")
    return item


@dataclass(frozen=True, slots=True)
class ItemFacts:
    category: str
    quality: int | None


def active_item_facts(session: Session, item_ids: Sequence[int]) -> dict[int, ItemFacts]:
    """Category and quality of those of ``item_ids`` that are still active."""
    if not item_ids:
        return {}
    rows = session.execute(
        select(Item.id, Item.category, Item.quality).where(
            Item.id.in_(item_ids), Item.active.is_(True)
        )
    )
    return {item_id: ItemFacts(category, quality) for item_id, category, quality in rows}
