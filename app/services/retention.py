"""Retention of the match log: old match events are folded into per-day item
counts, then deleted.

Check totals never depend on match events (they come from the quarter-hour
counters), and re-uploads per item read the folds beside the remaining events,
so every export of a past period keeps its numbers. Each batch folds and
deletes in one transaction: a crash mid-purge neither loses nor double-counts.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import case, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.models import Clock, ItemDayCount, MatchEvent
from app.periodic import Periodic

BATCH = 5000

log = logging.getLogger(__name__)


def retention_cutoff(days: int, today: date) -> date:
    """The first UTC day whose events a retention of ``days`` keeps."""
    return today - timedelta(days=days)


def purge_events(session: Session, before: date) -> int:
    """Fold and delete every match event before ``before`` (a UTC day); returns
    how many were removed."""
    cutoff = datetime.combine(before, time(), UTC)
    removed = 0
    while True:
        # Delete first and fold what the delete returned: two purges running at
        # once (two workers) each fold only the rows they themselves removed.
        batch = (
            select(MatchEvent.id)
            .where(MatchEvent.created_at < cutoff)
            .order_by(MatchEvent.id)
            .limit(BATCH)
            .scalar_subquery()
        )
        rows = session.execute(
            delete(MatchEvent)
            .where(MatchEvent.id.in_(batch))
            .returning(
                MatchEvent.created_at, MatchEvent.item_id, MatchEvent.platform, MatchEvent.decision
            )
        ).all()
        if not rows:
            session.rollback()
            return removed
        folds: dict[tuple[date, int, str, str], tuple[int, datetime]] = {}
        for at, item_id, platform, decision in rows:
            key = (at.astimezone(UTC).date(), item_id, platform, decision)
            count, first_at = folds.get(key, (0, at))
            folds[key] = (count + 1, min(first_at, at))
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        for (day, item_id, platform, decision), (count, first_at) in folds.items():
            stmt = insert(ItemDayCount).values(
                day=day,
                item_id=item_id,
                platform=platform,
                decision=decision,
                count=count,
                first_at=first_at,
            )
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["day", "item_id", "platform", "decision"],
                    set_={
                        "count": ItemDayCount.count + stmt.excluded.count,
                        "first_at": case(
                            (
                                stmt.excluded.first_at < ItemDayCount.first_at,
                                stmt.excluded.first_at,
                            ),
                            else_=ItemDayCount.first_at,
                        ),
                    },
                )
            )
        session.commit()
        removed += len(rows)


class RetentionKeeper:
    """Applies the retention setting once at start and then once a day, in a
    background thread of the server process."""

    def __init__(self, sessions: sessionmaker[Session], days: int, clock: Clock) -> None:
        self._sessions = sessions
        self._days = days
        self._clock = clock
        self._rounds = Periodic(
            "event-retention",
            self.run_once,
            log,
            "event retention purge failed; retrying next round",
            retried=(SQLAlchemyError,),
        )

    def run_once(self) -> int:
        with self._sessions() as session:
            today = self._clock().astimezone(UTC).date()
            return purge_events(session, retention_cutoff(self._days, today))

    def start(self, every: float = 24 * 3600) -> None:
        self._rounds.start(every, first=0)

    def stop(self) -> None:
        self._rounds.stop()
