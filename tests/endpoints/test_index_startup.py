"""Start-up from a snapshot plus the change feed, from the database without one,
and 503s while the index is loading."""

from __future__ import annotations

import shutil

import numpy as np
from fastapi.testclient import TestClient

from app import db
from app.main import create_app
from app.services.index_store import write_snapshot
from app.settings import Settings
from app.state import AppState
from index import snapshot
from tests.api import bearer

RNG = np.random.default_rng(99)


def pdq() -> str:
    return RNG.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()


def state_of(client: TestClient) -> AppState:
    state: AppState = client.app.state.hashwall  # type: ignore[attr-defined]
    return state


def register(client: TestClient, key: str, code: str) -> int:
    response = client.post(
        "/register", json={"hashes": {"pdq": [code]}, "category": "ncii"}, headers=bearer(key)
    )
    assert response.status_code == 201, response.text
    item_id: int = response.json()["item_id"]
    return item_id


def decision(client: TestClient, key: str, code: str) -> str:
    response = client.post("/check/hashes", json={"hashes": {"pdq": [code]}}, headers=bearer(key))
    assert response.status_code == 200, response.text
    answer: str = response.json()["decision"]
    return answer


def snapshot_now(client: TestClient) -> None:
    state = state_of(client)
    runner = state.index_runner
    assert runner is not None
    assert runner.follower is not None
    runner.follower.poll()
    assert write_snapshot(state.settings.snapshot_dir, state.index, runner.follower.position)


def test_restart_reads_the_snapshot_and_replays_newer_changes(
    settings: Settings, api_keys: dict[str, str]
) -> None:
    staff, platform = api_keys["trust_safety"], api_keys["platform"]
    kept, withdrawn, newer = pdq(), pdq(), pdq()
    with TestClient(create_app(settings)) as first:
        assert state_of(first).index_runner.startup.source == "database"  # type: ignore[union-attr]
        register(first, staff, kept)
        withdrawn_id = register(first, staff, withdrawn)
        snapshot_now(first)
        # After the snapshot: one more item, and one deactivation.
        register(first, staff, newer)
        gone = first.delete(f"/items/{withdrawn_id}?reason=withdrawn", headers=bearer(staff))
        assert gone.status_code == 200, gone.text
    assert snapshot.current(settings.snapshot_dir) is not None

    with TestClient(create_app(settings)) as second:
        startup = state_of(second).index_runner.startup  # type: ignore[union-attr]
        assert startup is not None
        assert startup.source == "snapshot"
        assert decision(second, platform, kept) == "block"
        assert decision(second, platform, newer) == "block"
        assert decision(second, platform, withdrawn) == "allow"
        assert state_of(second).index.sizes()["pdq"] == 2


def test_a_snapshot_ahead_of_the_database_is_ignored(
    settings: Settings, api_keys: dict[str, str]
) -> None:
    """A snapshot copied from another database (or kept across a restore from an
    older backup) holds changes this database lacks: the load comes from the database."""
    staff = api_keys["trust_safety"]
    with TestClient(create_app(settings)) as client:
        register(client, staff, pdq())
        snapshot_now(client)
    other = settings.model_copy(
        update={"data_dir": settings.data_dir.parent / "other", "database_url": None}
    )
    db.upgrade(other)
    shutil.copytree(settings.snapshot_dir, other.snapshot_dir)
    with TestClient(create_app(other)) as client:
        startup = state_of(client).index_runner.startup  # type: ignore[union-attr]
        assert startup is not None
        assert startup.source == "database"
        assert state_of(client).index.sizes()["pdq"] == 0


def test_index_routes_and_readyz_answer_503_until_the_index_is_loaded(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    state = state_of(client)
    state.index.ready = False
    try:
        for response in (
            client.post(
                "/check/hashes",
                json={"hashes": {"pdq": [pdq()]}},
                headers=bearer(api_keys["platform"]),
            ),
            client.post(
                "/register",
                json={"hashes": {"pdq": [pdq()]}, "category": "ncii"},
                headers=bearer(api_keys["trust_safety"]),
            ),
            client.get("/items/1", headers=bearer(api_keys["trust_safety"])),
            client.post(
                "/import",
                files={"file": ("list.txt", b"signal,hash\n")},
                data={"format": "csv", "category": "ncii"},
                headers=bearer(api_keys["admin"]),
            ),
            client.get("/readyz"),
        ):
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "index_loading"
        assert client.get("/healthz").status_code == 200
    finally:
        state.index.ready = True
    assert client.get("/readyz").status_code == 200
