"""``GET /events`` and ``GET /audit``: the match log and the audit trail, paged."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.auth import Scope
from app.deps import ExportAllKey, ExportKey, SessionDep
from app.errors import responses
from app.services.events import Window, audit_events, match_events
from app.text import PlainText
from matching import Decision

router = APIRouter(tags=["transparency"])

From = Annotated[date | None, Query(alias="from", description="First UTC day (YYYY-MM-DD)")]
To = Annotated[date | None, Query(alias="to", description="Last UTC day, included")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/events", responses=responses(401, 403, 422))
def list_events(
    session: SessionDep,
    principal: ExportKey,
    start: From = None,
    end: To = None,
    item_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    platform: Annotated[str | None, Query(max_length=100), PlainText] = None,
    decision: Decision | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    """Match events, newest first; ``next_cursor`` fetches the next page (null at
    the end). A platform's key sees its own platform's events only, with item
    ids and categories but not the items' case references, which are the
    regulator's and trust-and-safety's; ``export_all`` keys see them."""
    every_platform = principal.allows(Scope.EXPORT_ALL)
    if not every_platform:
        platform = principal.platform
    events, next_cursor = match_events(
        session,
        Window(start, end, cursor, limit),
        platform=platform,
        item_id=item_id,
        decision=None if decision is None else decision.value,
        case_refs=every_platform,
    )
    return {"events": events, "next_cursor": next_cursor}


@router.get("/audit", responses=responses(401, 403, 422))
def list_audit(
    session: SessionDep,
    _principal: ExportAllKey,
    start: From = None,
    end: To = None,
    item_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    action: Annotated[str | None, Query(max_length=30), PlainText] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    """Registrations, deactivations and key changes, newest first: who, when, why."""
    events, next_cursor = audit_events(
        session, Window(start, end, cursor, limit), item_id=item_id, action=action
    )
    return {"events": events, "next_cursor": next_cursor}
