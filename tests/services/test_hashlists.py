"""Bulk hash-list import on SQLite and PostgreSQL through the service functions:
feed rows, audit rows, re-imports, resumes and rollbacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from app import db
from app.models import AuditEvent, HashImport, IndexChange, Item, ItemHash
from app.services.hashlists import writing
from app.services.hashlists.formats import HashListError
from app.services.hashlists.importer import Hooks
from app.services.index_store import new_index
from app.services.sync import IndexFollower
from app.settings import Settings
from tests.services.hashlist_files import (
    count,
    csv_file,
    held,
    hexes,
    imported,
    options,
    ranges,
)


def test_an_import_stores_one_item_per_hash_with_its_feed_row_and_one_audit_row(
    engine: Engine, tmp_path: Path
) -> None:
    pdq, phash, sha = hexes(25), hexes(3, 16), hexes(2)
    rows = [f"pdq,{h},,C-1" for h in pdq]
    rows += [f"phash,{h},csam," for h in phash] + [f"sha256,{h},,C-2" for h in sha]
    rows[4] = "pdq,not-a-hash,,"
    rows.insert(10, "md5,d41d8cd98f00b204e9800998ecf8427e,,")
    path = csv_file(tmp_path / "list.csv", rows)
    rejected: list[int] = []
    summary = imported(
        engine,
        path,
        options(case_ref="CASE-9", batch_size=7),
        Hooks(rejected=lambda r: rejected.append(r.line)),
    )
    assert (summary.added, summary.already_present, summary.rejected) == (29, 0, 2)
    assert summary.lines == 32
    assert summary.status == "done"
    assert rejected == [6, 12]  # header is line 1
    assert count(engine, Item) == 29
    # Each hash is inline on its item; one feed row per batch names the batch's items.
    assert count(engine, ItemHash) == 0
    assert count(engine, Item, Item.hash_value.is_not(None)) == 29
    assert ranges(engine) == [(1, 6), (7, 12), (13, 19), (20, 26), (27, 29)]
    assert count(engine, IndexChange) == 5
    got = held(engine)
    assert ("pdq", pdq[0], "ncii", "C-1") in got
    assert ("phash", phash[0], "csam", "CASE-9") in got  # the option fills the blank case
    assert ("sha256", sha[1], "ncii", "C-2") in got
    with engine.connect() as conn:
        media = set(conn.scalars(select(Item.media_type)))
        audit = conn.execute(select(AuditEvent).where(AuditEvent.action == "import")).all()
        record = conn.execute(select(HashImport)).one()
    assert media == {"hashes"}
    assert len(audit) == 1
    detail = json.loads(audit[0].detail)
    assert audit[0].actor == "tester"
    assert (detail["filename"], detail["added"], detail["rejected"]) == (str(path), 29, 2)
    assert (record.status, record.lines_done, record.operator) == ("done", 32, "tester")


def test_importing_the_same_file_twice_adds_nothing(engine: Engine, tmp_path: Path) -> None:
    values = hexes(40)
    # A hash twice in one file is stored once.
    path = csv_file(tmp_path / "list.csv", [f"pdq,{h},," for h in [*values, values[3]]])
    first = imported(engine, path, options(batch_size=9))
    assert (first.added, first.already_present) == (40, 1)
    second = imported(engine, path, options(batch_size=9))
    assert (second.added, second.already_present, second.rejected) == (0, 41, 0)
    assert second.import_id != first.import_id  # a finished import is not resumed
    assert count(engine, Item) == 40
    # Another file holding some of the same hashes adds only the new ones.
    other = csv_file(tmp_path / "other.csv", [f"pdq,{h},," for h in values[:5] + hexes(3)])
    third = imported(engine, other, options())
    assert (third.added, third.already_present) == (3, 5)


def test_other_server_processes_get_an_import_through_the_change_feed(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    values = hexes(120)
    path = csv_file(tmp_path / "list.csv", [f"pdq,{h},," for h in values])
    index = new_index(settings)
    follower = IndexFollower(db.make_sessionmaker(engine), index, start=0)
    imported(engine, path, options(batch_size=50))
    assert follower.poll() == 3  # one change per batch
    assert index.sizes()["pdq"] == 120
    hits = index.search("pdq", [bytes.fromhex(values[77])], 0)
    assert [hit.key for hit in hits] == [78]
    assert follower.poll() == 0


def test_a_hash_of_a_deactivated_item_is_imported_again(engine: Engine, tmp_path: Path) -> None:
    values = hexes(3)
    path = csv_file(tmp_path / "list.csv", [f"pdq,{h},," for h in values])
    imported(engine, path, options())
    with engine.begin() as conn:
        conn.execute(update(Item).where(Item.id == 1).values(active=False))
    again = imported(engine, path, options())
    assert (again.added, again.already_present) == (1, 2)


def test_an_interrupted_import_resumes_after_its_last_committed_batch(
    engine: Engine, tmp_path: Path
) -> None:
    rows = [f"pdq,{h},," for h in hexes(95)]
    for line in (3, 30, 77):
        rows[line] = "pdq,0123,,"
    path = csv_file(tmp_path / "list.csv", rows)
    first = imported(engine, path, options(batch_size=10), max_batches=3)
    assert first.status == "running"
    assert first.lines == 31  # 30 lines of outcomes after the header
    assert (first.added, first.rejected) == (29, 1)
    assert count(engine, Item) == 29
    report: list[int] = []
    second = imported(
        engine,
        path,
        options(batch_size=10),
        Hooks(rejected=lambda r: report.append(r.line)),
    )
    assert second.import_id == first.import_id
    assert second.resumed_from == 31
    assert (second.added, second.already_present, second.rejected) == (92, 0, 3)
    assert second.lines == 96
    assert second.status == "done"
    assert report == [5, 32, 79]  # the rewritten report holds the earlier part too
    assert count(engine, Item) == 92
    assert sum(last - first + 1 for first, last in ranges(engine)) == 92
    assert count(engine, AuditEvent, AuditEvent.action == "import") == 1


def test_a_batch_that_fails_is_rolled_back_and_the_rerun_completes_it(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = csv_file(tmp_path / "list.csv", [f"pdq,{h},," for h in hexes(50)])
    real = writing.BatchWriter._insert
    calls = {"n": 0}

    def failing(self: Any, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(self, *args)

    monkeypatch.setattr(writing.BatchWriter, "_insert", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        imported(engine, path, options(batch_size=10))
    assert count(engine, Item) == 20
    with engine.connect() as conn:
        assert conn.scalar(select(HashImport.status)) == "failed"
        assert conn.scalar(select(HashImport.lines_done)) == 21
    monkeypatch.setattr(writing.BatchWriter, "_insert", real)
    again = imported(engine, path, options(batch_size=10))
    assert (again.resumed_from, again.added, again.already_present) == (21, 50, 0)
    assert count(engine, Item) == 50
    # One range per committed batch (PostgreSQL's sequence skips the ids the
    # failed batch took).
    assert [last - first + 1 for first, last in ranges(engine)] == [10] * 5


def test_a_file_that_is_not_the_format_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text(f"pdq,{hexes(1)[0]}\n")
    with pytest.raises(HashListError):
        imported(engine, path, options())
    assert count(engine, HashImport) == 0
    assert count(engine, Item) == 0
