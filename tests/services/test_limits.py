"""Per-key rate limits and load shedding."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from limits.storage import MemoryStorage, RedisStorage, Storage

from app import db
from app.main import create_app
from app.ratelimit import DatabaseStorage, RateLimit, storage_kind
from app.settings import Settings
from tests.api import bearer

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "database", "redis"])
def storage(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Storage]:
    """Each place the counts can live; the database one on both databases."""
    if request.param == "memory":
        yield MemoryStorage()
    elif request.param == "redis":
        # A prefix of its own: other runs may share the machine's Redis.
        yield RedisStorage(REDIS_URL, key_prefix=f"hashwall-test-{secrets.token_hex(8)}")
    else:
        engine = db.make_engine(settings)
        yield DatabaseStorage(engine)
        engine.dispose()


def test_a_window_allows_its_burst_then_says_how_long_to_wait(storage: Storage) -> None:
    # 3 requests per 30 s window: the test never nears the window's end.
    limit = RateLimit(rate=0.1, burst=3, storage=storage)
    assert [limit.wait(1) for _ in range(3)] == [0.0] * 3
    waits = [limit.wait(1) for _ in range(2)]
    assert all(0 < w <= 30 for w in waits), waits
    assert limit.wait(2) == 0.0  # other keys have windows of their own


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ({}, "memory"),
        ({"workers": 2}, "database"),
        ({"redis_url": REDIS_URL}, "redis"),
        ({"redis_url": REDIS_URL, "rate_limit_storage": "database"}, "database"),
    ],
)
def test_the_counts_live_where_every_process_sees_them(
    settings: Settings, overrides: dict[str, object], kind: str
) -> None:
    chosen = storage_kind(settings.model_copy(update=overrides))
    sqlite = settings.effective_database_url.startswith("sqlite")
    # Hosts share a PostgreSQL: its deployments never keep counts in memory.
    assert chosen == (kind if sqlite or kind != "memory" else "database")


def test_a_key_over_its_rate_gets_429_with_retry_after(
    settings: Settings, api_keys: dict[str, str]
) -> None:
    limited = settings.model_copy(update={"rate_limit": 0.1, "rate_limit_burst": 4})
    with TestClient(create_app(limited)) as client:

        def check(key: str) -> Response:
            return client.post(
                "/check/hashes",
                json={"hashes": {"pdq": [secrets.token_hex(32)]}},
                headers=bearer(key),
            )

        statuses = [check(api_keys["platform"]).status_code for _ in range(6)]
        assert statuses == [200] * 4 + [429] * 2  # the burst, then the 40 s window's end
        refused = check(api_keys["platform"])
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 40
        assert check(api_keys["admin"]).status_code == 200
