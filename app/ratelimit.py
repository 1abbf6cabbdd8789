"""The rate limit of each API key, held where every process serving the key sees it.

A key may send ``burst`` requests in each window of ``burst / rate`` seconds
(``limits``' fixed window: the window opens at the key's first request). With
several server processes or hosts, each keeping its own count would give a key
N times its rate, so the count lives in shared storage:

- **Redis** when ``HASHWALL_REDIS_URL`` is set (``limits``' own storage: one
  atomic round trip a request);
- else **the database**, for several processes or any PostgreSQL deployment
  (hosts share it): one upsert a request, so a deployment that rate-limits
  heavy traffic should give it a Redis;
- else, a single process on SQLite, **memory** (``limits``' memory storage).

If the shared storage fails, requests are let through (and the failure logged
once a minute): the limit guards against runaway clients; it must not take
the service down with it.
"""

from __future__ import annotations

import logging
import math
import time
from typing import cast

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import (
    BigInteger,
    Engine,
    Float,
    Table,
    bindparam,
    case,
    delete,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.expression import Executable

from app.models import RateCounter
from app.settings import Settings

log = logging.getLogger("hashwall.ratelimit")

_COUNTERS = cast(Table, RateCounter.__table__)


def _incr_statement(dialect: str) -> Executable:
    """Add ``amount`` to a key's window, or open a new window when it has ended;
    the count after, in one statement (exact under concurrent requests)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    amount = bindparam("amount", type_=BigInteger())
    ends = bindparam("ends", type_=Float())
    stmt = insert(_COUNTERS).values(key=bindparam("key"), count=amount, expires_at=ends)
    ended = _COUNTERS.c.expires_at <= bindparam("now", type_=Float())
    return stmt.on_conflict_do_update(
        index_elements=[_COUNTERS.c.key],
        set_={
            "count": case((ended, amount), else_=_COUNTERS.c.count + amount),
            "expires_at": case((ended, ends), else_=_COUNTERS.c.expires_at),
        },
    ).returning(_COUNTERS.c.count)


class DatabaseStorage(Storage):
    """``limits``' storage interface for its fixed window, on the service's
    database (table ``rate_counters``, one row per key)."""

    STORAGE_SCHEME = None

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self._incr = _incr_statement(engine.dialect.name)

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        with self.engine.begin() as connection:
            count = connection.execute(
                self._incr, {"key": key, "amount": amount, "now": now, "ends": now + expiry}
            ).scalar_one()
        return int(count)

    def get(self, key: str) -> int:
        with self.engine.connect() as connection:
            count = connection.execute(
                select(_COUNTERS.c.count).where(
                    _COUNTERS.c.key == key, _COUNTERS.c.expires_at > time.time()
                )
            ).scalar_one_or_none()
        return int(count or 0)

    def get_expiry(self, key: str) -> float:
        with self.engine.connect() as connection:
            ends = connection.execute(
                select(_COUNTERS.c.expires_at).where(_COUNTERS.c.key == key)
            ).scalar_one_or_none()
        return float(ends) if ends is not None else time.time()

    def check(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.engine.begin() as connection:
            return int(connection.execute(delete(_COUNTERS)).rowcount)

    def clear(self, key: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(_COUNTERS).where(_COUNTERS.c.key == key))


class RateLimit:
    """``burst`` requests a key may send in each window of ``burst / rate`` seconds."""

    def __init__(self, rate: float, burst: int, storage: Storage) -> None:
        self.rate = rate
        self.burst = burst
        self.storage = storage
        self.item = RateLimitItemPerSecond(burst, max(1, round(burst / rate)))
        self._limiter = FixedWindowRateLimiter(storage)
        self._failure_logged = -math.inf

    def wait(self, key_id: int) -> float:
        """Count one request of ``key_id``: 0 when allowed, else the seconds until
        its window ends."""
        try:
            if self._limiter.hit(self.item, str(key_id)):
                return 0.0
            reset, _ = self._limiter.get_window_stats(self.item, str(key_id))
        except self.storage.base_exceptions:
            if time.monotonic() - self._failure_logged > 60:
                self._failure_logged = time.monotonic()
                log.exception("rate limit storage failed: requests are let through")
            return 0.0
        return max(0.001, reset - time.time())


def storage_kind(settings: Settings) -> str:
    """Where the limit's counts live: ``redis``, ``database`` or ``memory``."""
    if settings.rate_limit_storage != "auto":
        return settings.rate_limit_storage
    if settings.redis_url:
        return "redis"
    sqlite = settings.effective_database_url.startswith("sqlite")
    return "memory" if sqlite and settings.workers == 1 else "database"


def rate_limit(settings: Settings, engine: Engine) -> RateLimit | None:
    """The service's rate limit, or None when ``HASHWALL_RATE_LIMIT`` is unset."""
    if settings.rate_limit is None:
        return None
    burst = settings.rate_limit_burst or max(1, round(2 * settings.rate_limit))
    kind = storage_kind(settings)
    storage: Storage
    if kind == "redis":
        if not settings.redis_url:
            raise ValueError("HASHWALL_RATE_LIMIT_STORAGE=redis needs HASHWALL_REDIS_URL")
        storage = RedisStorage(settings.redis_url, key_prefix=settings.redis_key_prefix)
    elif kind == "database":
        storage = DatabaseStorage(engine)
    else:
        storage = MemoryStorage()
    return RateLimit(settings.rate_limit, burst, storage)
