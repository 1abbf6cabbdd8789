"""End to end: the ``hashwall`` command line and a real server on loopback."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
from collections import Counter
from pathlib import Path

import httpx

from testkit import edits
from testkit.multipart import multipart
from tests.conftest import PHOTOS
from tests.e2e.conftest import HASHWALL, env, free_port, hashwall, server, start_server
from tests.waiting import wait_until

__all__ = ["env", "server"]  # fixtures, re-exported for modules that import them from here


def test_keys_commands(env: dict[str, str]) -> None:
    assert hashwall(env, "db", "upgrade").returncode == 0
    created = hashwall(env, "keys", "create", "--name", "acme", "--scopes", "check,register")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("hw_")
    assert len(key) > 40
    listed = hashwall(env, "keys", "list")
    assert listed.returncode == 0
    assert "acme\tcheck,register" in listed.stdout
    assert key not in listed.stdout
    again = hashwall(env, "keys", "create", "--name", "acme", "--scopes", "check")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    bad_scope = hashwall(env, "keys", "create", "--name", "x", "--scopes", "check,root")
    assert bad_scope.returncode != 0
    assert "unknown scope" in bad_scope.stderr
    assert hashwall(env, "keys", "revoke", "acme").returncode == 0
    assert "\t-" not in hashwall(env, "keys", "list").stdout
    assert hashwall(env, "keys", "revoke", "nobody").returncode == 1


def test_register_and_check_over_a_real_server(env: dict[str, str], server: str) -> None:
    staff_key = hashwall(env, "keys", "create", "--name", "ts", "--scopes", "register").stdout
    platform_key = hashwall(env, "keys", "create", "--name", "web", "--scopes", "check").stdout
    staff = {"Authorization": f"Bearer {staff_key.strip()}"}
    platform = {"Authorization": f"Bearer {platform_key.strip()}"}
    photo, other = PHOTOS[12], PHOTOS[40]
    with httpx.Client(base_url=server, timeout=30) as http:
        assert http.get("/healthz").json()["status"] == "ok"
        assert http.get("/docs").status_code == 200
        assert "/check" in http.get("/openapi.json").json()["paths"]
        registered = http.post(
            "/register",
            files={"file": (photo.name, photo.read_bytes())},
            data={"category": "illegal_filming", "case_ref": "K-9"},
            headers=staff,
        )
        assert registered.status_code == 201, registered.text
        item_id = registered.json()["item_id"]
        upload = edits.jpeg(edits.pad(edits.mirror(edits.load_rgb(str(photo))), 0.2), 60)
        checked = http.post(
            "/check",
            files={"file": ("u.jpg", upload)},
            data={"upload_ref": "e2e-1"},
            headers=platform,
        ).json()
        assert checked["decision"] == "block"
        assert checked["matches"][0]["item_id"] == item_id
        assert checked["matches"][0]["transform"] == "flip_horizontal"
        assert checked["matches"][0]["category"] == "illegal_filming"
        unrelated = http.post(
            "/check", files={"file": ("o", other.read_bytes())}, headers=platform
        ).json()
        assert unrelated["decision"] == "allow"
        truncated = http.post("/check", files={"file": ("t.jpg", upload[:5000])}, headers=platform)
        assert truncated.status_code == 422
        assert truncated.json()["error"] == "corrupt_image"
        assert http.post("/check", files={"file": ("u.jpg", upload)}).status_code == 401


def decisions(
    url: str, upload: bytes, platform: dict[str, str], made: Counter[str]
) -> set[tuple[str, int | None]]:
    """(decision, best item id) of 16 checks of ``upload``, each on a new
    connection; ``made`` counts each decision by its metric label."""
    # New connections spread over both processes; all must agree.
    seen = set()
    for _ in range(16):
        with httpx.Client(base_url=url, timeout=30) as fresh:
            body = fresh.post("/check", files={"file": ("u", upload)}, headers=platform).json()
        best = body["matches"][0]["item_id"] if body["matches"] else None
        seen.add((body["decision"], best))
        made[f'decision="{body["decision"]}"'] += 1
    return seen


def checks_counted(metrics: str) -> dict[str, float]:
    """hashwall_checks_total by its first label, from a /metrics page."""
    return {
        line.split("{")[1].split(",")[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("hashwall_checks_total{")
    }


def test_two_worker_processes_stay_in_step(env: dict[str, str], tmp_path: Path) -> None:
    """A registration answered by one worker process is matched by every worker."""
    log = tmp_path / "workers.log"
    staff_key = hashwall(env, "keys", "create", "--name", "ts", "--scopes", "register").stdout
    platform_key = hashwall(env, "keys", "create", "--name", "web", "--scopes", "check").stdout
    staff = {"Authorization": f"Bearer {staff_key.strip()}"}
    platform = {"Authorization": f"Bearer {platform_key.strip()}"}
    photo = PHOTOS[14]
    upload = edits.jpeg(edits.rotate90(edits.load_rgb(str(photo)), 2), 80)
    process, url = start_server(env, log, workers=2)
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            item = http.post(
                "/register",
                files={"file": ("p", photo.read_bytes())},
                data={"category": "ncii"},
                headers=staff,
            ).json()

            made: Counter[str] = Counter()

            def settles_on(expected: set[tuple[str, int | None]]) -> bool:
                # Workers follow the change feed every 0.25 s; the deadline is a
                # hang guard, not the time they are allowed.
                return wait_until(
                    lambda: decisions(url, upload, platform, made) == expected,
                    deadline_s=60,
                    every_s=0.25,
                )

            assert settles_on({("block", item["item_id"])})
            http.delete(f"/items/{item['item_id']}?reason=withdrawn", headers=staff)
            assert settles_on({("allow", None)})
            # /metrics adds up both processes' counts, whichever answers.
            ops_key = hashwall(env, "keys", "create", "--name", "ops", "--scopes", "admin").stdout
            page = http.get("/metrics", headers={"Authorization": f"Bearer {ops_key.strip()}"})
            assert page.status_code == 200
            assert checks_counted(page.text) == {name: float(n) for name, n in made.items()}
    finally:
        process.terminate()
        process.wait(timeout=20)
    # The server logs JSON lines, one per request with its id, never a key.
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("logger") == "hashwall.access"]
    assert len(requests) >= 34
    assert all(line["request_id"] != "-" for line in requests)
    assert {line["route"] for line in requests} >= {"/check", "/register", "/metrics"}
    assert {line["platform"] for line in requests if line["route"] == "/check"} == {"web"}
    text = log.read_text()
    for key in (staff_key, platform_key, ops_key):
        assert key.strip() not in text


def test_two_clients_that_connect_at_once_are_spread_over_two_workers(tmp_path: Path) -> None:
    """The workers share one socket, and the first to wake takes both connections
    (7 of 8 tries before app/balance.py); that worker hands one back with
    ``Connection: close``, after which each keep-alive client has its own process."""
    env = {**os.environ, "HASHWALL_DATA_DIR": str(tmp_path / "var"), "HASHWALL_DATABASE_URL": ""}
    key = hashwall(env, "keys", "create", "--name", "web", "--scopes", "check").stdout.strip()
    port = free_port()
    log = tmp_path / "workers.log"
    uploads = [multipart(edits.jpeg(edits.load_rgb(str(photo)), 85)) for photo in PHOTOS[:10]]
    process, _ = start_server(env, log, port, workers=2)
    try:
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def client() -> None:
            # Checks, not a trivial route: a worker busy hashing is the one that
            # loses the race for the next connection, as in real use.
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            barrier.wait()  # both connect at the same moment
            for i in range(120):
                body, content_type = uploads[i % len(uploads)]
                headers = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
                connection.request("POST", "/check", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                statuses.append(response.status)
            connection.close()

        threads = [threading.Thread(target=client) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert statuses == [200] * 240
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    served = [line["process"] for line in lines if line.get("route") == "/check"]
    assert len(served) == 240
    # By the last hundred checks, each process answers its own client.
    last = Counter(served[-100:])
    assert len(last) == 2, last
    assert min(last.values()) >= 30, last


def test_commands_use_one_database_from_any_folder(tmp_path: Path) -> None:
    """Run from two folders with no data directory set, the commands find one
    database (the user's data directory), say which, and a reading command
    refuses to answer from a database that does not exist."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHWALL_")}
    env["HOME"] = str(home)
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()

    def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [HASHWALL, *args], env=env, cwd=folder, capture_output=True, text=True, timeout=60
        )

    expected = home / ".local" / "share" / "hashwall" / "hashwall.db"
    empty = run(first, "keys", "list")
    assert empty.returncode == 1
    assert f"no database at {expected}" in empty.stderr
    assert not expected.exists()
    made = run(first, "keys", "create", "--name", "acme", "--scopes", "check")
    assert made.returncode == 0, made.stderr
    assert f"database: sqlite:///{expected}" in made.stderr
    listed = run(second, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0] == "name\tscopes\tcreated\trevoked\tplatform"
    assert listed.stdout.splitlines()[1].startswith("acme\tcheck\t")
    assert f"database: sqlite:///{expected}" in listed.stderr
    assert not (first / "var").exists()
    assert not (second / "var").exists()
