"""``GET`` and ``DELETE /items/{id}``: look up and deactivate registered items."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.deps import RegisterKey, SessionDep, StateDep
from app.errors import responses
from app.schemas import ItemOut
from app.services import items
from app.services.items import ItemRecord
from app.text import PlainText
from matching import Category

router = APIRouter(tags=["items"])

ItemId = Annotated[int, Path(ge=1, le=2**62)]


def _out(record: ItemRecord) -> ItemOut:
    item = record.item
    return ItemOut(
        item_id=item.id,
        media_type=item.media_type,
        category=Category(item.category),
        case_ref=item.case_ref,
        note=item.note,
        quality=item.quality,
        duration_s=item.duration,
        keyframes=item.keyframes,
        hashes=record.hashes,
        active=item.active,
        created_at=item.created_at,
        created_by=item.created_by,
        deactivated_at=item.deactivated_at,
        deactivated_by=item.deactivated_by,
        deactivation_reason=item.deactivation_reason,
    )


@router.get("/items/{item_id}", response_model=ItemOut, responses=responses(401, 403, 404, 422))
def read_item(item_id: ItemId, session: SessionDep, _principal: RegisterKey) -> ItemOut:
    """An item's metadata and hashes, active or not."""
    return _out(items.read_item(session, item_id))


@router.delete("/items/{item_id}", response_model=ItemOut, responses=responses(401, 403, 404, 422))
def delete_item(
    item_id: ItemId,
    state: StateDep,
    session: SessionDep,
    principal: RegisterKey,
    reason: Annotated[
        str,
        Query(
            min_length=1, max_length=2000, description="Why: false positive, withdrawn case, ..."
        ),
        PlainText,
    ],
) -> ItemOut:
    """Deactivate an item: it stops matching at once and stays in the audit trail."""
    return _out(
        items.deactivate_item(
            session, state.index, item_id, actor=principal.name, reason=reason, now=state.clock()
        )
    )
