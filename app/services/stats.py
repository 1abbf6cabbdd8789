"""Transparency statistics: how many checks, matches, blocks, reviews and allows,
by period and by platform, category, decision and signal.

Every check adds one to a counter row of its quarter-hour (UTC), platform,
decision, and the category and signal of its best match (empty for an allow),
in the same transaction as the check's match event. Counters are never purged,
so totals stay exact after old match events are deleted, and quarter-hours let
an export regroup them by day, week or month in any time zone (every zone in
use today is a whole number of quarter-hours from UTC).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.csvfile import csv_document
from app.failures import DomainError, Failure
from app.models import CheckCount
from matching import Decision

BUCKET = timedelta(minutes=15)


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Dimension(StrEnum):
    PLATFORM = "platform"
    CATEGORY = "category"
    DECISION = "decision"
    SIGNAL = "signal"


COUNT_COLUMNS = ("checks", "matches", "blocks", "reviews", "allows")


def day_start(day: date, tz: tzinfo = UTC, *, days_after: int = 0) -> datetime:
    """The UTC instant of local midnight starting ``day`` (plus ``days_after``
    days) in ``tz``; 422 ``invalid_period`` for a day no datetime can hold."""
    try:
        return datetime.combine(day + timedelta(days=days_after), time(), tz).astimezone(UTC)
    except OverflowError:
        raise DomainError(
            Failure.INVALID,
            "invalid_period",
            f"days must lie between {date.min + timedelta(days=1)} and "
            f"{date.max - timedelta(days=1)}",
        ) from None


def period_start(day: date, period: Period) -> date:
    if period is Period.WEEK:
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if period is Period.MONTH:
        return day.replace(day=1)
    return day


def period_label(start: date, period: Period) -> str:
    return start.strftime("%Y-%m") if period is Period.MONTH else start.isoformat()


@dataclass
class Counts:
    checks: int = 0
    matches: int = 0
    blocks: int = 0
    reviews: int = 0
    allows: int = 0

    def add(self, decision: str, count: int) -> None:
        self.checks += count
        if decision == Decision.BLOCK:
            self.blocks += count
            self.matches += count
        elif decision == Decision.REVIEW:
            self.reviews += count
            self.matches += count
        else:
            self.allows += count

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNT_COLUMNS}


@dataclass
class MatchStats:
    """Counts per period and group, best first by period then group."""

    start: date
    end: date
    tz: str
    period: Period
    by: list[Dimension]
    rows: list[tuple[str, tuple[str, ...], Counts]] = field(default_factory=list)
    totals: Counts = field(default_factory=Counts)

    def as_json(self) -> dict[str, object]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "tz": self.tz,
            "group_by": self.period.value,
            "by": [d.value for d in self.by],
            "rows": [
                {"period": label, **dict(zip(self.by, group, strict=True)), **counts.as_dict()}
                for label, group, counts in self.rows
            ],
            "totals": self.totals.as_dict(),
        }

    def as_csv(self) -> str:
        """A header row, one row per period and group, then a ``total`` row."""
        return csv_document(
            [
                ["period", *self.by, *COUNT_COLUMNS],
                *(
                    [label, *group, *counts.as_dict().values()]
                    for label, group, counts in self.rows
                ),
                ["total", *([""] * len(self.by)), *self.totals.as_dict().values()],
            ]
        )


def match_stats(
    session: Session,
    *,
    start: date,
    end: date,
    tz: ZoneInfo,
    period: Period,
    by: list[Dimension],
    platform: str | None,
) -> MatchStats:
    """Counts of checks from local midnight of ``start`` to the end of ``end``
    (both days included, in ``tz``), per ``period`` and per value of each
    dimension in ``by``; ``platform`` restricts them to one platform's checks."""
    low = day_start(start, tz)
    high = day_start(end, tz, days_after=1)
    query = (
        select(
            CheckCount.bucket,
            CheckCount.platform,
            CheckCount.category,
            CheckCount.decision,
            CheckCount.signal,
            func.sum(CheckCount.count),
        )
        .where(CheckCount.bucket >= low, CheckCount.bucket < high)
        .group_by(
            CheckCount.bucket,
            CheckCount.platform,
            CheckCount.category,
            CheckCount.decision,
            CheckCount.signal,
        )
    )
    if platform is not None:
        query = query.where(CheckCount.platform == platform)
    grouped: dict[tuple[date, tuple[str, ...]], Counts] = defaultdict(Counts)
    totals = Counts()
    for bucket, platform_, category, decision, signal, count in session.execute(query):
        values = {
            Dimension.PLATFORM: platform_,
            Dimension.CATEGORY: category,
            Dimension.DECISION: decision,
            Dimension.SIGNAL: signal,
        }
        local_day = bucket.astimezone(tz).date()
        key = (period_start(local_day, period), tuple(values[d] for d in by))
        grouped[key].add(decision, int(count))
        totals.add(decision, int(count))
    rows = [
        (period_label(day, period), group, grouped[(day, group)]) for day, group in sorted(grouped)
    ]
    return MatchStats(start, end, str(tz), period, by, rows, totals)
