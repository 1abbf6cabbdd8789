"""``GET /stats/matches``: transparency exports of checks and matches."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from app.auth import Scope
from app.deps import ExportKey, SessionDep
from app.errors import ApiError, responses
from app.services.report import annual_report
from app.services.stats import Dimension, Period, match_stats

router = APIRouter(tags=["transparency"])

# Longest export in days: ten years of daily rows stays a few megabytes.
MAX_DAYS = 3660


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ApiError(422, "invalid_timezone", f"unknown IANA time zone {name!r}") from exc


def dimensions(text: str) -> list[Dimension]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    try:
        chosen = [Dimension(name) for name in names]
    except ValueError:
        known = ", ".join(d.value for d in Dimension)
        raise ApiError(
            422, "invalid_group", f"by must name some of {known}; got {text!r}"
        ) from None
    if len(set(chosen)) != len(chosen):
        raise ApiError(422, "invalid_group", f"a dimension is named twice in {text!r}")
    return chosen


def check_range(start: date, end: date) -> None:
    if start > end:
        raise ApiError(422, "invalid_period", f"from ({start}) is after to ({end})")
    if (end - start).days >= MAX_DAYS:
        raise ApiError(422, "invalid_period", f"at most {MAX_DAYS} days per export")


@router.get(
    "/stats/matches",
    responses={
        200: {"content": {"text/csv": {}}, "description": "counts per period and group"},
        **responses(401, 403, 422),
    },
)
def stats_matches(
    session: SessionDep,
    principal: ExportKey,
    start: Annotated[date, Query(alias="from", description="First day (YYYY-MM-DD), in tz")],
    end: Annotated[date, Query(alias="to", description="Last day, included")],
    group_by: Annotated[Period, Query(description="Period of each row")] = Period.DAY,
    by: Annotated[
        str, Query(description="Comma-separated: platform, category, decision, signal")
    ] = "",
    tz: Annotated[str, Query(description="IANA time zone of the days, e.g. Asia/Seoul")] = "UTC",
    fmt: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Response:
    """Counts of checks, matches, blocks, reviews and allows per period and group,
    with totals. A platform's key sees its own platform's checks; a key with
    ``export_all`` (or ``admin``) sees every platform's."""
    check_range(start, end)
    stats = match_stats(
        session,
        start=start,
        end=end,
        tz=zone(tz),
        period=group_by,
        by=dimensions(by),
        platform=None if principal.allows(Scope.EXPORT_ALL) else principal.platform,
    )
    if fmt == "csv":
        name = f"hashwall-matches-{start}-{end}.csv"
        return Response(
            stats.as_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return JSONResponse(stats.as_json())


@router.get(
    "/stats/report",
    responses={
        200: {"content": {"text/csv": {}}, "description": "the annual transparency summary"},
        **responses(401, 403, 422),
    },
)
def stats_report(
    session: SessionDep,
    principal: ExportKey,
    year: Annotated[int, Query(ge=2000, le=2100)],
    tz: Annotated[str, Query(description="IANA time zone of the year's bounds")] = "UTC",
    fmt: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Response:
    """Registrations by category, deactivations by reason, checks, blocks and
    reviews per platform and category, re-uploads blocked per item (top items),
    and the median time from registration to the first blocked re-upload. A
    platform's key gets its own platform's checks and re-uploads, and the top
    items without their case references."""
    every_platform = principal.allows(Scope.EXPORT_ALL)
    report = annual_report(
        session,
        year,
        zone(tz),
        None if every_platform else principal.platform,
        case_refs=every_platform,
    )
    if fmt == "csv":
        return Response(
            report.as_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="hashwall-report-{year}.csv"'},
        )
    return JSONResponse(report.as_json())
