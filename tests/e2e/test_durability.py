"""A server killed with SIGKILL in the middle of a burst loses nothing it answered."""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from app import db
from app.models import Item, ItemHash
from app.settings import Settings
from tests.e2e.conftest import hashwall, start_server
from tests.waiting import wait_until


class Burst:
    """Registrations and checks sent at once, recording only what was answered."""

    def __init__(self, url: str, staff: str, web: str) -> None:
        self.url, self.staff, self.web = url, staff, web
        self.registered: dict[int, str] = {}  # item id -> its PDQ, for every 201
        self.blocked: dict[str, int] = {}  # upload_ref -> item id, for every answered block
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def register(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                code = secrets.token_hex(32)
                try:
                    response = client.post(
                        "/register",
                        json={"hashes": {"pdq": [code]}, "category": "ncii"},
                        headers={"Authorization": f"Bearer {self.staff}"},
                    )
                except httpx.TransportError:
                    return  # the server died mid-request: no answer, no promise
                if response.status_code == 201:
                    with self.lock:
                        self.registered[response.json()["item_id"]] = code

    def check(self, worker: int) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            for n in range(1_000_000):
                if self.stop.is_set():
                    return
                with self.lock:
                    known = list(self.registered.items())[-20:]
                if not known:
                    time.sleep(0.01)
                    continue
                item_id, code = known[n % len(known)]
                ref = f"w{worker}-{n}"
                try:
                    response = client.post(
                        "/check/hashes",
                        json={"hashes": {"pdq": [code]}, "upload_ref": ref},
                        headers={"Authorization": f"Bearer {self.web}"},
                    )
                except httpx.TransportError:
                    return
                body = response.json()
                if response.status_code == 200 and body["decision"] == "block":
                    with self.lock:
                        self.blocked[ref] = body["matches"][0]["item_id"]

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.register) for _ in range(2)]
        threads += [threading.Thread(target=self.check, args=(w,)) for w in range(3)]
        for thread in threads:
            thread.start()
        return threads


def logged_refs(client: httpx.Client, auth: dict[str, str]) -> dict[str, int]:
    """upload_ref -> item id of every logged match event, through every page."""
    logged: dict[str, int] = {}
    cursor = None
    while True:
        params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = client.get("/events", params=params, headers=auth).json()
        logged.update({e["upload_ref"]: e["item_id"] for e in page["events"] if e["upload_ref"]})
        cursor = page["next_cursor"]
        if cursor is None:
            return logged


def assert_answered_writes_kept(url: str, ops: str, burst: Burst) -> dict[str, int]:
    """Every answered registration and block survived; returns the index sizes."""
    with httpx.Client(base_url=url, timeout=30) as client:
        auth = {"Authorization": f"Bearer {ops}"}
        for item_id, code in burst.registered.items():
            item = client.get(f"/items/{item_id}", headers=auth)
            assert item.status_code == 200
            assert item.json()["hashes"]["pdq"] == [code]
            answer = client.post("/check/hashes", json={"hashes": {"pdq": [code]}}, headers=auth)
            assert answer.json()["decision"] == "block"
            assert answer.json()["matches"][0]["item_id"] == item_id
        logged = logged_refs(client, auth)
        missing = {ref: item for ref, item in burst.blocked.items() if logged.get(ref) != item}
        assert missing == {}
        index: dict[str, int] = client.get("/readyz").json()["index"]
        return index


def active_hash_counts(env: dict[str, str]) -> dict[str, int]:
    """Hashes of active items in the database, by signal."""
    settings = Settings(
        data_dir=Path(env["HASHWALL_DATA_DIR"]), database_url=env["HASHWALL_DATABASE_URL"]
    )
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        rows = dict(
            session.execute(
                select(ItemHash.signal, func.count())
                .join(Item, Item.id == ItemHash.item_id)
                .where(Item.active.is_(True))
                .group_by(ItemHash.signal)
            ).all()
        )
    engine.dispose()
    return rows


def test_kill_9_mid_burst_loses_no_answered_write(env: dict[str, str], tmp_path: Path) -> None:
    staff = hashwall(env, "keys", "create", "--name", "ts", "--scopes", "register").stdout.strip()
    web = hashwall(env, "keys", "create", "--name", "web", "--scopes", "check").stdout.strip()
    ops = hashwall(env, "keys", "create", "--name", "ops", "--scopes", "admin").stdout.strip()
    log = tmp_path / "server.log"
    process, url = start_server(env, log)

    burst = Burst(url, staff, web)
    threads = burst.start()
    wait_until(
        lambda: len(burst.registered) >= 60 and len(burst.blocked) >= 60,
        what=lambda: f"60 registered and blocked: {len(burst.registered), len(burst.blocked)}",
    )
    process.kill()  # SIGKILL: no shutdown, no flush, mid-request
    process.wait(timeout=10)
    burst.stop.set()
    for thread in threads:
        thread.join(timeout=20)

    process, url = start_server(env, log)
    try:
        index = assert_answered_writes_kept(url, ops, burst)
    finally:
        process.terminate()
        process.wait(timeout=10)
    # The restarted index holds exactly the database's active hashes.
    rows = active_hash_counts(env)
    assert index == {"pdq": rows.get("pdq", 0), "phash": rows.get("phash", 0), "sha256": 0}
    assert index["pdq"] >= len(burst.registered)
