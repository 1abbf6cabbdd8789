"""``POST /check`` and ``POST /check/hashes``: the platforms' route."""

from __future__ import annotations

import time
from typing import Annotated, BinaryIO

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool

from app.deps import Caller, CheckCaller, StateDep, verify
from app.errors import require_hash_count, responses
from app.observability import CHECK_SECONDS, CHECKS
from app.schemas import CheckHashes, CheckResult
from app.services.checks import check
from app.services.clips import ClipQuery, clip_query, vpdq_query
from app.services.matching import Query, hash_query, image_query
from app.services.uploads import clip_info, hash_upload, media_type
from app.state import AppState
from hashing.pipeline import ImageHashes
from hashing.vpdq import parse_vpdq

router = APIRouter(tags=["check"])


@router.post(
    "/check",
    response_model=CheckResult,
    responses=responses(400, 401, 403, 413, 415, 422, 429, 503),
)
async def check_upload(
    request: Request,
    state: StateDep,
    caller: CheckCaller,
    file: Annotated[
        UploadFile, File(description="The upload: an image, an animated image or a video")
    ],
    upload_ref: Annotated[str | None, Form(max_length=200)] = None,
) -> CheckResult:
    """Decide whether an upload (a still or animated image, or a video) is a
    re-upload of registered content.

    ``block`` for a confident match, ``review`` for a borderline one or a
    low-quality hash, ``allow`` otherwise; matches come best first.
    """
    # The whole check, the key lookup and the session's life included, runs in
    # one trip to a worker thread; as a plain ``def`` endpoint FastAPI would also
    # send the answer's validation to a thread, and each trip costs about as much
    # CPU as the lookup.
    return await run_in_threadpool(_check_upload, request, state, caller, file.file, upload_ref)


def _check_upload(
    request: Request, state: AppState, caller: Caller, file: BinaryIO, upload_ref: str | None
) -> CheckResult:
    with state.sessions() as session:
        principal = verify(request, state, session, caller.token, caller.scope)
        started = time.perf_counter()
        hashed = hash_upload(file, state, register=False)
        query = image_query(hashed) if isinstance(hashed, ImageHashes) else clip_query(hashed)
        outcome = check(
            session, state.index, query, state.settings, principal=principal, upload_ref=upload_ref
        )
    kind = media_type(hashed)
    elapsed = observe_check(request, state, outcome.decision.value, kind, started)
    return CheckResult(
        decision=outcome.decision,
        matches=outcome.matches,
        media_type=kind,
        quality=hashed.quality,
        elapsed_ms=elapsed,
        clip=clip_info(hashed),
    )


@router.post(
    "/check/hashes",
    response_model=CheckResult,
    responses=responses(400, 401, 403, 413, 422, 429, 503),
)
async def check_hashes(
    request: Request, state: StateDep, caller: CheckCaller, body: CheckHashes
) -> CheckResult:
    """Check hashes computed on the platform's side (no media leaves the platform):
    a still's ``hashes``, or a video's ``vpdq`` (matched keyframe by keyframe)."""
    return await run_in_threadpool(_check_hashes, request, state, caller, body)


def _check_hashes(
    request: Request, state: AppState, caller: Caller, body: CheckHashes
) -> CheckResult:
    settings = state.settings
    with state.sessions() as session:
        principal = verify(request, state, session, caller.token, caller.scope)
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
        outcome = check(
            session, state.index, query, settings, principal=principal, upload_ref=body.upload_ref
        )
    return CheckResult(
        decision=outcome.decision,
        matches=outcome.matches,
        media_type=kind,
        quality=query.quality,
        elapsed_ms=observe_check(request, state, outcome.decision.value, kind, started),
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
