"""``hashwall import`` killed with SIGKILL mid-file resumes after its last
committed batch and ends with every hash stored once."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from sqlalchemy import func, select

from app import db
from app.models import HashImport, Item
from app.settings import Settings
from tests.e2e.conftest import HASHWALL, hashwall
from tests.waiting import wait_until

LINES = 300_000


def test_a_killed_import_resumes_and_stores_each_hash_once(
    env: dict[str, str], tmp_path: Path
) -> None:
    rng = random.Random(9)
    path = tmp_path / "list.csv"
    with path.open("w") as out:
        out.write("signal,hash\n")
        for _ in range(LINES):
            out.write(f"pdq,{rng.getrandbits(256):064x}\n")
    command = ["import", str(path), "--format", "csv", "--category", "ncii"]
    command += ["--batch-size", "1000", "--no-progress"]
    settings = Settings(
        data_dir=Path(env["HASHWALL_DATA_DIR"]), database_url=env["HASHWALL_DATABASE_URL"]
    )
    db.upgrade(settings)
    engine = db.make_engine(settings)
    try:
        process = subprocess.Popen([HASHWALL, *command], env=env, stdout=subprocess.DEVNULL)

        def lines_done() -> int:
            assert process.poll() is None, "the import ended before it could be killed"
            with engine.connect() as conn:
                return int(conn.scalar(select(func.max(HashImport.lines_done))) or 0)

        wait_until(lines_done, deadline_s=120, every_s=0.02, what="the first committed batch")
        process.kill()
        process.wait(timeout=10)
        with engine.connect() as conn:
            row = conn.execute(select(HashImport.status, HashImport.lines_done)).one()
            items = int(conn.scalar(select(func.count()).select_from(Item)) or 0)
        assert row.status == "running"
        assert 0 < row.lines_done < LINES + 1
        assert items == row.lines_done - 1  # each committed line after the header is an item

        result = hashwall(env, *command)
        assert result.returncode == 0, result.stderr
        assert f"resumed after line {row.lines_done:,}" in result.stdout
        assert f"{LINES:,} added" in result.stdout
        with engine.connect() as conn:
            items = int(conn.scalar(select(func.count()).select_from(Item)) or 0)
            distinct = int(conn.scalar(select(func.count(func.distinct(Item.hash_value)))) or 0)
            status = conn.scalar(select(HashImport.status))
        assert items == distinct == LINES
        assert status == "done"
    finally:
        engine.dispose()
