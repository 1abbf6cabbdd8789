"""Per-key rate limits and load shedding."""

from __future__ import annotations

import secrets

from fastapi.testclient import TestClient
from httpx2 import Response

from app.limits import RateLimiter
from app.main import create_app
from app.settings import Settings
from tests.conftest import bearer


def test_token_bucket_allows_bursts_then_paces() -> None:
    limiter = RateLimiter(rate=2, burst=4)
    assert [limiter.wait(1, now=0.0) for _ in range(4)] == [0.0] * 4
    assert limiter.wait(1, now=0.0) == 0.5  # a token is due in half a second
    assert limiter.wait(2, now=0.0) == 0.0  # other keys have their own bucket
    assert limiter.wait(1, now=0.5) == 0.0
    assert limiter.wait(1, now=0.5) > 0


def test_a_key_over_its_rate_gets_429_with_retry_after(
    settings: Settings, api_keys: dict[str, str]
) -> None:
    limited = settings.model_copy(update={"rate_limit": 2.0})
    with TestClient(create_app(limited)) as client:

        def check(key: str) -> Response:
            return client.post(
                "/check/hashes",
                json={"hashes": {"pdq": [secrets.token_hex(32)]}},
                headers=bearer(key),
            )

        statuses = [check(api_keys["platform"]).status_code for _ in range(6)]
        assert statuses[:4] == [200] * 4  # a burst of twice the rate
        refused = check(api_keys["platform"])
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert refused.headers["retry-after"] == "1"
        assert check(api_keys["admin"]).status_code == 200
