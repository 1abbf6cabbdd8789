"""``GET /metrics``: Prometheus text format, for an operator's key."""

from __future__ import annotations

import os

from fastapi import APIRouter, Response

from app.deps import ExportAllKey, StateDep
from app.errors import responses
from app.observability import INDEX_HASHES, render

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **responses(401, 403)},
)
def metrics(state: StateDep, _principal: ExportAllKey) -> Response:
    """Requests and latency per route, checks and latency per decision, matches
    per category, registrations, refused uploads per error code, index size.

    Needs a key with ``export_all`` (or ``admin``): Prometheus sends it as a
    bearer token (``authorization: {credentials: ...}`` in its scrape config).
    """
    for signal, size in state.index.sizes().items():
        INDEX_HASHES.labels(signal).set(size)
    body, content_type = render(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    return Response(body, media_type=content_type)
