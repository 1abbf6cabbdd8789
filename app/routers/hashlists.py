"""``POST /import``: bulk import of a hash list by upload (the operator's ``admin`` key)."""

from __future__ import annotations

from typing import Any, BinaryIO

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.auth import Principal
from app.deps import AdminKey, StateDep
from app.errors import ApiError, responses
from app.routers.bodies import form_choice, form_file, form_text, read_form
from app.schemas import ImportRejection, ImportResult
from app.services.hashlists.formats import HashListError, HashListFormat
from app.services.hashlists.import_index import ServedIndex
from app.services.hashlists.importing import import_list
from app.services.hashlists.resume import ImportConflict, ImportOptions
from app.services.uploads import spool
from app.state import AppState
from matching import Category

router = APIRouter(tags=["hash lists"])

MAX_REJECTIONS_SHOWN = 1000
"""Rejected lines listed in the answer; the count covers all of them."""

_OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "format", "category"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "format": {"type": "string", "enum": [f.value for f in HashListFormat]},
                        "category": {"type": "string", "enum": [c.value for c in Category]},
                        "case_ref": {"type": "string", "maxLength": 200},
                    },
                }
            }
        },
    }
}


def _import_upload(
    state: AppState,
    principal: Principal,
    upload: UploadFile,
    filename: str,
    fmt: HashListFormat,
    category: Category,
    case_ref: str | None,
) -> ImportResult:
    file: BinaryIO = upload.file
    options = ImportOptions(
        fmt=fmt,
        category=category,
        case_ref=case_ref,
        operator=principal.name,
        filename=filename,
    )
    # On disk in the service's private upload directory, never whole in memory,
    # and gone when the import ends however it ends.
    with spool(file, state.settings.upload_dir) as (path, digest):
        try:
            run = import_list(
                state.engine,
                path,
                options,
                ServedIndex(state.index, state.index_runner),
                digest=digest.to_hex(),
                keep_rejections=MAX_REJECTIONS_SHOWN,
            )
        except HashListError as exc:
            raise ApiError(422, "invalid_hash_list", str(exc)) from None
        except ImportConflict as exc:
            raise ApiError(409, "import_in_progress", str(exc)) from None
    summary, sample = run.summary, run.rejections
    return ImportResult(
        import_id=summary.import_id,
        file_sha256=summary.file_sha256,
        format=fmt,
        category=category,
        case_ref=case_ref,
        lines=summary.lines,
        added=summary.added,
        already_present=summary.already_present,
        rejected=summary.rejected,
        rejections=[ImportRejection(line=r.line, reason=r.reason) for r in sample.items],
        rejections_truncated=sample.total > len(sample.items),
        resumed_from_line=summary.resumed_from,
    )


@router.post(
    "/import",
    response_model=ImportResult,
    responses=responses(400, 401, 403, 409, 413, 415, 422, 429, 503),
    openapi_extra=_OPENAPI_BODY,
)
async def import_hashes(request: Request, state: StateDep, principal: AdminKey) -> ImportResult:
    """Import a hash list file (multipart ``file``, ``format``, ``category``, optional
    ``case_ref``) as ``hashwall import`` does: one item per new hash, hashes an
    active item holds skipped, bad lines listed by number instead of failing the
    upload. The hashes match in this process at once and in the others within
    the change feed's poll interval.

    A file of nothing but bad lines is still a 200, with every line rejected: the
    file was read, and the answer says line by line why nothing was added.
    """
    async with read_form(request) as form:
        upload = form_file(form)
        fmt = form_choice(HashListFormat, form.get("format"), "format")
        category = form_choice(Category, form.get("category"), "category")
        case_ref = form_text(form.get("case_ref"), "case_ref", 200)
        filename = form_text((upload.filename or "upload")[:500], "the file name", 500) or "upload"
        return await run_in_threadpool(
            _import_upload, state, principal, upload, filename, fmt, category, case_ref
        )
