"""Errors as HTTP answers: ``{"error": "<stable_code>", "detail": ...}`` with a status.

:class:`ApiError` is the HTTP layer's own (authentication, request bodies);
a use case's refusals are :class:`app.failures.DomainError`, given a status here."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from app.failures import DomainError, Failure
from app.observability import DECODE_ERRORS
from app.text import CONTROL_ERROR
from hashing.decode import DecodeError, DecodeErrorCode
from hashing.types import HashFormatError

log = logging.getLogger("hashwall.requests")


class ApiError(Exception):
    """An error the client can act on, with a stable machine-readable code."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers


DECODE_STATUS: dict[DecodeErrorCode, int] = {
    DecodeErrorCode.EMPTY: 400,
    DecodeErrorCode.UNSUPPORTED: 415,
    DecodeErrorCode.CORRUPT: 422,
    DecodeErrorCode.TOO_MANY_PIXELS: 413,
    DecodeErrorCode.CORRUPT_VIDEO: 422,
}

_STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    408: "request_timeout",
    413: "upload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "overloaded",
}


FAILURE_STATUS: dict[Failure, int] = {
    Failure.INVALID: 422,
    Failure.NOT_FOUND: 404,
    Failure.TOO_LARGE: 413,
}


def error_body(code: str, detail: str) -> dict[str, Any]:
    return {"error": code, "detail": detail}


_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})


def _field(loc: Sequence[Any]) -> str:
    # FastAPI puts where a parameter came from first ("query", ...); bodies
    # read by app.routers.bodies start at the field itself.
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in _SOURCES:
        parts = parts[1:]
    return ".".join(parts) or "request"


def validation_body(errors: Sequence[Any]) -> dict[str, Any]:
    """A request that does not validate: ``detail`` is one sentence naming each
    bad field, ``fields`` lists them (``field``, ``message``, ``type``) for
    programs. The code names the field kind: ``invalid_hash``,
    ``invalid_category``, ``invalid_text`` (a control character) or else
    ``invalid_request``."""
    fields = [
        {
            "field": _field(err.get("loc", ())),
            "message": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in errors
    ]
    names = {part for err in errors for part in map(str, err.get("loc", ()))}
    types = {f["type"] for f in fields}
    if "hashes" in names:
        code = "invalid_hash"
    elif "category" in names:
        code = "invalid_category"
    elif CONTROL_ERROR in types:
        code = "invalid_text"
    else:
        code = "invalid_request"
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "invalid request"
    return {"error": code, "detail": detail, "fields": fields}


# Shapes for the OpenAPI ``responses=`` of routes.
ERROR_RESPONSE: dict[str, Any] = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "error": {"type": "string"},
                    "detail": {"type": "string"},
                    "fields": {
                        "type": "array",
                        "description": "422 for a body or parameter that does not validate: "
                        "each bad field",
                        "items": {
                            "type": "object",
                            "properties": {
                                "field": {"type": "string"},
                                "message": {"type": "string"},
                                "type": {"type": "string"},
                            },
                        },
                    },
                },
                "required": ["error", "detail"],
            }
        }
    }
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": _STATUS_CODES.get(status, "error"), **ERROR_RESPONSE}
        for status in statuses
    }


def install_handlers(app: FastAPI) -> None:
    """Map every failure to a JSON body with a stable code; never an HTML page."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.detail), exc.status, headers=exc.headers)

    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.detail), FAILURE_STATUS[exc.failure])

    @app.exception_handler(DecodeError)
    async def _decode_error(_request: Request, exc: DecodeError) -> JSONResponse:
        DECODE_ERRORS.labels(exc.code.value).inc()
        return JSONResponse(error_body(exc.code.value, exc.detail), DECODE_STATUS[exc.code])

    @app.exception_handler(HashFormatError)
    async def _hash_error(_request: Request, exc: HashFormatError) -> JSONResponse:
        return JSONResponse(error_body("invalid_hash", str(exc)), 422)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_body(exc.errors()), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)),
            exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(ClientDisconnect)
    async def _gone(_request: Request, _exc: ClientDisconnect) -> JSONResponse:
        # Clients drop uploads all the time: one quiet line, no traceback. The
        # answer goes nowhere; 499 is what the access log then records.
        log.info("client disconnected before its request body arrived")
        return JSONResponse(error_body("client_disconnected", "the client went away"), 499)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        return JSONResponse(error_body("internal_error", "unexpected server error"), 500)
