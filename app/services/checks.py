"""Checking an upload against the index, and logging what was decided."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from app.auth import Principal
from app.models import MatchEvent
from app.observability import MATCHES
from app.services.items import judge
from app.services.stats import count_check
from index import HashIndex
from matching import MatchPolicy, Verdict
from matching.clip_frames import ClipQuery
from matching.still import Query

# A Core insert built once: the ORM's unit of work cost more than the insert.
_INSERT_EVENT = insert(cast(Table, MatchEvent.__table__))


def check(
    session: Session,
    index: HashIndex,
    query: Query | ClipQuery,
    policy: MatchPolicy,
    *,
    principal: Principal,
    upload_ref: str | None,
    at: datetime,
) -> tuple[Verdict, dict[int, str]]:
    """Search, decide, and log the check as made ``at`` (a match event if anything
    matched, and the quarter-hour counter always), committing once. Returns the
    verdict and the category of each item it names."""
    verdict, facts = judge(session, index, query, policy)
    if verdict.candidates:
        best = verdict.candidates[0]
        session.execute(
            _INSERT_EVENT,
            {
                "created_at": at,
                "key_id": principal.key_id,
                "platform": principal.platform,
                "upload_ref": upload_ref,
                "decision": verdict.decision.value,
                "item_id": best.item_id,
                "signal": best.signal.value,
                "distance": best.distance,
                "transform": best.transform.value,
                "match_count": len(verdict.candidates),
            },
        )
    best_category = facts[verdict.candidates[0].item_id].category if verdict.candidates else None
    best_signal = verdict.candidates[0].signal.value if verdict.candidates else None
    count_check(session, at, principal.platform, verdict.decision, best_category, best_signal)
    session.commit()
    if best_category is not None:
        MATCHES.labels(best_category, verdict.decision.value).inc()
    return verdict, {c.item_id: facts[c.item_id].category for c in verdict.candidates}
