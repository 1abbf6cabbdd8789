"""Speed of bulk hash-list import, through the code path of ``hashwall import``.

Writes N random PDQ hashes (1,000,000 by default) as a hash list, then for a
fresh SQLite file and a fresh PostgreSQL schema (on the test server at
127.0.0.1:5432), optionally already holding ``--prefill`` items, imports it
twice with :func:`app.cli.run_import`: the first run stores every hash (one
item each, the hash inline, one change-feed row per batch), the second finds
every hash already held and adds nothing (the idempotent path). Each run first
loads the index as the command does (from the database when there is no
snapshot, then from the snapshot the first run wrote plus the change feed).

Prints, per run: new hashes (lines) per second of the import itself, its
seconds, the index load's source and seconds, and the database's size.

The prefill writes items shaped as an import writes them (inline PDQ, one
``add_range`` row per 20,000) straight through the driver: it is set-up, not
the measured path.

    .venv/bin/python -m bench.import_speed [--lines 1000000] [--format csv]
        [--databases sqlite,postgresql] [--batch-size N] [--prefill 5000000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, text

from app import db
from app.cli import run_import
from app.schemas import Category
from app.services.hashlists.formats import Format
from app.services.hashlists.importer import DEFAULT_BATCH, ImportOptions
from app.settings import Settings

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PREFILL_BATCH = 20_000


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
        raw = connection.connection.driver_connection
        for start in range(0, count, PREFILL_BATCH):
            n = min(PREFILL_BATCH, count - start)
            first = start + 1
            codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
            if engine.dialect.name == "sqlite":
                raw.execute(  # type: ignore[union-attr]
                    "WITH RECURSIVE n(i) AS "
                    "(SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
                    "INSERT INTO items (id, media_type, category, active, created_at, created_by, "
                    "hash_signal, hash_value) SELECT ? + i, 'hashes', 'ncii', 1, ?, 'prefill', "
                    "'pdq', substr(?, i * 32 + 1, 32) FROM n",
                    (n, first, now.isoformat(sep=" ").replace("+00:00", ""), codes.tobytes()),
                )
                raw.execute(  # type: ignore[union-attr]
                    "INSERT INTO index_changes (item_id, last_item_id, op, created_at) "
                    "VALUES (?, ?, 'add_range', ?)",
                    (first, first + n - 1, now.isoformat(sep=" ").replace("+00:00", "")),
                )
                continue
            stamp = now.isoformat()
            data = codes.tobytes()
            lines = "".join(
                f"{first + i}\thashes\tncii\tt\t{stamp}\tprefill\tpdq\t"
                f"\\\\x{data[i * 32 : i * 32 + 32].hex()}\n"
                for i in range(n)
            )
            with raw.cursor() as cursor:  # type: ignore[union-attr]
                with cursor.copy(
                    "COPY items (id, media_type, category, active, created_at, created_by, "
                    "hash_signal, hash_value) FROM STDIN"
                ) as copy:
                    copy.write(lines)
                cursor.execute(
                    "INSERT INTO index_changes (item_id, last_item_id, op, created_at) "
                    "VALUES (%s, %s, 'add_range', %s)",
                    (first, first + n - 1, now),
                )
        if engine.dialect.name == "postgresql":
            # Rows given explicit ids leave the sequence behind.
            connection.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('items', 'id'), (SELECT max(id) FROM items))"
            )
            connection.exec_driver_sql("ANALYZE")


@contextmanager
def fresh(kind: str, root: Path) -> Iterator[Settings]:
    if kind == "sqlite":
        yield Settings(data_dir=root / "var", database_url=f"sqlite:///{root / 'bench.db'}")
        return
    with db.scratch_schema(POSTGRES_URL, "hw_bench") as url:
        yield Settings(data_dir=root / "var", database_url=url)


def size_mb(engine: Engine, root: Path) -> float:
    if engine.dialect.name == "sqlite":
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--format", choices=[f.value for f in Format], default="csv")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--prefill", type=int, default=0, help="items in the database first")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--tmp", default=None, help="where the file and SQLite database go")
    args = parser.parse_args()
    fmt = Format(args.format)
    load = os.getloadavg()
    print(
        f"{args.lines:,} random PDQ hashes, format {fmt.value}, into databases holding "
        f"{args.prefill:,} items; load average {load[0]:.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="hw-import-", dir=args.tmp) as tmp:
        root = Path(tmp)
        source = root / f"list.{fmt.value}"
        write_list(source, args.lines, fmt, args.seed)
        print(f"file: {source.stat().st_size / 1e6:.1f} MB")
        for kind in args.databases.split(","):
            (root / kind).mkdir(exist_ok=True)
            with fresh(kind, root / kind) as settings:
                db.upgrade(settings)
                engine = db.make_engine(settings)
                if args.prefill:
                    started = time.perf_counter()
                    prefill(engine, args.prefill, args.seed + 1)
                    print(
                        f"{kind:10} prefilled {args.prefill:,} items in "
                        f"{time.perf_counter() - started:.0f} s "
                        f"({size_mb(engine, root / kind):,.0f} MB)"
                    )
                batch = args.batch_size or DEFAULT_BATCH
                options = ImportOptions(fmt, Category.NCII, operator="bench", batch_size=batch)
                for label in ("first import", "same file again"):
                    run = run_import(
                        engine, settings, source, options, root / "rejected.csv", progress=False
                    )
                    s = run.summary
                    loaded = run.index
                    written = (
                        f"; snapshot written in {loaded.snapshot_seconds:.1f} s"
                        if loaded.snapshot_seconds is not None
                        else ""
                    )
                    print(
                        f"{kind:10} {label:16} {s.lines_this_run / s.seconds:>9,.0f} lines/s "
                        f"({s.seconds:6.1f} s; added {s.added_this_run:,}, already present "
                        f"{s.already_present:,}; batch {batch:,}); index from the "
                        f"{loaded.startup.source} in {loaded.seconds:.1f} s "
                        f"({loaded.startup.rows:,} hashes, {loaded.replayed:,} changes "
                        f"replayed{written})",
                        flush=True,
                    )
                print(f"{kind:10} database size {size_mb(engine, root / kind):,.0f} MB")
                engine.dispose()


if __name__ == "__main__":
    main()
