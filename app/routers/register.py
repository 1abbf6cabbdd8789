"""``POST /register``: trust-and-safety staff add confirmed content."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, BinaryIO

import numpy as np
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from app.auth import Principal
from app.deps import RegisterKey, SessionDep, StateDep
from app.errors import ApiError, responses
from app.failures import require_hash_count
from app.models import Item
from app.routers.bodies import (
    content_type,
    form_choice,
    form_file,
    form_text,
    read_form,
    read_json,
)
from app.schemas import ClipInfo, ItemSummary, RegisterHashes, RegisterResult
from app.services.items import (
    NewHash,
    clip_features,
    clip_hashes,
    find_duplicate,
    hashes_out,
    media_features,
    media_hashes,
    register_item,
    vpdq_hashes,
)
from app.services.local_features import NewFeatures
from app.services.uploads import clip_info, hash_upload, media_type
from app.state import AppState
from hashing.clip import ClipHashes
from hashing.pipeline import ImageHashes
from hashing.transforms import Transform
from hashing.vpdq import parse_vpdq
from matching import Category
from matching.clip_frames import ClipQuery, clip_query, vpdq_query
from matching.still import Query, hash_query, image_query

router = APIRouter(tags=["register"])

_TEXT = {"type": "string", "maxLength": 200}
_OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "category"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "category": {"type": "string", "enum": [c.value for c in Category]},
                        "case_ref": _TEXT,
                        "note": {"type": "string", "maxLength": 4000},
                    },
                }
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/RegisterHashes"}},
        },
    }
}


def _result(item: Item, duplicate: Item | None, clip: ClipInfo | None) -> RegisterResult:
    return RegisterResult(
        item_id=item.id,
        media_type=item.media_type,
        category=Category(item.category),
        hashes=hashes_out(item),
        quality=item.quality,
        duplicate_of=None
        if duplicate is None
        else ItemSummary(
            item_id=duplicate.id,
            category=Category(duplicate.category),
            case_ref=duplicate.case_ref,
            created_at=duplicate.created_at,
        ),
        clip=clip,
    )


def _register(
    state: AppState,
    session: Session,
    principal: Principal,
    query: Query | ClipQuery,
    new_hashes: list[NewHash],
    *,
    media_type: str,
    category: Category,
    case_ref: str | None,
    note: str | None,
    quality: int | None,
    features: Sequence[NewFeatures] = (),
    duration: float | None = None,
    keyframes: int | None = None,
) -> tuple[Item, bool]:
    with state.register_lock:
        duplicate = find_duplicate(session, state.index, query, state.policy)
        if duplicate is not None:
            return duplicate[0], True
        item = register_item(
            session,
            state.index,
            actor=principal.name,
            media_type=media_type,
            category=category,
            case_ref=case_ref,
            note=note,
            quality=quality,
            hashes=new_hashes,
            features=features,
            duration=duration,
            keyframes=keyframes,
            now=state.clock(),
        )
        return item, False


def require_usable(hashed: ImageHashes | ClipHashes, min_quality: int) -> None:
    """Refuse media whose picture carries too little to match on (a flat or
    nearly flat image, a clip without one keyframe of quality): its hashes would
    match every other such upload. 422 ``low_quality``, as for a vPDQ."""
    if isinstance(hashed, ImageHashes):
        if hashed.quality < min_quality or not hashed.pdq[Transform.ORIGINAL].informative:
            raise ApiError(
                422,
                "low_quality",
                f"the image's PDQ quality is {hashed.quality}, under the floor of {min_quality}: "
                "a picture this flat would match every other flat upload",
            )
    elif not hashed.keyframes:
        raise ApiError(
            422,
            "low_quality",
            f"no keyframe of the {hashed.kind} has PDQ quality {min_quality} or more: "
            "nothing would match",
        )


def _register_media(
    state: AppState,
    session: Session,
    principal: Principal,
    file: BinaryIO,
    category: Category,
    case_ref: str | None,
    note: str | None,
) -> tuple[Item, bool, ClipInfo | None]:
    # A deployment may keep no keypoints of a category (LOCAL_FEATURES_OFF).
    keypoints = state.index.local is not None and category not in state.settings.local_features_off
    hashed = hash_upload(file, state, register=True, keypoints=keypoints)
    require_usable(hashed, state.settings.pdq_min_quality)
    if isinstance(hashed, ImageHashes):
        item, duplicate = _register(
            state,
            session,
            principal,
            image_query(hashed),
            media_hashes(hashed),
            media_type="image",
            category=category,
            case_ref=case_ref,
            note=note,
            quality=hashed.quality,
            features=media_features(hashed),
        )
        return item, duplicate, None
    item, duplicate = _register(
        state,
        session,
        principal,
        clip_query(hashed),
        clip_hashes(hashed),
        media_type=media_type(hashed),
        category=category,
        case_ref=case_ref,
        note=note,
        quality=hashed.quality,
        duration=hashed.duration if hashed.complete else hashed.hashed_until,
        keyframes=len(hashed.keyframes),
        features=clip_features(hashed),
    )
    return item, duplicate, clip_info(hashed)


def _register_json(
    state: AppState, session: Session, principal: Principal, body: RegisterHashes
) -> tuple[Item, bool]:
    settings = state.settings
    if body.hashes is not None:
        values = body.hashes.values()
        require_hash_count(len(values), settings.max_hashes_per_request)
        for value in values:
            if not value.informative:
                raise ApiError(
                    422,
                    "uninformative_hash",
                    f"{value.signal} {value.to_hex()} has too few or too many bits set to come "
                    "from a picture (a flat image's hash): it would match every flat upload",
                )
        return _register(
            state,
            session,
            principal,
            hash_query(values),
            [NewHash(v) for v in values],
            media_type="hashes",
            category=body.category,
            case_ref=body.case_ref,
            note=body.note,
            quality=None,
        )
    frames = parse_vpdq(body.vpdq_lines())
    require_hash_count(len(frames), settings.vpdq_max_frames)
    stored = vpdq_hashes(frames, settings)
    if not stored:
        raise ApiError(
            422,
            "low_quality",
            f"no vpdq frame has PDQ quality {settings.pdq_min_quality} or more and a hash "
            "that carries information: nothing would match",
        )
    return _register(
        state,
        session,
        principal,
        vpdq_query(frames, settings.pdq_min_quality),
        stored,
        media_type="video_hashes",
        category=body.category,
        case_ref=body.case_ref,
        note=body.note,
        quality=int(np.median([f.quality for f in frames])),
        duration=max(f.at for f in frames),
        keyframes=len({h.at for h in stored}),
    )


@router.post(
    "/register",
    status_code=201,
    response_model=RegisterResult,
    responses={
        200: {
            "description": "a near-duplicate of an active item: nothing new was stored",
            "model": RegisterResult,
        },
        **responses(400, 401, 403, 413, 415, 422, 429, 503),
    },
    openapi_extra=_OPENAPI_BODY,
)
async def register(
    request: Request,
    response: Response,
    state: StateDep,
    session: SessionDep,
    principal: RegisterKey,
) -> RegisterResult:
    """Register confirmed content: a media file (multipart: a still or animated
    image, or a video) or its hashes (JSON: a still's hashes or a video's vPDQ).

    Answers 201 with the new item, or 200 with ``duplicate_of`` set when an active
    item already blocks this content.
    """
    kind = content_type(request)
    if kind == "multipart/form-data":
        async with read_form(request) as form:
            upload = form_file(form)
            category = form_choice(Category, form.get("category"), "category")
            case_ref = form_text(form.get("case_ref"), "case_ref", 200)
            note = form_text(form.get("note"), "note", 4000, multiline=True)
            # Hashed while the form is open: closing it deletes the spooled upload.
            item, duplicate, clip = await run_in_threadpool(
                _register_media, state, session, principal, upload.file, category, case_ref, note
            )
    elif kind == "application/json":
        body = await read_json(request, RegisterHashes, state.settings.max_json_bytes)
        item, duplicate = await run_in_threadpool(_register_json, state, session, principal, body)
        clip = None
    else:
        raise ApiError(
            415,
            "unsupported_content_type",
            "send multipart/form-data with a file, or application/json with hashes",
        )
    if duplicate:
        response.status_code = 200
        return _result(item, item, clip)
    return _result(item, None, clip)
