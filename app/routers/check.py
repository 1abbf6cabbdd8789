"""``POST /check`` and ``POST /check/hashes``: the platforms' route."""

from __future__ import annotations

import time
from typing import Any, BinaryIO

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from app.auth import Principal
from app.deps import CheckKey, StateDep
from app.errors import responses
from app.observability import CHECK_SECONDS, CHECKS
from app.routers.bodies import form_file, form_text, read_form, read_json
from app.schemas import CheckHashes, CheckResult, ClipInfo, Match
from app.services import checking
from app.services.checking import Checked
from app.state import AppState
from hashing.clip import ClipHashes
from matching import Category, Verdict

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
    with state.sessions() as session:
        checked = checking.check_upload(
            session,
            state.index,
            state.policy,
            state.media,
            file,
            principal=principal,
            upload_ref=upload_ref,
            clock=state.clock,
        )
    return result(request, state, checked, started)


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
    started = time.perf_counter()
    rules = state.hash_rules
    with state.sessions() as session:
        if body.hashes is not None:
            checked = checking.check_hashes(
                session,
                state.index,
                state.policy,
                body.hashes.values(),
                max_hashes=rules.max_hashes,
                principal=principal,
                upload_ref=body.upload_ref,
                clock=state.clock,
            )
        else:
            checked = checking.check_vpdq(
                session,
                state.index,
                state.policy,
                body.vpdq_lines(),
                max_frames=rules.max_vpdq_frames,
                min_quality=rules.min_quality,
                principal=principal,
                upload_ref=body.upload_ref,
                clock=state.clock,
            )
    return result(request, state, checked, started)


def result(request: Request, state: AppState, checked: Checked, started: float) -> CheckResult:
    """The answer to a check, counted and timed from ``started``."""
    verdict = checked.verdict
    decision = verdict.decision.value
    return CheckResult(
        decision=verdict.decision,
        matches=matches(verdict, checked.categories),
        media_type=checked.media_type,
        quality=checked.quality,
        elapsed_ms=observe_check(request, state, decision, checked.media_type, started),
        clip=None if checked.clip is None else clip_info(checked.clip),
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


def clip_info(clip: ClipHashes) -> ClipInfo:
    """The answer's account of what of a clip was looked at."""
    return ClipInfo(
        container=clip.container,
        width=clip.width,
        height=clip.height,
        duration_s=None if clip.duration is None else round(clip.duration, 3),
        hashed_s=clip.hashed_until,
        frames_decoded=clip.frames_decoded,
        keyframes=len(clip.keyframes),
        low_quality_keyframes=clip.low_quality,
        complete=clip.complete,
        stopped_by=None if clip.stopped is None else clip.stopped.value,
    )


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
