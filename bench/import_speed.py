"""Speed of bulk hash-list import, through the code path of ``hashwall import``.

Writes N random PDQ hashes (1,000,000 by default) as a hash list, then for a
fresh SQLite file and a fresh PostgreSQL schema (on the test server at
127.0.0.1:5432) imports it twice with :func:`app.cli.run_import`: the first
run stores every hash (one item, one hash row and one feed row each), the
second finds every hash already held and adds nothing (the idempotent path).
Prints lines per second of each run and the database's size.

    .venv/bin/python -m bench.import_speed [--lines 1000000] [--format csv]
        [--databases sqlite,postgresql] [--batch-size N]
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
from pathlib import Path

from sqlalchemy import Engine, text

from app import db
from app.cli import run_import
from app.schemas import Category
from app.services.hashlists.formats import Format
from app.services.hashlists.importer import ImportOptions, default_batch
from app.settings import Settings

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


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
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    fmt = Format(args.format)
    load = os.getloadavg()
    print(f"{args.lines:,} random PDQ hashes, format {fmt.value}; load average {load[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="hw-import-") as tmp:
        root = Path(tmp)
        source = root / f"list.{fmt.value}"
        write_list(source, args.lines, fmt, args.seed)
        print(f"file: {source.stat().st_size / 1e6:.1f} MB")
        for kind in args.databases.split(","):
            with fresh(kind, root / kind) as settings:
                (root / kind).mkdir(exist_ok=True)
                db.upgrade(settings)
                engine = db.make_engine(settings)
                batch = args.batch_size or default_batch(engine.dialect.name)
                options = ImportOptions(fmt, Category.NCII, operator="bench", batch_size=batch)
                for run in ("first import", "same file again"):
                    started = time.perf_counter()
                    summary, _ = run_import(
                        engine, source, options, root / "rejected.csv", progress=False
                    )
                    seconds = time.perf_counter() - started
                    print(
                        f"{kind:10} {run:16} {summary.lines_this_run / seconds:>9,.0f} lines/s  "
                        f"({seconds:6.1f} s; added {summary.added:,}, already present "
                        f"{summary.already_present:,}; batch {batch:,})"
                    )
                print(f"{kind:10} database size {size_mb(engine, root / kind):,.0f} MB")
                engine.dispose()


if __name__ == "__main__":
    main()
