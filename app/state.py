"""What the lifespan builds and every request shares: the web layer's state,
which routers unpack into the explicit arguments of the services they call."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.models import Clock, utcnow
from app.ratelimit import RateLimit
from app.services.index_store import IndexRunner
from app.services.rules import HashRules, MediaRules
from app.settings import Settings
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
    media: MediaRules
    """How uploads are hashed and what registering media needs of them."""
    hash_rules: HashRules
    """What is accepted of hashes sent without media."""
    register_lock: threading.Lock = field(default_factory=threading.Lock)
    """Serialises the duplicate check and insert of registrations in this process."""
    rate_limiter: RateLimit | None = None
    index_runner: IndexRunner | None = None
    """Loads the index, then follows the change feed and writes snapshots."""
    check_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=2000))
    """Latency of this process's most recent checks, for the dashboard."""
    clock: Clock = utcnow
    """The time checks, registrations and deactivations are recorded at."""
