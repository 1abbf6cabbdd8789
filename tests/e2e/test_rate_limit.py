"""A key's rate limit holds across worker processes: two workers give it its
burst once, not once each."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import hashwall, start_server

BURST = 3


def pids_answering(log: Path) -> set[int]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return {line["process"] for line in lines if line.get("route") == "/check/hashes"}


@pytest.mark.parametrize(
    ("database_url", "redis"),
    [("sqlite", False), ("postgresql", False), ("sqlite", True)],
    indirect=["database_url"],
    ids=["sqlite-database", "postgresql-database", "redis"],
)
def test_two_workers_share_one_limit(env: dict[str, str], tmp_path: Path, redis: bool) -> None:
    # 3 requests a minute: the whole test runs inside one window.
    env = {
        **env,
        "HASHWALL_RATE_LIMIT": str(BURST / 60),
        "HASHWALL_RATE_LIMIT_BURST": str(BURST),
    }
    if redis:
        env["HASHWALL_REDIS_URL"] = "redis://127.0.0.1:6379/0"
        env["HASHWALL_REDIS_KEY_PREFIX"] = f"hashwall-test-{secrets.token_hex(8)}"
    key = hashwall(env, "keys", "create", "--name", "busy", "--scopes", "check").stdout.strip()
    log = tmp_path / "server.log"
    process, url = start_server(env, log, workers=2)
    statuses: list[int] = []
    try:
        # Clients that stay connected: the workers spread kept-alive connections
        # between them (app/balance.py), so both answer this key.
        clients = [httpx.Client(base_url=url, timeout=30) for _ in range(6)]
        try:
            while len(statuses) < 60 and (len(statuses) < 12 or len(pids_answering(log)) < 2):
                client = clients[len(statuses) % len(clients)]
                response = client.post(
                    "/check/hashes",
                    json={"hashes": {"pdq": [secrets.token_hex(32)]}},
                    headers={"Authorization": f"Bearer {key}"},
                )
                statuses.append(response.status_code)
        finally:
            for client in clients:
                client.close()
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert len(pids_answering(log)) == 2, "both workers must have answered the key"
    assert statuses.count(200) == BURST, statuses
    assert set(statuses) == {200, 429}
