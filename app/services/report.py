"""The annual transparency report: what a regulator asks a platform for.

Registrations and deactivations come from the items table, checks from the
quarter-hour counters, and re-uploads per item from the match log plus the
per-day folds that ``hashwall events purge`` leaves behind, so a purged year
reports the same numbers it did before.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.csvfile import csv_document
from app.models import CheckCount, Item, ItemDayCount, MatchEvent
from matching import Decision

TOP_ITEMS = 20


@dataclass
class Report:
    year: int
    tz: str
    platform: str | None
    registrations: dict[str, int] = field(default_factory=dict)
    deactivations: dict[str, int] = field(default_factory=dict)
    checks: dict[str, int] = field(default_factory=dict)
    by_platform_category: list[dict[str, object]] = field(default_factory=list)
    items_blocked: int = 0
    reuploads_blocked: int = 0
    top_items: list[dict[str, object]] = field(default_factory=list)
    median_hours_to_first_block: float | None = None
    items_registered_and_blocked: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "year": self.year,
            "tz": self.tz,
            "platform": self.platform,
            "registrations": {
                "total": sum(self.registrations.values()),
                "by_category": self.registrations,
            },
            "deactivations": {
                "total": sum(self.deactivations.values()),
                "by_reason": self.deactivations,
            },
            "checks": self.checks,
            "by_platform_category": self.by_platform_category,
            "reuploads": {
                "items_blocked": self.items_blocked,
                "blocked": self.reuploads_blocked,
                "top_items": self.top_items,
            },
            "time_to_first_block": {
                "items": self.items_registered_and_blocked,
                "median_hours": self.median_hours_to_first_block,
            },
        }

    def as_csv(self) -> str:
        """One ``section,subject,metric,value`` row per number, for a spreadsheet;
        each section with several rows has a ``total`` row."""
        return csv_document(self._rows())

    def _rows(self) -> Iterator[list[object]]:
        yield ["section", "subject", "metric", "value"]
        for category, n in self.registrations.items():
            yield ["registrations", category, "items", n]
        yield ["registrations", "total", "items", sum(self.registrations.values())]
        for reason, n in self.deactivations.items():
            yield ["deactivations", reason, "items", n]
        yield ["deactivations", "total", "items", sum(self.deactivations.values())]
        for metric, n in self.checks.items():
            yield ["checks", self.platform or "all platforms", metric, n]
        for row in self.by_platform_category:
            subject = f"{row['platform']} / {row['category'] or 'no match'}"
            for metric in ("checks", "blocks", "reviews"):
                yield ["platform_category", subject, metric, row[metric]]
        yield ["reuploads", "all items", "items_blocked", self.items_blocked]
        yield ["reuploads", "all items", "blocked", self.reuploads_blocked]
        for item in self.top_items:
            case = f", {item['case_ref'] or '-'}" if "case_ref" in item else ""
            subject = f"item {item['item_id']} ({item['category']}{case})"
            yield ["top_items", subject, "blocked", item["blocked"]]
        subject = "items registered this year"
        yield ["time_to_first_block", subject, "items", self.items_registered_and_blocked]
        median = self.median_hours_to_first_block
        yield ["time_to_first_block", subject, "median_hours", "" if median is None else median]


def year_bounds(year: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(datetime(year, 1, 1).date(), time(), tz).astimezone(UTC)
    end = datetime.combine(datetime(year + 1, 1, 1).date(), time(), tz).astimezone(UTC)
    return start, end


def annual_report(
    session: Session, year: int, tz: ZoneInfo, platform: str | None, *, case_refs: bool
) -> Report:
    """The report for ``year`` (in ``tz``); with ``platform``, the checks and
    re-uploads are that platform's only (registrations are the service's). The
    top items name their case references only with ``case_refs`` (a regulator's
    or the operator's view: case references are theirs, not the platforms')."""
    low, high = year_bounds(year, tz)
    report = Report(year=year, tz=str(tz), platform=platform)

    registered = select(Item.category, func.count()).where(
        Item.created_at >= low, Item.created_at < high
    )
    report.registrations = {
        category: int(n)
        for category, n in session.execute(
            registered.group_by(Item.category).order_by(Item.category)
        )
    }
    reasons: Counter[str] = Counter()
    for (reason,) in session.execute(
        select(Item.deactivation_reason).where(
            Item.deactivated_at >= low, Item.deactivated_at < high
        )
    ):
        reasons[" ".join((reason or "unspecified").lower().split())] += 1
    report.deactivations = dict(sorted(reasons.items()))

    counts = select(
        CheckCount.platform, CheckCount.category, CheckCount.decision, func.sum(CheckCount.count)
    ).where(CheckCount.bucket >= low, CheckCount.bucket < high)
    if platform is not None:
        counts = counts.where(CheckCount.platform == platform)
    totals: Counter[str] = Counter()
    cells: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for platform_, category, decision, n in session.execute(
        counts.group_by(CheckCount.platform, CheckCount.category, CheckCount.decision)
    ):
        totals["checks"] += int(n)
        totals[f"{decision}s"] += int(n)
        cells[(platform_, category)]["checks"] += int(n)
        cells[(platform_, category)][f"{decision}s"] += int(n)
    report.checks = {k: totals[k] for k in ("checks", "blocks", "reviews", "allows")}
    report.by_platform_category = [
        {"platform": p, "category": c, **{k: cell[k] for k in ("checks", "blocks", "reviews")}}
        for (p, c), cell in sorted(cells.items())
    ]

    blocked = blocks_per_item(session, low, high, platform)
    report.items_blocked = len(blocked)
    report.reuploads_blocked = sum(blocked.values())
    report.top_items = top_items(session, blocked, TOP_ITEMS, case_refs=case_refs)

    hours = _hours_to_first_block(session, low, high, platform)
    report.items_registered_and_blocked = len(hours)
    report.median_hours_to_first_block = round(statistics.median(hours), 2) if hours else None
    return report


def top_items(
    session: Session, blocked: Counter[int], count: int, *, case_refs: bool
) -> list[dict[str, object]]:
    """The ``count`` items blocked most often: id, category, times blocked, and
    the case reference with ``case_refs``."""
    top = blocked.most_common(count)
    facts = {
        item_id: (category, case_ref)
        for item_id, category, case_ref in session.execute(
            select(Item.id, Item.category, Item.case_ref).where(Item.id.in_([i for i, _ in top]))
        )
    }
    return [
        {
            "item_id": i,
            "category": facts[i][0],
            **({"case_ref": facts[i][1]} if case_refs else {}),
            "blocked": n,
        }
        for i, n in top
    ]


def blocks_per_item(
    session: Session, low: datetime, high: datetime, platform: str | None
) -> Counter[int]:
    events = select(MatchEvent.item_id, func.count()).where(
        MatchEvent.decision == Decision.BLOCK.value,
        MatchEvent.created_at >= low,
        MatchEvent.created_at < high,
    )
    folds = select(ItemDayCount.item_id, func.sum(ItemDayCount.count)).where(
        ItemDayCount.decision == Decision.BLOCK.value,
        ItemDayCount.day >= low.date(),
        ItemDayCount.day < high.date(),
    )
    if platform is not None:
        events = events.where(MatchEvent.platform == platform)
        folds = folds.where(ItemDayCount.platform == platform)
    out: Counter[int] = Counter()
    for item_id, n in session.execute(events.group_by(MatchEvent.item_id)):
        out[item_id] += int(n)
    for item_id, n in session.execute(folds.group_by(ItemDayCount.item_id)):
        out[item_id] += int(n)
    return out


def _hours_to_first_block(
    session: Session, low: datetime, high: datetime, platform: str | None
) -> list[float]:
    """For items registered in the period, hours from registration to their first
    blocked re-upload (whenever it came); items never blocked are left out."""
    first_event = select(MatchEvent.item_id, func.min(MatchEvent.created_at)).where(
        MatchEvent.decision == Decision.BLOCK.value
    )
    first_fold = select(ItemDayCount.item_id, func.min(ItemDayCount.first_at)).where(
        ItemDayCount.decision == Decision.BLOCK.value
    )
    if platform is not None:
        first_event = first_event.where(MatchEvent.platform == platform)
        first_fold = first_fold.where(ItemDayCount.platform == platform)
    first: dict[int, datetime] = {}
    for query, column in ((first_event, MatchEvent.item_id), (first_fold, ItemDayCount.item_id)):
        for item_id, at in session.execute(query.group_by(column)):
            at = _aware(at)
            if item_id not in first or at < first[item_id]:
                first[item_id] = at
    created = session.execute(
        select(Item.id, Item.created_at).where(
            Item.created_at >= low, Item.created_at < high, Item.id.in_(list(first))
        )
    )
    return [max(0.0, (first[i] - at).total_seconds() / 3600) for i, at in created]


def _aware(at: datetime) -> datetime:
    # min() over a column bypasses the UTC type decorator on SQLite.
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
