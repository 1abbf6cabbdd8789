"""``POST /check`` and ``POST /check/hashes``: the platforms' route."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from app.deps import CheckKey, SessionDep, StateDep
from app.errors import require_hash_count, responses
from app.schemas import CheckHashes, CheckResult
from app.services.checks import check
from app.services.matching import hash_query, image_query
from hashing.pipeline import hash_image_bytes

router = APIRouter(tags=["check"])


@router.post(
    "/check",
    response_model=CheckResult,
    responses=responses(400, 401, 403, 413, 415, 422),
)
def check_upload(
    state: StateDep,
    session: SessionDep,
    principal: CheckKey,
    file: Annotated[UploadFile, File(description="The uploaded image")],
    upload_ref: Annotated[str | None, Form(max_length=200)] = None,
) -> CheckResult:
    """Decide whether an upload is a re-upload of registered content.

    ``block`` for a confident match, ``review`` for a borderline one or a
    low-quality hash, ``allow`` otherwise; matches come best first.
    """
    started = time.perf_counter()
    data = file.file.read()
    hashes = hash_image_bytes(data, state.limits)
    outcome = check(
        session,
        state.index,
        image_query(hashes),
        state.settings,
        principal=principal,
        upload_ref=upload_ref,
    )
    return CheckResult(
        decision=outcome.decision,
        matches=outcome.matches,
        media_type="image",
        quality=hashes.quality,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
    )


@router.post(
    "/check/hashes",
    response_model=CheckResult,
    responses=responses(400, 401, 403, 413, 422),
)
def check_hashes(
    state: StateDep, session: SessionDep, principal: CheckKey, body: CheckHashes
) -> CheckResult:
    """Check hashes computed on the platform's side (no media leaves the platform)."""
    started = time.perf_counter()
    values = body.hashes.values()
    require_hash_count(len(values), state.settings.max_hashes_per_request)
    outcome = check(
        session,
        state.index,
        hash_query(values),
        state.settings,
        principal=principal,
        upload_ref=body.upload_ref,
    )
    return CheckResult(
        decision=outcome.decision,
        matches=outcome.matches,
        media_type="hashes",
        quality=None,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
    )
