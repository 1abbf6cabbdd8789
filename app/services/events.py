"""Paging through the match log and the audit trail, newest first.

Pages are cut by id (ids only grow), so a page never repeats or skips a row
when new rows arrive while an investigator reads; the cursor is the last id
seen, opaque to the client.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.failures import DomainError, Failure
from app.models import AuditEvent, Item, MatchEvent
from app.services.stats import day_start


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


MAX_ID = 2**63 - 1
"""The largest id either database's BIGINT holds."""


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "id" or not number.isdigit():
            raise ValueError(text)
        last_id = int(number)
        if not 1 <= last_id <= MAX_ID:
            raise ValueError(text)
        return last_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise DomainError(
            Failure.INVALID, "invalid_cursor", "cursor is not one this API gave out"
        ) from None


@dataclass(frozen=True, slots=True)
class Window:
    """Filters shared by both logs: UTC days (both included) and a page."""

    start: date | None
    end: date | None
    cursor: str | None
    limit: int

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        if self.start and self.end and self.start > self.end:
            raise DomainError(
                Failure.INVALID, "invalid_period", f"from ({self.start}) is after to ({self.end})"
            )
        low = day_start(self.start) if self.start else None
        high = day_start(self.end, days_after=1) if self.end else None
        return low, high


def _page(
    session: Session, query: Any, id_column: Any, created: Any, window: Window
) -> tuple[list[Any], str | None]:
    low, high = window.bounds()
    if low is not None:
        query = query.where(created >= low)
    if high is not None:
        query = query.where(created < high)
    if window.cursor is not None:
        query = query.where(id_column < decode_cursor(window.cursor))
    rows = list(session.execute(query.order_by(id_column.desc()).limit(window.limit + 1)))
    more = len(rows) > window.limit
    rows = rows[: window.limit]
    return rows, encode_cursor(rows[-1][0].id) if more and rows else None


def match_events(
    session: Session,
    window: Window,
    *,
    platform: str | None,
    item_id: int | None,
    decision: str | None,
    case_refs: bool,
) -> tuple[list[dict[str, Any]], str | None]:
    """Match events, newest first; the items' case references only with
    ``case_refs`` (a regulator's or the operator's view)."""
    query = select(MatchEvent, Item.category, Item.case_ref).join(
        Item, Item.id == MatchEvent.item_id
    )
    if platform is not None:
        query = query.where(MatchEvent.platform == platform)
    if item_id is not None:
        query = query.where(MatchEvent.item_id == item_id)
    if decision is not None:
        query = query.where(MatchEvent.decision == decision)
    rows, cursor = _page(session, query, MatchEvent.id, MatchEvent.created_at, window)
    return [
        {
            "event_id": e.id,
            "created_at": e.created_at.isoformat(),
            "platform": e.platform,
            "upload_ref": e.upload_ref,
            "decision": e.decision,
            "item_id": e.item_id,
            "category": category,
            **({"case_ref": case_ref} if case_refs else {}),
            "signal": e.signal,
            "distance": e.distance,
            "transform": e.transform,
            "match_count": e.match_count,
        }
        for e, category, case_ref in rows
    ], cursor


def audit_events(
    session: Session, window: Window, *, item_id: int | None, action: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = select(AuditEvent)
    if item_id is not None:
        query = query.where(AuditEvent.item_id == item_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    rows, cursor = _page(session, query, AuditEvent.id, AuditEvent.created_at, window)
    return [
        {
            "event_id": e.id,
            "created_at": e.created_at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "item_id": e.item_id,
            "detail": json.loads(e.detail) if e.detail else None,
        }
        for (e,) in rows
    ], cursor
