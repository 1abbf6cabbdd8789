"""The application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
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
from app.services.uploads import clear_spool
from app.settings import Settings
from app.state import AppState
from hashing.clip import ClipLimits
from hashing.decode import DecodeLimits

STATIC = Path(__file__).resolve().parent / "static"


REGISTER_LOCAL_KEYFRAMES = 32
"""Keyframes of a registered clip given local features: twice a check's, so
that a check's land near a stored one (5.2 KB each, docs/local-features.md)."""


def clip_limits(settings: Settings, *, register: bool = False) -> ClipLimits:
    """How clips are sampled: by clock and cuts on a check, and on a registration
    also by motion, densely, so a check's samples land near a stored keyframe."""
    limits = ClipLimits(
        max_pixels=settings.video_max_pixels,
        max_seconds=settings.video_max_seconds,
        time_budget=settings.video_time_budget,
        interval=settings.video_keyframe_interval,
        max_keyframes=settings.video_max_keyframes,
        shot_change=settings.video_shot_change,
        dedupe_distance=settings.video_dedupe_distance,
        min_quality=settings.pdq_min_quality,
        max_frames=settings.animation_max_frames,
        max_composited=settings.animation_max_pixels,
        threads=settings.video_decode_threads,
    )
    if register:
        limits = replace(
            limits,
            motion_bits=settings.video_register_motion_bits,
            max_keyframes=settings.video_register_max_keyframes,
            local_keyframes=REGISTER_LOCAL_KEYFRAMES,
        )
    return limits


def create_app(settings: Settings | None = None, *, clock: Clock = utcnow) -> FastAPI:
    """Build the service. Nothing connects until the lifespan starts. ``clock``
    gives the time checks, registrations and deactivations are recorded at."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        keep_heap()  # no page faults for every check's buffers (app/memory.py)
        # OpenCV's thread pool only adds contention on small images.
        cv2.setNumThreads(1)
        # Hostile files make the codecs log to stderr; the JSON error says it all.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        engine = make_engine(settings)
        state = AppState(
            settings=settings,
            policy=settings.match_policy(),
            engine=engine,
            sessions=make_sessionmaker(engine),
            index=new_index(settings),
            limits=DecodeLimits(
                max_pixels=settings.max_image_pixels, max_side=settings.max_image_side
            ),
            clip_limits=clip_limits(settings),
            register_clip_limits=clip_limits(settings, register=True),
            rate_limiter=rate_limit(settings, engine),
            clock=clock,
        )
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
            engine.dispose()

    # /docs and /redoc with Swagger UI and ReDoc served from the installed
    # package, not a CDN: most deployments sit in a closed network.
    app = FastAPIOffline(
        title="Hashwall",
        version="0.1.0",
        summary="Re-upload prevention for removed illegal sexual content: "
        "perceptual hash matching, no media stored.",
        lifespan=lifespan,
    )
    install_handlers(app)
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
    return app
