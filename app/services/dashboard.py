"""What the dashboard shows, gathered in one place so the page stays a template."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from app.services.report import blocks_per_item, top_items
from app.services.stats import Dimension, Period, match_stats

DAYS = 90
TOP = 10


def dashboard_data(
    session: Session,
    *,
    platform: str | None,
    index_sizes: dict[str, int],
    check_seconds: Sequence[float],
    today: date,
) -> dict[str, Any]:
    """Matches per day by category, blocks and reviews per day, top re-uploaded
    items (last 90 UTC days), index size, and this process's recent check latency."""
    start = today - timedelta(days=DAYS - 1)
    days = [(start + timedelta(days=i)).isoformat() for i in range(DAYS)]
    stats = match_stats(
        session,
        start=start,
        end=today,
        tz=ZoneInfo("UTC"),
        period=Period.DAY,
        by=[Dimension.CATEGORY, Dimension.DECISION],
        platform=platform,
    )
    by_category: dict[str, list[int]] = defaultdict(lambda: [0] * DAYS)
    blocks, reviews = [0] * DAYS, [0] * DAYS
    position = {day: i for i, day in enumerate(days)}
    for label, (category, decision), counts in stats.rows:
        i = position[label]
        if decision == "allow":
            continue
        by_category[category][i] += counts.checks
        if decision == "block":
            blocks[i] += counts.checks
        else:
            reviews[i] += counts.checks
    low = datetime.combine(start, time(), UTC)
    high = datetime.combine(today + timedelta(days=1), time(), UTC)
    blocked = blocks_per_item(session, low, high, platform)
    latencies = sorted(check_seconds)
    return {
        "platform": platform,
        "days": days,
        "matches_by_category": dict(sorted(by_category.items())),
        "blocks": blocks,
        "reviews": reviews,
        "totals": stats.totals.as_dict(),
        "case_refs": platform is None,
        # Case references are the regulator's and trust-and-safety's, not a platform's.
        "top_items": top_items(session, blocked, TOP, case_refs=platform is None),
        "index": index_sizes,
        "latency_ms": _latency(latencies),
    }


def _latency(latencies: list[float]) -> dict[str, float | int | None]:
    if not latencies:
        return {"checks": 0, "p50": None, "p95": None, "p99": None}
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else []

    def at(p: int) -> float:
        return round((cuts[p - 1] if cuts else latencies[0]) * 1000, 1)

    return {"checks": len(latencies), "p50": at(50), "p95": at(95), "p99": at(99)}
