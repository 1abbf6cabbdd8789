"""Speed of bulk hash-list import, through the code path of ``hashwall import``.

Writes ``--files`` lists of N random PDQ hashes (1 x 1,000,000 by default), then
for a fresh SQLite file and a fresh PostgreSQL schema (on the test server at
127.0.0.1:5432) per ``--prefill`` count (items put in the database first)
imports each list in turn with
:func:`app.services.hashlists.importing.import_list` (what ``hashwall import``
calls), then the last one again: the first runs store every hash (one item
each, the hash inline, one change-feed row per batch), the last finds every hash
already held and adds nothing (the idempotent path). Each run first loads the
index as the command does (from the database when there is no snapshot, else
from the snapshot plus the change feed; a snapshot is written after a load from
the database or a long replay).

With ``--upload``, a new list of the same size is then sent to ``POST /import``
of a real ``hashwall serve`` on the same database.

Prints, per run: new hashes (lines) per second of the import itself, its
seconds, the index load's source and seconds, and the database's size (SQLite:
after a checkpoint that empties the write-ahead log).

The prefill writes items shaped as an import writes them (inline PDQ, one
``add_range`` row per 20,000) straight through the driver: it is set-up, not
the measured path.

    .venv/bin/python -m bench.import_speed [--lines 1000000] [--files 1] [--format csv]
        [--databases sqlite,postgresql] [--batch-size N] [--prefill 0,5000000] [--upload]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import Engine, text

from app import db
from app.services.hashlists.formats import Format
from app.services.hashlists.importer import DEFAULT_BATCH
from app.services.hashlists.importing import import_list
from app.services.hashlists.resume import ImportOptions
from app.settings import Settings
from bench.imported import BATCH as IMPORT_BATCH
from bench.imported import catch_up_sequence, write_batch
from bench.speed import create_key, free_port, wait_ready
from matching import Category

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HASHWALL = str(Path(sys.executable).parent / "hashwall")


def write_list(path: Path, lines: int, fmt: Format, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        if fmt is Format.CSV:
            out.write("signal,hash\n")
        for _ in range(lines):
            value = f"{rng.getrandbits(256):064x}"
            if fmt is Format.CSV:
                out.write(f"pdq,{value}\n")
            elif fmt is Format.THREATEXCHANGE:
                out.write(f"pdq {value}\n")
            else:
                record = {"signalType": "ImagePDQ", "hashValue": value, "hashStatus": "Active"}
                out.write(json.dumps(record) + "\n")


def prefill(engine: Engine, count: int, seed: int) -> None:
    """``count`` imported-looking items (random PDQ inline) and their feed rows."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for start in range(0, count, IMPORT_BATCH):
            codes = rng.integers(0, 256, (min(IMPORT_BATCH, count - start), 32), dtype=np.uint8)
            write_batch(connection, codes, start + 1, now, "prefill")
        catch_up_sequence(connection)
    if engine.dialect.name == "postgresql":
        # What autovacuum would long since have done to a table of this size; left
        # to it, its pass over the new rows ran during the measured import.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE items, index_changes")


@contextmanager
def fresh(kind: str, root: Path) -> Iterator[Settings]:
    if kind == "sqlite":
        yield Settings(data_dir=root / "var", database_url=f"sqlite:///{root / 'bench.db'}")
        return
    with db.scratch_schema(POSTGRES_URL, "hw_bench") as url:
        yield Settings(data_dir=root / "var", database_url=url)


def size_mb(engine: Engine, root: Path) -> float:
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:  # the write-ahead log folded in and emptied
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in root.glob("bench.db*")) / 1e6
    with engine.connect() as conn:
        total = conn.scalar(
            text(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            )
        )
    return float(total or 0) / 1e6


def run_imports(
    kind: str, root: Path, sources: list[Path], prefill_count: int, args: argparse.Namespace
) -> None:
    """Into one fresh database holding ``prefill_count`` items: each file once,
    then the last one again."""
    fmt = Format(args.format)
    (root / kind).mkdir(parents=True, exist_ok=True)
    with fresh(kind, root / kind) as settings:
        db.upgrade(settings)
        engine = db.make_engine(settings)
        if prefill_count:
            started = time.perf_counter()
            prefill(engine, prefill_count, args.seed + 100)
            print(
                f"{kind:10} prefilled {prefill_count:,} items in "
                f"{time.perf_counter() - started:.0f} s "
                f"({size_mb(engine, root / kind):,.0f} MB)",
                flush=True,
            )
        batch = args.batch_size or DEFAULT_BATCH
        options = ImportOptions(fmt, Category.NCII, operator="bench", batch_size=batch)
        held = prefill_count
        for label, source in [
            *((f"file {i + 1}", source) for i, source in enumerate(sources)),
            ("same file again", sources[-1]),
        ]:
            run = import_list(engine, source, options, settings, report=root / "rejected.csv")
            s = run.summary
            loaded = run.index
            assert loaded is not None  # loaded for the import, as the command does
            written = (
                f"; snapshot written in {loaded.snapshot_seconds:.1f} s"
                if loaded.snapshot_seconds is not None
                else ""
            )
            print(
                f"{kind:10} {label:16} into {held:>10,} {s.lines_this_run / s.seconds:>9,.0f} "
                f"lines/s ({s.seconds:5.1f} s; added {s.added_this_run:,}, already present "
                f"{s.already_present:,}); index from the {loaded.startup.source} in "
                f"{loaded.seconds:.1f} s ({loaded.startup.rows:,} hashes, "
                f"{loaded.replayed:,} changes replayed{written}); load average "
                f"{os.getloadavg()[0]:.1f}",
                flush=True,
            )
            held += s.added_this_run
        print(f"{kind:10} database size {size_mb(engine, root / kind):,.0f} MB", flush=True)
        engine.dispose()
        if args.upload:
            upload(kind, settings, root / kind, args)


def upload(kind: str, settings: Settings, root: Path, args: argparse.Namespace) -> None:
    """``POST /import`` of a new list to a real server on this database: lines per
    second of the whole request (upload spooled to disk, digest, import)."""
    source = root / f"upload.{args.format}"
    write_list(source, args.lines, Format(args.format), args.seed + 1000)
    env = {
        **os.environ,
        "HASHWALL_DATA_DIR": str(settings.data_dir),
        "HASHWALL_DATABASE_URL": settings.effective_database_url,
    }
    key = create_key(env, "bench-admin", "admin")
    port = free_port()
    log_path = root / "server.log"
    log = log_path.open("ab")
    server = subprocess.Popen(
        [HASHWALL, "serve", "--port", str(port), "--no-migrate"], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server, log_path, timeout=600)
        with source.open("rb") as body:
            started = time.perf_counter()
            response = httpx.post(
                f"{url}/import",
                files={"file": (source.name, body)},
                data={"format": args.format, "category": "ncii"},
                headers={"Authorization": f"Bearer {key}"},
                timeout=1800,
            )
            seconds = time.perf_counter() - started
        response.raise_for_status()
        result = response.json()
        print(
            f"{kind:10} POST /import     {result['lines'] / seconds:>9,.0f} lines/s "
            f"({seconds:5.1f} s for the request; added {result['added']:,}); load average "
            f"{os.getloadavg()[0]:.1f}",
            flush=True,
        )
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--format", choices=[f.value for f in Format], default="csv")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument(
        "--prefill",
        default="0",
        help="items already in the database, comma-separated for one database each: 0,5000000",
    )
    parser.add_argument("--files", type=int, default=1, help="different files imported in turn")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--tmp", default=None, help="where the files and SQLite databases go")
    parser.add_argument(
        "--upload", action="store_true", help="then POST /import a new list to a real server"
    )
    args = parser.parse_args()
    fmt = Format(args.format)
    prefills = [int(p) for p in args.prefill.split(",")]
    print(
        f"{args.files} x {args.lines:,} random PDQ hashes, format {fmt.value}, into databases "
        f"holding {', '.join(f'{p:,}' for p in prefills)} items; load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="hw-import-", dir=args.tmp) as tmp:
        root = Path(tmp)
        sources = []
        for i in range(args.files):
            source = root / f"list{i}.{fmt.value}"
            write_list(source, args.lines, fmt, args.seed + i)
            sources.append(source)
        print(f"files: {sources[0].stat().st_size / 1e6:.1f} MB each")
        for kind in args.databases.split(","):
            for n, count in enumerate(prefills):
                run_imports(kind, root / f"{n}", sources, count, args)


if __name__ == "__main__":
    main()
