"""Liveness and readiness, the only routes without a key."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.deps import StateDep
from app.errors import error_body
from app.schemas import Health

router = APIRouter(tags=["health"])
log = logging.getLogger("hashwall.health")


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up (answered on the event loop: no thread, no database)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"description": "not ready"}})
def readyz(state: StateDep) -> Health | JSONResponse:
    """The database answers and the index is loaded."""
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # any driver error means "not ready", not a 500
        # The driver's message names hosts and users: for the log, not the answer.
        log.exception("readiness check: the database does not answer")
        return JSONResponse(error_body("database_unavailable", "the database does not answer"), 503)
    if not state.index.ready:
        return JSONResponse(error_body("index_loading", "the index is still loading"), 503)
    return Health(status="ready", index=state.index.sizes())
