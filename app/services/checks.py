"""Checking an upload against the index, and logging what was decided."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from app.auth import Principal
from app.models import MatchEvent
from app.observability import MATCHES
from app.schemas import Category, Decision, Match
from app.services.clips import ClipQuery
from app.services.items import active_item_facts, candidates_for, with_still_coverage
from app.services.matching import Query, demote_low_quality_items, overall, search
from app.services.stats import count_check
from app.settings import Settings
from index import HashIndex

# A Core insert built once: the ORM's unit of work cost more than the insert.
_INSERT_EVENT = insert(cast(Table, MatchEvent.__table__))


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    decision: Decision
    matches: list[Match]


def check(
    session: Session,
    index: HashIndex,
    query: Query | ClipQuery,
    settings: Settings,
    *,
    principal: Principal,
    upload_ref: str | None,
    at: datetime,
) -> CheckOutcome:
    """Search, decide, and log the check as made ``at`` (a match event if anything
    matched, and the quarter-hour counter always), committing once."""
    if isinstance(query, ClipQuery):
        candidates = candidates_for(session, index, query, settings)
    else:
        candidates = search(index, query, settings)
    facts = active_item_facts(session, [c.item_id for c in candidates])
    if isinstance(query, Query):
        # The items' facts say which are clips, so only those have their keyframes
        # loaded: a still matching a still costs one query fewer.
        clip_ids = [c.item_id for c in candidates if c.item_id in facts and facts[c.item_id].clip]
        candidates = with_still_coverage(session, query, candidates, clip_ids, settings)
    # An item deactivated between the index search and now no longer matches.
    candidates = [c for c in candidates if c.item_id in facts]
    candidates = demote_low_quality_items(
        candidates, {k: f.quality for k, f in facts.items()}, settings
    )[: settings.max_matches]
    decision = overall(candidates)
    matches = [
        Match(
            item_id=c.item_id,
            category=Category(facts[c.item_id].category),
            signal=c.signal,
            distance=c.distance,
            transform=c.transform.value,
            upload_share=None if c.coverage is None else c.coverage.upload_share,
            item_share=None if c.coverage is None else c.coverage.item_share,
            upload_span=None if c.coverage is None else c.coverage.upload_span,
            item_span=None if c.coverage is None else c.coverage.item_span,
        )
        for c in candidates
    ]
    if candidates:
        best = candidates[0]
        session.execute(
            _INSERT_EVENT,
            {
                "created_at": at,
                "key_id": principal.key_id,
                "platform": principal.platform,
                "upload_ref": upload_ref,
                "decision": decision.value,
                "item_id": best.item_id,
                "signal": best.signal.value,
                "distance": best.distance,
                "transform": best.transform.value,
                "match_count": len(candidates),
            },
        )
    best_category = facts[candidates[0].item_id].category if candidates else None
    best_signal = candidates[0].signal.value if candidates else None
    count_check(session, at, principal.platform, decision, best_category, best_signal)
    session.commit()
    if best_category is not None:
        MATCHES.labels(best_category, decision.value).inc()
    return CheckOutcome(decision, matches)
