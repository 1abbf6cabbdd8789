"""``POST /check`` and ``POST /check/hashes``: the platforms' route."""

from __future__ import annotations

import time
from typing import Any, BinaryIO

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from app.auth import Principal
from app.deps import CheckKey, StateDep
from app.errors import responses
from app.failures import require_hash_count
from app.observability import CHECK_SECONDS, CHECKS
from app.routers.bodies import form_file, form_text, read_form, read_json
from app.schemas import CheckHashes, CheckResult, Match
from app.services.checks import check
from app.services.uploads import clip_info, hash_upload, media_type
from app.state import AppState
from hashing.pipeline import ImageHashes
from hashing.vpdq import parse_vpdq
from matching import Category, Verdict
from matching.clip_frames import ClipQuery, clip_query, vpdq_query
from matching.still import Query, hash_query, image_query

router = APIRouter(tags=["check"])

UPLOAD_REF_MAX = 200

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The upload: an image, an animated image or a video",
                        },
                        "upload_ref": {"type": "string", "maxLength": UPLOAD_REF_MAX},
                    },
                }
            }
        },
    }
}
_HASHES_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckHashes"}}},
    }
}


@router.post(
    "/check",
    response_model=CheckResult,
    responses=responses(400, 401, 403, 413, 415, 422, 429, 503),
    openapi_extra=_UPLOAD_BODY,
)
async def check_upload(request: Request, state: StateDep, principal: CheckKey) -> CheckResult:
    """Decide whether an upload (a still or animated image, or a video) is a
    re-upload of registered content: multipart ``file``, optional ``upload_ref``
    (the platform's own id of the upload, kept in the match log).

    ``block`` for a confident match, ``review`` for a borderline one or a
    low-quality hash, ``allow`` otherwise; matches come best first.
    """
    async with read_form(request) as form:
        upload = form_file(form)
        upload_ref = form_text(form.get("upload_ref"), "upload_ref", UPLOAD_REF_MAX)
        # Hashed while the form is open: closing it deletes the spooled upload. The
        # whole check, the session's life included, runs in one trip to a thread.
        return await run_in_threadpool(
            _check_upload, request, state, principal, upload.file, upload_ref
        )


def _check_upload(
    request: Request, state: AppState, principal: Principal, file: BinaryIO, upload_ref: str | None
) -> CheckResult:
    started = time.perf_counter()
    hashed = hash_upload(file, state, register=False, keypoints=state.index.local is not None)
    query = image_query(hashed) if isinstance(hashed, ImageHashes) else clip_query(hashed)
    with state.sessions() as session:
        verdict, categories = check(
            session,
            state.index,
            query,
            state.policy,
            principal=principal,
            upload_ref=upload_ref,
            at=state.clock(),
        )
    kind = media_type(hashed)
    elapsed = observe_check(request, state, verdict.decision.value, kind, started)
    return CheckResult(
        decision=verdict.decision,
        matches=matches(verdict, categories),
        media_type=kind,
        quality=hashed.quality,
        elapsed_ms=elapsed,
        clip=clip_info(hashed),
    )


@router.post(
    "/check/hashes",
    response_model=CheckResult,
    responses=responses(400, 401, 403, 413, 415, 422, 429, 503),
    openapi_extra=_HASHES_BODY,
)
async def check_hashes(request: Request, state: StateDep, principal: CheckKey) -> CheckResult:
    """Check hashes computed on the platform's side (no media leaves the platform):
    a still's ``hashes``, or a video's ``vpdq`` (matched keyframe by keyframe)."""
    body = await read_json(request, CheckHashes, state.settings.max_json_bytes)
    return await run_in_threadpool(_check_hashes, request, state, principal, body)


def _check_hashes(
    request: Request, state: AppState, principal: Principal, body: CheckHashes
) -> CheckResult:
    settings = state.settings
    started = time.perf_counter()
    query: Query | ClipQuery
    if body.hashes is not None:
        values = body.hashes.values()
        require_hash_count(len(values), settings.max_hashes_per_request)
        query, kind = hash_query(values), "hashes"
    else:
        frames = parse_vpdq(body.vpdq_lines())
        require_hash_count(len(frames), settings.vpdq_max_frames)
        query, kind = vpdq_query(frames, settings.pdq_min_quality), "video_hashes"
    with state.sessions() as session:
        verdict, categories = check(
            session,
            state.index,
            query,
            state.policy,
            principal=principal,
            upload_ref=body.upload_ref,
            at=state.clock(),
        )
    return CheckResult(
        decision=verdict.decision,
        matches=matches(verdict, categories),
        media_type=kind,
        quality=query.quality,
        elapsed_ms=observe_check(request, state, verdict.decision.value, kind, started),
    )


def matches(verdict: Verdict, categories: dict[int, str]) -> list[Match]:
    """The answer's account of each item matched, best first."""
    return [
        Match(
            item_id=c.item_id,
            category=Category(categories[c.item_id]),
            signal=c.signal,
            distance=c.distance,
            transform=c.transform.value,
            upload_share=None if c.coverage is None else c.coverage.upload_share,
            item_share=None if c.coverage is None else c.coverage.item_share,
            upload_span=None if c.coverage is None else c.coverage.upload_span,
            item_span=None if c.coverage is None else c.coverage.item_span,
            inliers=None if c.local is None else c.local.inliers,
            region=None if c.local is None else list(c.local.corners),
        )
        for c in verdict.candidates
    ]


def observe_check(
    request: Request, state: AppState, decision: str, kind: str, started: float
) -> float:
    """Count and time a check; returns its milliseconds for the answer."""
    elapsed = time.perf_counter() - started
    state.check_seconds.append(elapsed)
    CHECKS.labels(decision, kind).inc()
    CHECK_SECONDS.labels(decision).observe(elapsed)
    request.state.decision = decision
    return round(elapsed * 1000, 3)
