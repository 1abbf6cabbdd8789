"""Reading request bodies, after the caller's key has been checked.

FastAPI reads and validates a route's declared body (a pydantic model, ``File``
or ``Form`` parameters) before it resolves any dependency, the key's included:
a request with no key, or a bogus one, would have its whole body buffered and
validated first. So no route declares a body; each reads it here, once its key
dependency has passed. A JSON body is bounded by ``max_json_bytes`` (413 from
the declared length, or while streaming); a multipart body by the service's
upload limit (:class:`app.limits.BodyLimit`), with one file part at most.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from app.errors import ApiError
from app.text import refused_character

E = TypeVar("E", bound=StrEnum)
M = TypeVar("M", bound=BaseModel)

MAX_FIELD_BYTES = 64 * 1024
"""A multipart text field (not the file) longer than this is refused."""


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _declared_length(request: Request) -> int | None:
    try:
        return int(request.headers["content-length"])
    except (KeyError, ValueError):
        return None


async def read_json(request: Request, model: type[M], limit: int) -> M:
    """The request's JSON body as ``model``: 415 for another content type, 413
    ``body_too_large`` past ``limit`` bytes (refused from Content-Length when
    declared, else cut off while streaming), 422 when it does not validate."""
    if content_type(request) != "application/json":
        raise ApiError(415, "unsupported_content_type", "send application/json")
    too_large = ApiError(
        413, "body_too_large", f"a JSON body is limited to {limit} bytes", {"Connection": "close"}
    )
    declared = _declared_length(request)
    if declared is not None and declared > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    try:
        return model.model_validate_json(bytes(body))
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


@asynccontextmanager
async def read_form(request: Request, *, max_fields: int = 8) -> AsyncIterator[FormData]:
    """The request's multipart form, open for the block (closing it deletes the
    spooled file): 415 for another content type, 400 ``invalid_multipart`` for a
    malformed body, more than one file part or more than ``max_fields`` fields."""
    # A urlencoded form is read too, so that a form sent without its file is
    # told so (422) rather than that it is not a form.
    if content_type(request) not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise ApiError(415, "unsupported_content_type", "send multipart/form-data with a file")
    try:
        form = await request.form(max_files=1, max_fields=max_fields, max_part_size=MAX_FIELD_BYTES)
    except HTTPException as exc:
        if exc.status_code != 400:
            raise
        raise ApiError(400, "invalid_multipart", str(exc.detail)) from None
    try:
        yield form
    finally:
        await form.close()


def form_file(form: FormData, name: str = "file") -> UploadFile:
    """The form's file part; 422 when there is none."""
    upload = form.get(name)
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "invalid_request", f"a multipart '{name}' file field is required")
    return upload


def form_text(value: object, name: str, limit: int, *, multiline: bool = False) -> str | None:
    """An optional text field of at most ``limit`` characters; empty is None.
    Control characters are refused (line breaks and tabs too, unless ``multiline``)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(422, "invalid_request", f"{name} must be a text field")
    if len(value) > limit:
        raise ApiError(422, "invalid_request", f"{name} is longer than {limit} characters")
    bad = refused_character(value, multiline=multiline)
    if bad is not None:
        raise ApiError(422, "invalid_text", f"{name} may not hold control characters: {bad}")
    return value


def form_choice(kind: type[E], value: object, name: str) -> E:
    """One of ``kind``'s values; 422 ``invalid_<name>`` naming them otherwise."""
    try:
        return kind(str(value))
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise ApiError(
            422, f"invalid_{name}", f"{name} must be one of {known}, got {value!r}"
        ) from None
