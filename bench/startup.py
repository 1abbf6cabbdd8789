"""Start-up of a real server holding millions of hashes: from the database, then
from a snapshot with newer rows replayed from the change feed.

1. A fresh SQLite database (or a PostgreSQL schema) gets ``--size`` items of one
   random PDQ hash each, with their change-feed rows, written in bulk: as
   registrations write them (an ``item_hashes`` row and an ``add`` row each) or,
   with ``--imported``, as a bulk import does (the hash inline on the item, one
   ``add_range`` row per 20,000).
2. ``hashwall serve`` starts with no snapshot: it loads from the database and
   writes a snapshot a few seconds after it is ready. Stopped once it exists.
3. ``--extra`` more items are registered in the database (as another host would).
4. ``hashwall serve`` starts again: the time from launch to ``/readyz`` 200 is the
   figure, with the 503s ``/readyz`` answered meanwhile. Then an original hash and
   a newer one are checked and must both block.

    .venv/bin/python -m bench.startup [--size 10000000] [--extra 1000] [--postgres] [--imported]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import numpy.typing as npt
from sqlalchemy import create_engine

from app import db
from app.settings import Settings
from bench.imported import BATCH as IMPORT_BATCH
from bench.imported import catch_up_sequence, write_batch

HASHWALL = str(Path(sys.executable).parent / "hashwall")
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BATCH = 100_000


def fill(url: str, codes: npt.NDArray[np.uint8], first_id: int, imported: bool = False) -> None:
    """Items, their hashes and their feed rows, straight through the driver (this
    is set-up, not the import path, which ``bench/import_speed.py`` measures)."""
    if imported:
        fill_imported(url, codes, first_id)
        return
    now = datetime.now(UTC)
    engine = create_engine(url)
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        for start in range(0, len(codes), BATCH):
            ids = range(first_id + start, first_id + min(start + BATCH, len(codes)))
            items = [(i, "hashes", "ncii", True, now, "bench") for i in ids]
            hashes = [(i, "pdq", codes[i - first_id].tobytes(), "original", 100) for i in ids]
            changes = [(i, "add", now) for i in ids]
            if engine.dialect.name == "sqlite":
                raw.executemany(  # type: ignore[union-attr]
                    "INSERT INTO items (id, media_type, category, active, created_at, created_by)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [(*row[:4], row[4].isoformat(sep=" "), row[5]) for row in items],
                )
                raw.executemany(  # type: ignore[union-attr]
                    "INSERT INTO item_hashes (item_id, signal, value, variant, quality)"
                    " VALUES (?, ?, ?, ?, ?)",
                    hashes,
                )
                raw.executemany(  # type: ignore[union-attr]
                    "INSERT INTO index_changes (item_id, op, created_at) VALUES (?, ?, ?)",
                    [(i, op, at.isoformat(sep=" ")) for i, op, at in changes],
                )
                continue
            with raw.cursor() as cursor:  # type: ignore[union-attr]
                for table, columns, rows in (
                    ("items", "id, media_type, category, active, created_at, created_by", items),
                    ("item_hashes", "item_id, signal, value, variant, quality", hashes),
                    ("index_changes", "item_id, op, created_at", changes),
                ):
                    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
        catch_up_sequence(connection)
    engine.dispose()


def fill_imported(url: str, codes: npt.NDArray[np.uint8], first_id: int) -> None:
    """Items as a bulk import writes them: the hash inline, one ``add_range``
    feed row per batch of 20,000."""
    now = datetime.now(UTC)
    engine = create_engine(url)
    with engine.begin() as connection:
        for start in range(0, len(codes), IMPORT_BATCH):
            batch = codes[start : start + IMPORT_BATCH]
            write_batch(connection, batch, first_id + start, now, "bench")
        catch_up_sequence(connection)
    engine.dispose()


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> tuple[float, int]:
    """Seconds from now until /readyz is 200, and how many 503s it answered first."""
    started = time.perf_counter()
    not_ready = 0
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError("server exited")
        try:
            status = httpx.get(f"{url}/readyz", timeout=2).status_code
            if status == 200:
                return time.perf_counter() - started, not_ready
            not_ready += status == 503
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server not ready in time")


def serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [HASHWALL, "serve", "--port", str(port), "--no-migrate"],
            env=env,
            stdout=sink,
            stderr=sink,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--extra", type=int, default=1000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument(
        "--imported", action="store_true", help="items as a bulk import writes them"
    )
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args()
    rng = np.random.default_rng(5)
    workdir = Path(
        tempfile.mkdtemp(prefix="hashwall-startup-", dir="var" if Path("var").is_dir() else None)
    )
    schema = None
    try:
        if args.postgres:
            schema = db.scratch_schema(POSTGRES_URL, "hw_bench_startup")
            url = schema.__enter__()
        else:
            url = f"sqlite:///{workdir / 'hashwall.db'}"
        env = {
            **os.environ,
            "HASHWALL_DATA_DIR": str(workdir),
            "HASHWALL_DATABASE_URL": url,
            "HASHWALL_INDEX_SNAPSHOT_SECONDS": "3600",
        }
        db.upgrade(Settings(data_dir=workdir, database_url=url))
        codes = rng.integers(0, 256, (args.size, 32), dtype=np.uint8)
        started = time.perf_counter()
        fill(url, codes, 1, args.imported)
        print(
            f"database ({'PostgreSQL' if args.postgres else 'SQLite'}): "
            f"{args.size:,} {'imported' if args.imported else 'registered'} items written in "
            f"{time.perf_counter() - started:.0f} s"
        )
        key = subprocess.run(
            [
                HASHWALL,
                "keys",
                "create",
                "--name",
                "bench",
                "--platform",
                "bench",
                "--scopes",
                "check",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        base = f"http://127.0.0.1:{args.port}"
        log = workdir / "server.log"

        process = serve(env, args.port, log)
        try:
            seconds, waits = wait_ready(base, process, 1800)
            print(
                f"start-up from the database: ready in {seconds:.1f} s "
                f"({waits} 503s from /readyz first)"
            )
            started = time.perf_counter()
            while not (workdir / "index" / "CURRENT").exists():
                if time.perf_counter() - started > 600:
                    raise RuntimeError("no snapshot written")
                time.sleep(0.5)
            print(
                f"snapshot written {time.perf_counter() - started:.1f} s after ready "
                "(the first one is due 5 s after)"
            )
        finally:
            stop(process)
        size = sum(f.stat().st_size for f in (workdir / "index").rglob("*") if f.is_file())
        extra = rng.integers(0, 256, (args.extra, 32), dtype=np.uint8)
        fill(url, extra, args.size + 1, args.imported)

        process = serve(env, args.port, log)
        try:
            seconds, waits = wait_ready(base, process, 600)
            print(
                f"start-up from the snapshot ({size / 1e6:.0f} MB on disk) "
                f"plus {args.extra} newer items "
                f"replayed: ready in {seconds:.1f} s ({waits} 503s from /readyz first)"
            )
            headers = {"Authorization": f"Bearer {key}"}
            for label, code in (("an original hash", codes[123]), ("a newer hash", extra[-1])):
                answer = httpx.post(
                    f"{base}/check/hashes",
                    json={"hashes": {"pdq": [code.tobytes().hex()]}},
                    headers=headers,
                    timeout=30,
                ).json()
                print(f"  check of {label}: {answer['decision']}")
                assert answer["decision"] == "block", answer
        finally:
            stop(process)
        for line in log.read_text().splitlines():
            if "index loaded" in line or "snapshot" in line:
                print("  log:", line[:300])
    finally:
        if schema is not None:
            schema.__exit__(None, None, None)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
