"""What the lifespan builds and every request shares."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.models import Clock, utcnow
from app.ratelimit import RateLimit
from app.services.index_store import IndexRunner
from app.settings import Settings
from hashing.clip import ClipLimits
from hashing.decode import DecodeLimits
from index import HashIndex
from matching import MatchPolicy


@dataclass
class AppState:
    settings: Settings
    policy: MatchPolicy
    """The thresholds matching decides with, from ``settings``."""
    engine: Engine
    sessions: sessionmaker[Session]
    index: HashIndex
    limits: DecodeLimits
    clip_limits: ClipLimits
    register_clip_limits: ClipLimits
    layouts: bool | None = None
    """Whether a still's layout views (the bands of its canvas, a picture embedded
    in a larger one) are made: only while some active item has no local features
    to be found by (:func:`app.services.items.needs_layouts`); None until the
    first upload asks (the database may not answer at start)."""
    register_lock: threading.Lock = field(default_factory=threading.Lock)
    """Serialises the duplicate check and insert of registrations in this process."""
    rate_limiter: RateLimit | None = None
    index_runner: IndexRunner | None = None
    """Loads the index, then follows the change feed and writes snapshots."""
    check_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=2000))
    """Latency of this process's most recent checks, for the dashboard."""
    clock: Clock = utcnow
    """The time checks, registrations and deactivations are recorded at."""
