"""The log of checks: a match event for each check that matched, and the
quarter-hour counters every check adds to.

Every check adds one to a counter row of its quarter-hour (UTC), platform,
decision, and the category and signal of its best match (empty for an allow),
in the same transaction as its match event (:mod:`app.services.stats` reads
them back).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from app.auth import Principal
from app.models import CheckCount, MatchEvent
from matching import Decision, Verdict

# A Core insert built once: the ORM's unit of work cost more than the insert.
_INSERT_EVENT = insert(cast(Table, MatchEvent.__table__))


def log_check(
    session: Session,
    verdict: Verdict,
    best_category: str | None,
    *,
    principal: Principal,
    upload_ref: str | None,
    at: datetime,
) -> None:
    """Record a check made ``at`` (not committed): its match event if anything
    matched (``best_category`` is the best match's), and its counter."""
    best = verdict.candidates[0] if verdict.candidates else None
    if best is not None:
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
    signal = best.signal.value if best is not None else None
    count_check(session, at, principal.platform, verdict.decision, best_category, signal)


def bucket_of(at: datetime) -> datetime:
    """The start of the UTC quarter-hour ``at`` falls in."""
    at = at.astimezone(UTC)
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


_COUNT_KEY = ("bucket", "platform", "decision", "category", "signal")


def _upsert_count(dialect: str) -> Executable:
    """Add one to a counter row, creating it at 1: an upsert, exact under
    concurrent checks on both databases. Built once per dialect, since building
    the statement cost more than running it."""
    table = cast(Table, CheckCount.__table__)
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(table).values({name: bindparam(name) for name in (*_COUNT_KEY, "count")})
    return stmt.on_conflict_do_update(
        index_elements=list(_COUNT_KEY), set_={"count": table.c.count + 1}
    )


_UPSERT_COUNT = {dialect: _upsert_count(dialect) for dialect in ("postgresql", "sqlite")}


def count_check(
    session: Session,
    at: datetime,
    platform: str,
    decision: Decision,
    category: str | None,
    signal: str | None,
) -> None:
    """Add one to the counter of this check's quarter-hour and kind."""
    session.execute(
        _UPSERT_COUNT[session.get_bind().dialect.name],
        {
            "bucket": bucket_of(at),
            "platform": platform,
            "decision": decision.value,
            "category": category or "",
            "signal": signal or "",
            "count": 1,
        },
    )
