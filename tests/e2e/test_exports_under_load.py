"""Export totals equal the checks made, exactly, under concurrent load on a real server."""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from datetime import UTC, datetime

import httpx

from tests.e2e.conftest import hashwall

PLATFORMS = ("alpha", "beta", "gamma")
THREADS = 6
CHECKS_PER_THREAD = 350  # 2,100 checks in all


def register_known(server: str, staff: str) -> str:
    """Register one random PDQ and return it."""
    known = secrets.token_hex(32)
    with httpx.Client(base_url=server, timeout=30) as http:
        registered = http.post(
            "/register",
            json={"hashes": {"pdq": [known]}, "category": "deepfake"},
            headers={"Authorization": f"Bearer {staff}"},
        )
        assert registered.status_code == 201, registered.text
    return known


def send_checks(
    server: str, keys: dict[str, str], known: str
) -> tuple[Counter[tuple[str, str]], list[str]]:
    """Every thread's checks; returns (platform, decision) counts of the answered
    ones and a line per check that was not answered 200."""
    sent: Counter[tuple[str, str]] = Counter()
    failures: list[str] = []
    lock = threading.Lock()

    def drive(worker: int) -> None:
        platform = PLATFORMS[worker % len(PLATFORMS)]
        headers = {"Authorization": f"Bearer {keys[platform]}"}
        local: Counter[tuple[str, str]] = Counter()
        with httpx.Client(base_url=server, timeout=60) as client:
            for i in range(CHECKS_PER_THREAD):
                # One check in five is a re-upload of the registered item.
                pdq = known if i % 5 == 0 else secrets.token_hex(32)
                response = client.post(
                    "/check/hashes", json={"hashes": {"pdq": [pdq]}}, headers=headers
                )
                if response.status_code != 200:
                    with lock:
                        failures.append(f"{response.status_code} {response.text[:200]}")
                    continue
                local[(platform, response.json()["decision"])] += 1
        with lock:
            sent.update(local)

    threads = [threading.Thread(target=drive, args=(w,)) for w in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent, failures


def logged_blocks(http: httpx.Client, ops: str) -> int:
    """Block events in the match log, page after page."""
    logged, cursor = 0, None
    while True:
        params = {"limit": "1000", "decision": "block"}
        if cursor:
            params["cursor"] = cursor
        page = http.get("/events", params=params, headers={"Authorization": f"Bearer {ops}"})
        body = page.json()
        logged += len(body["events"])
        cursor = body["next_cursor"]
        if cursor is None:
            return logged


def test_every_export_total_equals_the_checks_sent(env: dict[str, str], server: str) -> None:
    keys = {
        name: hashwall(
            env, "keys", "create", "--name", name, "--scopes", "check,export"
        ).stdout.strip()
        for name in PLATFORMS
    }
    staff = hashwall(env, "keys", "create", "--name", "ts", "--scopes", "register").stdout.strip()
    ops = hashwall(env, "keys", "create", "--name", "ops", "--scopes", "export_all").stdout.strip()
    known = register_known(server, staff)

    # The server's clock is the wall clock: the checks' days are asked for from
    # the first to the last, so a run across midnight (or New Year) adds up too.
    first_day = datetime.now(UTC).date()
    sent, failures = send_checks(server, keys, known)
    assert failures == []
    total = sum(sent.values())
    assert total == THREADS * CHECKS_PER_THREAD

    last_day = datetime.now(UTC).date()
    days = {"from": first_day.isoformat(), "to": last_day.isoformat()}
    with httpx.Client(base_url=server, timeout=30) as http:
        everything = http.get(
            "/stats/matches",
            params={**days, "by": "platform,decision"},
            headers={"Authorization": f"Bearer {ops}"},
        ).json()
        assert everything["totals"]["checks"] == total
        assert everything["totals"]["blocks"] == sum(
            n for (_, d), n in sent.items() if d == "block"
        )
        rows: Counter[tuple[str, str]] = Counter()
        for row in everything["rows"]:
            rows[(row["platform"], row["decision"])] += row["checks"]
        assert rows == sent
        for platform in PLATFORMS:
            own = http.get(
                "/stats/matches",
                params={**days, "group_by": "month"},
                headers={"Authorization": f"Bearer {keys[platform]}"},
            ).json()
            assert own["totals"]["checks"] == sum(n for (p, _), n in sent.items() if p == platform)
        reports = [
            http.get(
                "/stats/report",
                params={"year": str(year)},
                headers={"Authorization": f"Bearer {ops}"},
            ).json()
            for year in range(first_day.year, last_day.year + 1)
        ]
        assert sum(r["checks"]["checks"] for r in reports) == total
        assert sum(r["reuploads"]["blocked"] for r in reports) == everything["totals"]["blocks"]
        # Every block is in the match log too, page after page.
        assert logged_blocks(http, ops) == everything["totals"]["blocks"]
