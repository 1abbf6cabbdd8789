"""Looking up and deactivating registered items."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.models import Item
from app.repository.hashes import hashes_out
from app.repository.items import get_item, mark_inactive, unindex_item
from index import HashIndex


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """An item and its hashes as answers show them."""

    item: Item
    hashes: dict[str, list[str]]


def read_item(session: Session, item_id: int) -> ItemRecord:
    """An item's metadata and hashes, active or not; ``item_not_found`` if none."""
    item = get_item(session, item_id)
    return ItemRecord(item, hashes_out(item))


def deactivate_item(
    session: Session, index: HashIndex, item_id: int, *, actor: str, reason: str, now: datetime
) -> ItemRecord:
    """Stop an item matching at once (as of ``now``): database first, then this
    process's index (the change feed tells the others). It stays in the
    database and the audit trail; deactivating an inactive item changes nothing."""
    item = get_item(session, item_id)
    if item.active:
        mark_inactive(session, item, actor=actor, reason=reason, now=now)
        session.commit()
        unindex_item(index, item)
    return ItemRecord(item, hashes_out(item))
