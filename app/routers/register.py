"""``POST /register``: trust-and-safety staff add confirmed content."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from app.auth import Principal
from app.deps import RegisterKey, SessionDep, StateDep
from app.errors import ApiError, responses
from app.routers.bodies import (
    content_type,
    form_choice,
    form_file,
    form_text,
    read_form,
    read_json,
)
from app.routers.check import clip_info
from app.schemas import ItemSummary, RegisterHashes, RegisterResult
from app.services.registering import (
    Registered,
    Registrar,
    Submission,
    register_hashes,
    register_media,
    register_vpdq,
)
from app.state import AppState
from matching import Category

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


def _result(registered: Registered) -> RegisterResult:
    item = registered.item
    return RegisterResult(
        item_id=item.id,
        media_type=item.media_type,
        category=Category(item.category),
        hashes=registered.hashes,
        quality=item.quality,
        duplicate_of=None
        if not registered.duplicate
        else ItemSummary(
            item_id=item.id,
            category=Category(item.category),
            case_ref=item.case_ref,
            created_at=item.created_at,
        ),
        clip=None if registered.clip is None else clip_info(registered.clip),
    )


def _registrar(state: AppState, session: Session) -> Registrar:
    return Registrar(session, state.index, state.policy, state.register_lock, state.clock)


def _register_json(
    state: AppState, session: Session, principal: Principal, body: RegisterHashes
) -> Registered:
    submitted = Submission(principal, body.category, body.case_ref, body.note)
    if body.hashes is not None:
        values = body.hashes.values()
        return register_hashes(_registrar(state, session), state.hash_rules, values, submitted)
    lines = body.vpdq_lines()
    return register_vpdq(_registrar(state, session), state.hash_rules, lines, submitted)


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
            submitted = Submission(principal, category, case_ref, note)
            # Hashed while the form is open: closing it deletes the spooled upload.
            registered = await run_in_threadpool(
                register_media, _registrar(state, session), state.media, upload.file, submitted
            )
    elif kind == "application/json":
        body = await read_json(request, RegisterHashes, state.settings.max_json_bytes)
        registered = await run_in_threadpool(_register_json, state, session, principal, body)
    else:
        raise ApiError(
            415,
            "unsupported_content_type",
            "send multipart/form-data with a file, or application/json with hashes",
        )
    if registered.duplicate:
        response.status_code = 200
    return _result(registered)
