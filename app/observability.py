"""Metrics (Prometheus) and structured logs, each request tagged with an id.

Nothing logged or exported carries key material or media: the access log has
the route template (never query strings, which may hold a case reference), the
platform name, the status and the time taken.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
access_log = logging.getLogger("hashwall.access")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter(
    "hashwall_requests_total",
    "HTTP requests by route, method and status",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "hashwall_request_seconds",
    "HTTP request latency by route",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
)
CHECKS = Counter(
    "hashwall_checks_total", "Checks by decision and media type", ["decision", "media_type"]
)
CHECK_SECONDS = Histogram(
    "hashwall_check_seconds", "Check latency by decision", ["decision"], buckets=_LATENCY_BUCKETS
)
MATCHES = Counter(
    "hashwall_matches_total",
    "Checks that matched, by category of the best match and decision",
    ["category", "decision"],
)
REGISTRATIONS = Counter(
    "hashwall_registrations_total",
    "Items registered, by category and media type",
    ["category", "media_type"],
)
DECODE_ERRORS = Counter("hashwall_decode_errors_total", "Uploads refused, by error code", ["code"])
INDEX_HASHES = Gauge(
    "hashwall_index_hashes",
    "Hashes in this process's index, by signal",
    ["signal"],
    multiprocess_mode="livemax",
)

# What a client may send as its own request id; anything else is replaced.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def render(registry_dir: str | None) -> tuple[bytes, str]:
    """The metrics page: this process's, or every worker's when they share a
    ``PROMETHEUS_MULTIPROC_DIR``."""
    if registry_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=registry_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class RequestContext:
    """Gives every request an id (``X-Request-ID``, the client's if well-formed),
    and records its metrics and one access-log line when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = sent if _REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "-")
            REQUESTS.labels(route, method, str(status)).inc()
            REQUEST_SECONDS.labels(route, method).observe(elapsed)
            state: dict[str, Any] = scope.get("state") or {}
            access_log.info(
                "request",
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "platform": state.get("platform"),
                    "decision": state.get("decision"),
                },
            )
            request_id.reset(token)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """``logging.config.dictConfig`` for the server: JSON lines on stderr, with the
    request id on every record logged while a request is handled."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": _RequestIdFilter}},
        "formatters": {
            "json": {
                "()": JsonFormatter,
                # The process tells the workers of `hashwall serve --workers N` apart.
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(process)d",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
