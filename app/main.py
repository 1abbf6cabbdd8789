"""The application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import cv2
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from app import balance
from app.db import make_engine, make_sessionmaker
from app.deps import index_ready
from app.errors import install_handlers
from app.limits import BodyLimit, LoadShedder
from app.memory import keep_heap
from app.models import Clock, utcnow
from app.observability import RequestContext
from app.ratelimit import rate_limit
from app.routers import (
    check,
    dashboard,
    events,
    hashlists,
    health,
    items,
    metrics,
    register,
    stats,
)
from app.services.index_store import IndexRunner, new_index
from app.services.retention import RetentionKeeper
from app.services.rules import HashRules, MediaRules
from app.services.uploads import clear_spool
from app.settings import Settings
from app.state import AppState

STATIC = Path(__file__).resolve().parent / "static"


def create_app(settings: Settings | None = None, *, clock: Clock = utcnow) -> FastAPI:
    """Build the service. Nothing connects until the lifespan starts. ``clock``
    gives the time checks, registrations and deactivations are recorded at."""
    settings = settings or Settings()
    # /docs and /redoc with Swagger UI and ReDoc served from the installed
    # package, not a CDN: most deployments sit in a closed network.
    app = FastAPIOffline(
        title="Hashwall",
        version="0.1.0",
        summary="Re-upload prevention for removed illegal sexual content: "
        "perceptual hash matching, no media stored.",
        lifespan=_lifespan(settings, clock),
    )
    install_handlers(app)
    _add_middleware(app, settings)
    _add_routes(app)
    return app


def build_state(settings: Settings, clock: Clock) -> AppState:
    """What every request shares, from the settings; connects nothing yet."""
    engine = make_engine(settings)
    return AppState(
        settings=settings,
        policy=settings.match_policy(),
        engine=engine,
        sessions=make_sessionmaker(engine),
        index=new_index(settings),
        media=MediaRules.from_settings(settings),
        hash_rules=HashRules.from_settings(settings),
        rate_limiter=rate_limit(settings, engine),
        clock=clock,
    )


def _lifespan(
    settings: Settings, clock: Clock
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        keep_heap()  # no page faults for every check's buffers (app/memory.py)
        # OpenCV's thread pool only adds contention on small images.
        cv2.setNumThreads(1)
        # Hostile files make the codecs log to stderr; the JSON error says it all.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        state = build_state(settings, clock)
        clear_spool(settings.upload_dir)
        runner = IndexRunner(
            state.sessions,
            state.index,
            settings.snapshot_dir,
            sync_seconds=settings.index_sync_seconds,
            snapshot_seconds=settings.index_snapshot_seconds,
        )
        state.index_runner = runner
        runner.start(wait=settings.index_load_wait)
        keeper = None
        if settings.event_retention_days is not None:
            keeper = RetentionKeeper(state.sessions, settings.event_retention_days, clock)
            keeper.start()
        app.state.hashwall = state
        balance.join()  # one of several workers: be counted before the first connection
        # Everything imported and built so far lives as long as the process: out of
        # the collector's sight, a full collection no longer walks it mid-request.
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()  # what this app built may be collected again once it is gone
            runner.stop()
            if keeper is not None:
                keeper.stop()
            state.engine.dispose()

    return lifespan


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(
        BodyLimit,
        limit=settings.max_upload_bytes,
        idle_timeout=settings.body_idle_seconds,
        body_timeout=settings.body_seconds,
    )
    if settings.cors_origins:
        # Off unless configured: the API is called by platforms' servers, not browsers.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        )
    app.add_middleware(LoadShedder, limit=settings.max_in_flight)
    app.add_middleware(RequestContext)  # outermost: times and tags everything


def _add_routes(app: FastAPI) -> None:
    app.include_router(health.router)
    # Until the index is loaded these would answer from an empty one: 503 instead.
    ready = [Depends(index_ready)]
    app.include_router(check.router, dependencies=ready)
    app.include_router(register.router, dependencies=ready)
    app.include_router(items.router, dependencies=ready)
    app.include_router(hashlists.router, dependencies=ready)
    app.include_router(stats.router)
    app.include_router(events.router)
    app.include_router(metrics.router)
    app.include_router(dashboard.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
