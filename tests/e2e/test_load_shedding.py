"""Load shedding on a real server: a saturated process answers 503 at once."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

import httpx
import pytest

from testkit import videos
from tests.api import bearer
from tests.conftest import PHOTOS
from tests.e2e.conftest import hashwall, start_server

# The subject is the server's concurrency limit, which no database takes part in.
pytestmark = pytest.mark.one_database


def test_a_saturated_server_sheds_checks_with_503(env: dict[str, str], tmp_path: Path) -> None:
    key = hashwall(env, "keys", "create", "--name", "web", "--scopes", "check").stdout.strip()
    clip = videos.make_video([videos.load_rgb(p) for p in PHOTOS[:8]], shot_seconds=4)
    video = videos.write(clip, tmp_path / "long.mp4", "mp4v").read_bytes()
    process, url = start_server({**env, "HASHWALL_MAX_IN_FLIGHT": "1"}, tmp_path / "server.log")
    try:
        finished: list[int] = []

        def slow_check() -> None:
            # A client that honours Retry-After: it may itself be shed at first.
            with httpx.Client(base_url=url, timeout=60) as client:
                while True:
                    response = client.post(
                        "/check", files={"file": ("v.mp4", video)}, headers=bearer(key)
                    )
                    if response.status_code != 503:
                        finished.append(response.status_code)
                        return

        worker = threading.Thread(target=slow_check)
        seen: list[httpx.Response] = []
        with httpx.Client(base_url=url, timeout=10) as client:
            worker.start()
            while worker.is_alive():
                seen.append(
                    client.post(
                        "/check/hashes",
                        json={"hashes": {"pdq": [secrets.token_hex(32)]}},
                        headers=bearer(key),
                    )
                )
                assert client.get("/healthz").status_code == 200  # never shed
            worker.join()
        assert finished == [200]
        shed = [r for r in seen if r.status_code == 503]
        assert shed, [r.status_code for r in seen]
        assert shed[0].json()["error"] == "overloaded"
        assert shed[0].headers["retry-after"] == "1"
        assert {r.status_code for r in seen} <= {200, 503}
    finally:
        process.terminate()
        process.wait(timeout=10)
