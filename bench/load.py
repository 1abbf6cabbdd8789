"""Load test of a real server: a 90/10 mix of checks and registrations, no lost writes.

``hashwall serve`` runs in a subprocess on a fresh SQLite (or a PostgreSQL scratch
schema); 25 corpus photos are registered first. Then concurrent clients (threads, each
with its own ``httpx.Client``) send for ``--seconds``: 90% ``POST /check`` of 1-MP JPEGs
(edits of the registered photos and unregistered photos) and 10% ``POST /register``
(category ``ncii``) of distinct 1-MP JPEG collages of 16 photo tiles, so that each is a
new item and a ``200 duplicate`` answer is a surprise (counted apart). Every upload is
encoded before the clock starts.

Afterwards it checks that nothing was lost: every registration answered 201 is found by
``GET /items/{id}``, the year's registrations in ``GET /stats/report`` are the 201s, and
the checks total of ``GET /stats/matches`` for the run's days is the number of checks
answered 200 (a 503 is not a check).

A short overload phase follows: ``--overload-threads`` clients for ``--overload-seconds``
against a server with ``HASHWALL_MAX_IN_FLIGHT=--shed-limit`` (sheds with 503 and
``Retry-After``, which the clients honour), then the same against one with a limit too large
to shed, each on a fresh database.

    .venv/bin/python -m bench.load [--seconds 60] [--threads 8] [--workers 1]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import httpx
import numpy as np

from app.db import scratch_schema
from bench.speed import CHECK_EDITS, ONE_MP, free_port, load_corpus, q, server, wait_ready
from hashing.types import u8
from testkit.edits import EDITS, Pixels, jpeg

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO / "tests" / "fixtures" / "photos"
HASHWALL = str(Path(sys.executable).parent / "hashwall")
GRID = 4
TILE = (-(-ONE_MP[0] // GRID), -(-ONE_MP[1] // GRID))
"""Width and height of a collage tile; the collage is cut back to ``ONE_MP``."""


# ---------------------------------------------------------------- uploads


class Registrations:
    """Distinct 1-MP JPEG collages: tile ``k`` of collage ``n`` is a photo (one of the
    corpus, flipped one of 4 ways) drawn from a generator seeded with ``(seed, n)``.
    The first ``pool`` are encoded up front; beyond that a client makes one on the
    spot (outside its timing) and the report says how many."""

    def __init__(self, photos: Sequence[Pixels], pool: int, seed: int) -> None:
        tiles = [u8(cv2.resize(p, TILE, interpolation=cv2.INTER_AREA)) for p in photos]
        self.tiles = [
            np.ascontiguousarray(t[:: 1 - 2 * (f & 1), :: 1 - 2 * (f >> 1)])
            for t in tiles
            for f in range(4)
        ]
        self.seed = seed
        self.pool = [self.make(n) for n in range(pool)]

    def make(self, n: int) -> bytes:
        rng = random.Random(f"{self.seed}-{n}")
        w, h = TILE
        canvas = np.empty((h * GRID, w * GRID, 3), dtype=np.uint8)
        for row in range(GRID):
            for col in range(GRID):
                canvas[row * h : (row + 1) * h, col * w : (col + 1) * w] = rng.choice(self.tiles)
        return jpeg(np.ascontiguousarray(canvas[: ONE_MP[1], : ONE_MP[0]]))

    def get(self, n: int) -> tuple[bytes, bool]:
        """The ``n``-th collage, and whether it had to be made during the load."""
        if n < len(self.pool):
            return self.pool[n], False
        return self.make(n), True


@dataclass(frozen=True, slots=True)
class Uploads:
    registered: list[bytes]
    """Photos registered before the load (setup)."""
    checks: list[bytes]
    check_hits: int
    """How many of ``checks`` are edits of registered photos."""
    registrations: Registrations


def make_uploads(photos: Sequence[Pixels], register: int, pool: int, seed: int) -> Uploads:
    registered = list(photos[::2][:register])
    unregistered = [p for i, p in enumerate(photos) if i % 2 or i // 2 >= register]
    checks = [EDITS[e](p) for p in registered for e in CHECK_EDITS]
    hits = len(checks)
    checks += [jpeg(p) for p in unregistered] + [EDITS["mirror"](p) for p in unregistered]
    return Uploads([jpeg(p) for p in registered], checks, hits, Registrations(photos, pool, seed))


# ---------------------------------------------------------------- server


def run_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [HASHWALL, *args], env=env, cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"hashwall {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip().splitlines()[-1]


@contextmanager
def serve(
    env: dict[str, str], workers: int, log: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``hashwall serve`` on a free port, stopped with SIGINT (then SIGKILL) at the end."""
    port = free_port()
    with server(env, port, log, workers) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc, log)
        yield base, proc


@contextmanager
def database(url: str) -> Iterator[str]:
    if url.startswith("postgresql"):
        with scratch_schema(url, "hw_load") as scratch:
            yield scratch
    else:
        yield url


# ---------------------------------------------------------------- load


@dataclass(frozen=True, slots=True)
class Answer:
    route: str
    status: int
    """0: no answer (the error says why)."""
    ms: float
    retry_after: bool = False
    item_id: int | None = None
    error: str = ""


@dataclass
class Phase:
    label: str
    threads: int
    seconds: float = 0.0
    answers: list[Answer] = field(default_factory=list)
    made_during_load: int = 0
    setup_checks: int = 0
    export_checks: int = -1
    report_registrations: int = -1
    items_found: int = 0
    items_missing: list[str] = field(default_factory=list)
    registered_at_setup: int = 0
    server_errors_logged: int = 0

    def of(self, route: str) -> list[Answer]:
        return [a for a in self.answers if a.route == route]

    def created(self) -> list[Answer]:
        return [a for a in self.answers if a.route == "register" and a.status == 201]

    def checks_ok(self) -> int:
        return sum(a.route == "check" and a.status == 200 for a in self.answers)

    def bad_5xx(self) -> list[Answer]:
        return [a for a in self.answers if a.status >= 500 and a.status != 503]

    def no_answer(self) -> list[Answer]:
        return [a for a in self.answers if a.status == 0]

    def lost_writes(self) -> list[str]:
        lost = list(self.items_missing)
        created = self.created()
        ids = [a.item_id for a in created]
        if len(set(ids)) != len(ids):
            lost.append(f"{len(ids) - len(set(ids))} item ids answered twice")
        expected_checks = self.setup_checks + self.checks_ok()
        if self.export_checks != expected_checks:
            lost.append(
                f"/stats/matches counts {self.export_checks} checks, "
                f"{expected_checks} were answered 200"
            )
        expected_items = self.registered_at_setup + len(created)
        if self.report_registrations != expected_items:
            lost.append(
                f"/stats/report counts {self.report_registrations} registrations, "
                f"{expected_items} were answered 201"
            )
        return lost


def send(client: httpx.Client, route: str, data: bytes, headers: dict[str, str], n: int) -> Answer:
    files = {"file": (f"upload-{n}.jpg", data, "image/jpeg")}
    extra = {"category": "ncii", "case_ref": f"load-{n}"} if route == "register" else None
    started = time.perf_counter()
    try:
        r = client.post(f"/{route}", files=files, data=extra, headers=headers)
    except httpx.HTTPError as exc:
        ms = (time.perf_counter() - started) * 1000
        return Answer(route, 0, ms, error=f"{type(exc).__name__}: {exc}")
    ms = (time.perf_counter() - started) * 1000
    item_id = None
    if route == "register" and r.status_code in (200, 201):
        item_id = int(r.json()["item_id"])
    error = r.text[:300] if r.status_code >= 500 and r.status_code != 503 else ""
    return Answer(route, r.status_code, ms, "retry-after" in r.headers, item_id, error)


def drive(
    phase: Phase, base: str, key: str, uploads: Uploads, seconds: float, backoff: float, seed: int
) -> None:
    """``phase.threads`` clients for ``seconds``, each choosing check or register (90/10)
    with its own seeded generator; a 503 client waits Retry-After (at most ``backoff``)."""
    headers = {"Authorization": f"Bearer {key}"}
    lock = threading.Lock()
    registrations = iter(range(10**9))
    barrier = threading.Barrier(phase.threads + 1)
    deadline = [0.0]

    def worker(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        mine: list[Answer] = []
        made = 0
        with httpx.Client(base_url=base, timeout=120) as client:
            client.get("/healthz")  # connect before the clock starts
            barrier.wait()
            while time.perf_counter() < deadline[0]:
                if rng.random() < 0.1:
                    with lock:
                        n = next(registrations)
                    data, late = uploads.registrations.get(n)
                    made += late
                    answer = send(client, "register", data, headers, n)
                else:
                    n = rng.randrange(len(uploads.checks))
                    answer = send(client, "check", uploads.checks[n], headers, n)
                mine.append(answer)
                if answer.status == 503 and answer.retry_after:
                    time.sleep(max(0.0, min(backoff, deadline[0] - time.perf_counter())))
        with lock:
            phase.answers.extend(mine)
            phase.made_during_load += made

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(phase.threads)]
    for t in threads:
        t.start()
    started = time.perf_counter()
    deadline[0] = started + seconds
    barrier.wait()
    for t in threads:
        t.join()
    phase.seconds = time.perf_counter() - started


def run_phase(
    label: str,
    *,
    uploads: Uploads,
    database_url: str,
    workers: int,
    threads: int,
    seconds: float,
    server_env: dict[str, str],
    backoff: float,
    seed: int,
) -> Phase:
    phase = Phase(label, threads)
    with tempfile.TemporaryDirectory(prefix="hashwall-load-") as tmp, database(database_url) as url:
        env = {
            **os.environ,
            **server_env,
            "HASHWALL_DATA_DIR": tmp,
            "HASHWALL_DATABASE_URL": url,
        }
        log = Path(tmp) / "server.log"
        with serve(env, workers, log) as (base, proc):
            key = run_cli(env, "keys", "create", "--name", "load", "--scopes", "check,register")
            ops = run_cli(env, "keys", "create", "--name", "ops", "--scopes", "admin")
            headers = {"Authorization": f"Bearer {key}"}
            ops_headers = {"Authorization": f"Bearer {ops}"}
            first_day = datetime.now(UTC).date()
            with httpx.Client(base_url=base, timeout=120) as client:
                for i, data in enumerate(uploads.registered):
                    r = client.post(
                        "/register",
                        files={"file": (f"setup-{i}.jpg", data, "image/jpeg")},
                        data={"category": "ncii", "case_ref": f"setup-{i}"},
                        headers=headers,
                    )
                    if r.status_code != 201:
                        raise SystemExit(f"setup register: {r.status_code} {r.text}")
                    phase.registered_at_setup += 1
                for data in uploads.checks[:: max(1, len(uploads.checks) // 20)]:
                    r = client.post("/check", files={"file": ("w.jpg", data)}, headers=headers)
                    if r.status_code != 200:
                        raise SystemExit(f"warm-up check: {r.status_code} {r.text}")
                    phase.setup_checks += 1
                time.sleep(2 * 0.25 * workers)  # other workers apply the registrations
            drive(phase, base, key, uploads, seconds, backoff, seed)
            last_day = datetime.now(UTC).date()
            with httpx.Client(base_url=base, timeout=120, headers=ops_headers) as client:
                for a in phase.created():
                    r = client.get(f"/items/{a.item_id}")
                    if r.status_code == 200 and r.json()["active"]:
                        phase.items_found += 1
                    else:
                        phase.items_missing.append(
                            f"item {a.item_id}: {r.status_code} {r.text[:200]}"
                        )
                r = client.get(
                    "/stats/matches", params={"from": str(first_day), "to": str(last_day)}
                )
                r.raise_for_status()
                phase.export_checks = int(r.json()["totals"]["checks"])
                reg = 0
                for year in range(first_day.year, last_day.year + 1):
                    r = client.get("/stats/report", params={"year": year})
                    r.raise_for_status()
                    reg += int(r.json()["registrations"]["total"])
                phase.report_registrations = reg
            if proc.poll() is not None:
                raise SystemExit(f"the server died:\n{log.read_text()}")
        text = log.read_text(errors="replace")
        phase.server_errors_logged = text.count("Traceback")
        if phase.server_errors_logged:
            print(f"--- {label}: server log with tracebacks ---\n{text[-6000:]}", file=sys.stderr)
    return phase


# ---------------------------------------------------------------- report


def statuses(answers: Sequence[Answer]) -> str:
    counts = Counter(a.status for a in answers)
    parts = []
    for status, n in sorted(counts.items()):
        name = "no answer" if status == 0 else str(status)
        if status == 503:
            with_header = sum(a.status == 503 and a.retry_after for a in answers)
            parts.append(f"503: {n} ({with_header} with Retry-After)")
        elif status == 200 and answers and answers[0].route == "register":
            parts.append(f"200 duplicate: {n}")
        else:
            parts.append(f"{name}: {n}")
    return ", ".join(parts)


def table(phases: Sequence[Phase]) -> list[str]:
    lines = [
        "| phase | route | answers | by status | accepted p50 ms | p95 ms | p99 ms "
        "| accepted/s | answers/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for phase in phases:
        for route in ("check", "register"):
            answers = phase.of(route)
            ok = [a.ms for a in answers if 200 <= a.status < 300]
            cells = f"{q(ok, 50):.1f} | {q(ok, 95):.1f} | {q(ok, 99):.1f}" if ok else "- | - | -"
            lines.append(
                f"| {phase.label} | POST /{route} | {len(answers)} | {statuses(answers)} "
                f"| {cells} | {len(ok) / phase.seconds:.1f} | {len(answers) / phase.seconds:.1f} |"
            )
    return lines


def verdicts(phase: Phase) -> list[str]:
    shed = [a for a in phase.answers if a.status == 503]
    bad = phase.bad_5xx()
    lost = phase.lost_writes()
    lines = [
        f"- **{phase.label}** ({phase.threads} clients, {phase.seconds:.1f} s): "
        f"5xx other than 503: **{len(bad)}**; 503 shed: {len(shed)} "
        f"({sum(a.retry_after for a in shed)} with Retry-After); no answer: "
        f"{len(phase.no_answer())}; tracebacks in the server log: {phase.server_errors_logged}. "
        f"Registrations answered 201: {len(phase.created())}, found by GET /items: "
        f"{phase.items_found}; /stats/report registrations {phase.report_registrations} "
        f"(setup {phase.registered_at_setup}); /stats/matches checks {phase.export_checks} = "
        f"{phase.setup_checks} warm-up + {phase.checks_ok()} answered 200. "
        f"Lost writes: **{len(lost)}**"
        + (f" ({'; '.join(lost[:5])})" if lost else "")
        + (
            f". {phase.made_during_load} collages were made during the load"
            if phase.made_during_load
            else ""
        )
        + "."
    ]
    for a in (bad + phase.no_answer())[:5]:
        lines.append(f"  - {a.route} {a.status} after {a.ms:.0f} ms: {a.error}")
    return lines


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load",
        description="Checks and registrations (90/10) against a real server; no lost writes.",
    )
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="folder of photos")
    parser.add_argument("--images", type=int, default=54, help="photos to use (default: 54)")
    parser.add_argument("--register", type=int, default=25, help="photos registered at setup")
    parser.add_argument("--seconds", type=float, default=60, help="length of the main load")
    parser.add_argument("--threads", type=int, default=8, help="clients of the main load")
    parser.add_argument("--workers", type=int, default=1, help="hashwall serve --workers")
    parser.add_argument(
        "--pool", type=int, default=400, help="registration collages encoded before the load"
    )
    parser.add_argument("--overload-threads", type=int, default=32)
    parser.add_argument("--overload-seconds", type=float, default=15, help="0: no overload phase")
    parser.add_argument(
        "--shed-limit", type=int, default=4, help="HASHWALL_MAX_IN_FLIGHT of the shedding run"
    )
    parser.add_argument(
        "--backoff", type=float, default=1.0, help="seconds a client waits after a 503"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--database-url",
        default="",
        help="e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test (a scratch schema per "
        "server, dropped afterwards); default: SQLite in a temporary directory",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    cv2.setNumThreads(1)
    print(f"Started with {load_average()}.", flush=True)
    photos = load_corpus(args.photos, args.images)
    uploads = make_uploads(photos, args.register, args.pool, args.seed)

    def phase(label: str, threads: int, seconds: float, server_env: dict[str, str]) -> Phase:
        print(f"{label}: {threads} clients for {seconds:g} s", file=sys.stderr, flush=True)
        return run_phase(
            label,
            uploads=uploads,
            database_url=args.database_url,
            workers=args.workers,
            threads=threads,
            seconds=seconds,
            server_env=server_env,
            backoff=args.backoff,
            seed=args.seed,
        )

    phases = [phase(f"mix, {args.threads} clients", args.threads, args.seconds, {})]
    if args.overload_seconds > 0:
        for label, limit in (
            (f"overload, MAX_IN_FLIGHT={args.shed_limit}", args.shed_limit),
            ("overload, no shedding (MAX_IN_FLIGHT=100000)", 100_000),
        ):
            env = {"HASHWALL_MAX_IN_FLIGHT": str(limit)}
            phases.append(phase(label, args.overload_threads, args.overload_seconds, env))
    kind = "PostgreSQL" if args.database_url.startswith("postgresql") else "SQLite"
    mean_kb = sum(map(len, uploads.checks)) / len(uploads.checks) / 1024
    reg_kb = (
        sum(map(len, uploads.registrations.pool)) / max(1, len(uploads.registrations.pool)) / 1024
    )
    out = [
        f"`hashwall serve --workers {args.workers}` on {kind}, a fresh database per phase, "
        f"{len(uploads.registered)} photos registered at setup; checks draw from "
        f"{len(uploads.checks)} 1-MP JPEGs ({uploads.check_hits} edits of registered photos; "
        f"mean {mean_kb:.0f} KB), registrations are distinct 1-MP JPEG collages of "
        f"{GRID * GRID} photo tiles (mean {reg_kb:.0f} KB, {len(uploads.registrations.pool)} "
        "encoded up front). Latency columns are of accepted (2xx) answers; clients share "
        f"the {os.cpu_count()} CPUs with the server. After a 503 a client waits "
        f"{args.backoff:g} s (Retry-After).",
        "",
        *table(phases),
        "",
        *(line for phase in phases for line in verdicts(phase)),
        "",
        f"Finished with {load_average()} after {time.perf_counter() - started:.0f} s.",
    ]
    print("\n".join(out))
    failed = any(p.bad_5xx() or p.lost_writes() or p.no_answer() for p in phases)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
