"""Bulk hash-list import and export on SQLite and PostgreSQL: the service
functions, the ``hashwall import``/``export`` commands and ``POST /import``."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, union_all, update
from typer.testing import CliRunner

from app import db
from app.cli import cli
from app.models import AuditEvent, HashImport, IndexChange, Item, ItemHash
from app.services.hashlists import writing
from app.services.hashlists.exporter import export_hash_list
from app.services.hashlists.formats import Format, HashListError
from app.services.hashlists.importer import Hooks, import_hash_list
from app.services.hashlists.resume import ImportOptions, ImportSummary
from app.services.index_store import load_index, new_index
from app.services.sync import ADD_RANGE, IndexFollower
from app.settings import Settings
from matching import Category
from tests.api import bearer
from tests.databases import POSTGRES_URL

rng = random.Random(6)


def hexes(count: int, digits: int = 64) -> list[str]:
    return [f"{rng.getrandbits(digits * 4):0{digits}x}" for _ in range(count)]


def csv_file(path: Path, rows: list[str], header: str = "signal,hash,category,case_ref") -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = db.make_engine(settings)
    yield engine
    engine.dispose()


def count(engine: Engine, model: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def held(engine: Engine) -> set[tuple[str, str, str, str | None]]:
    """(signal, hex, category, case_ref) of every hash of an active item, in
    item_hashes or inline."""
    registered = (
        select(ItemHash.signal, ItemHash.value, Item.category, Item.case_ref)
        .join(Item, Item.id == ItemHash.item_id)
        .where(Item.active.is_(True))
    )
    inline = select(Item.hash_signal, Item.hash_value, Item.category, Item.case_ref).where(
        Item.active.is_(True), Item.hash_value.is_not(None)
    )
    with engine.connect() as conn:
        rows: list[Any] = list(conn.execute(union_all(registered, inline)))
        return {(s, v.hex(), c, r) for s, v, c, r in rows}


def ranges(engine: Engine) -> list[tuple[int, int]]:
    """(first, last) item id of each add_range row of the change feed, in order."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(IndexChange.item_id, IndexChange.last_item_id)
            .where(IndexChange.op == ADD_RANGE)
            .order_by(IndexChange.id)
        )
        return [(first, last or first) for first, last in rows]


def imported(
    engine: Engine, path: Path, opts: ImportOptions, hooks: Hooks | None = None, **kw: Any
) -> ImportSummary:
    """An import as ``hashwall import`` runs one: with an index of every active
    hash loaded from the database first."""
    index = new_index(Settings())
    with db.make_sessionmaker(engine)() as session:
        load_index(session, index)
    return import_hash_list(engine, path, opts, index, hooks, **kw)


def options(**changes: Any) -> ImportOptions:
    base: dict[str, Any] = {"fmt": Format.CSV, "category": Category.NCII, "operator": "tester"}
    return ImportOptions(**(base | changes))


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


@contextmanager
def fresh_database(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """An empty database of the same kind as ``settings``."""
    if settings.effective_database_url.startswith("sqlite"):
        other = Settings(data_dir=tmp_path / "b", database_url=f"sqlite:///{tmp_path / 'b.db'}")
        db.upgrade(other)
        yield other
        return
    with db.scratch_schema(POSTGRES_URL, "hw_test") as url:
        other = Settings(data_dir=tmp_path / "b", database_url=url)
        db.upgrade(other)
        yield other


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "HASHWALL_DATABASE_URL": settings.effective_database_url,
        "HASHWALL_DATA_DIR": str(settings.data_dir),
    }


def test_export_then_import_into_a_fresh_database_round_trips(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    rows = [f"pdq,{h},ncii,C-{i}" for i, h in enumerate(hexes(30))]
    rows += [f"phash,{h},csam," for h in hexes(5, 16)] + [
        f"sha256,{h},deepfake,X" for h in hexes(4)
    ]
    source = csv_file(tmp_path / "source.csv", rows)
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["import", str(source), "--format", "csv", "--category", "other", "--no-progress"],
        env=cli_env(settings),
    )
    assert result.exit_code == 0, result.output
    assert "39 added" in result.stdout
    with engine.begin() as conn:  # a deactivated item is not exported
        conn.execute(update(Item).where(Item.id == 2).values(active=False))
    expected = held(engine)
    assert len(expected) == 38
    with fresh_database(settings, tmp_path) as other:
        out = tmp_path / "export.csv"
        result = runner.invoke(cli, ["export", str(out), "--format", "csv"], env=cli_env(settings))
        assert result.exit_code == 0, result.output
        assert "exported 38 hashes" in result.stderr
        result = runner.invoke(
            cli,
            ["import", str(out), "--format", "csv", "--category", "other", "--no-progress"],
            env=cli_env(other),
        )
        assert result.exit_code == 0, result.output
        copy = db.make_engine(other)
        try:
            assert held(copy) == expected
            again = runner.invoke(cli, ["export", "-", "--format", "csv"], env=cli_env(other))
            assert again.stdout == out.read_text()
            # The partners' formats keep what they can name.
            for fmt, signals in (("threatexchange", {"pdq"}), ("stopncii", {"pdq"})):
                shared = tmp_path / f"export.{fmt}"
                with shared.open("w") as f:
                    export_hash_list(engine, f, Format(fmt))
                with fresh_database(settings, tmp_path / fmt) as third:
                    third_engine = db.make_engine(third)
                    summary = imported(
                        third_engine, shared, options(fmt=Format(fmt), category=Category.NCII)
                    )
                    assert summary.rejected == 0
                    assert {(s, v) for s, v, *_ in held(third_engine)} == {
                        (s, v) for s, v, *_ in expected if s in signals
                    }
                    third_engine.dispose()
        finally:
            copy.dispose()


def test_the_import_command_writes_a_report_of_rejected_lines(
    settings: Settings, tmp_path: Path
) -> None:
    path = csv_file(tmp_path / "list.csv", [f"pdq,{hexes(1)[0]},,", "pdq,abc,,", "phash,,,"])
    result = CliRunner().invoke(
        cli,
        ["import", str(path), "--format", "csv", "--category", "ncii", "--no-progress"],
        env=cli_env(settings),
    )
    assert result.exit_code == 0, result.output
    assert "1 added, 0 already present, 2 rejected" in result.stdout
    report = (tmp_path / "list.csv.rejected.csv").read_text().splitlines()
    assert report[0] == "line,reason"
    assert [line.split(",")[0] for line in report[1:]] == ["3", "4"]
    bad = tmp_path / "bad.csv"
    bad.write_text("no header here\n")
    result = CliRunner().invoke(
        cli,
        ["import", str(bad), "--format", "csv", "--category", "ncii", "--no-progress"],
        env=cli_env(settings),
    )
    assert result.exit_code == 2
    assert "header row" in result.stderr


def upload(client: TestClient, key: str, data: bytes, **form: str) -> Any:  # the httpx response
    return client.post(
        "/import",
        files={"file": ("list.txt", io.BytesIO(data))},
        data={"format": "csv", "category": "ncii", **form},
        headers=bearer(key),
    )


def test_post_import_then_check_hashes_matches_an_imported_hash(
    client: TestClient, api_keys: dict[str, str], settings: Settings
) -> None:
    values = hexes(12)
    body = "\n".join(f"pdq {h}" for h in values) + "\nvideo_md5 d41d8cd98f00b204e9800998ecf8427e\n"
    response = upload(
        client, api_keys["admin"], body.encode(), format="threatexchange", case_ref="R-1"
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["added"], result["already_present"], result["rejected"]) == (12, 0, 1)
    assert result["rejections"][0]["line"] == 13
    assert "video_md5" in result["rejections"][0]["reason"]
    assert result["case_ref"] == "R-1"
    assert result["lines"] == 13
    check = client.post(
        "/check/hashes",
        json={"hashes": {"pdq": [values[7]]}},
        headers=bearer(api_keys["platform"]),
    ).json()
    assert check["decision"] == "block"
    item = client.get(
        f"/items/{check['matches'][0]['item_id']}", headers=bearer(api_keys["admin"])
    ).json()
    assert (item["hashes"]["pdq"], item["case_ref"]) == ([values[7]], "R-1")
    again = upload(client, api_keys["admin"], body.encode(), format="threatexchange")
    assert again.json()["added"] == 0
    # The upload went through a private spool file that is gone.
    assert not any(settings.upload_dir.glob("upload-*"))


def test_post_import_of_only_bad_lines_answers_every_line(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    data = "signal,hash\n" + "\n".join(f"pdq,{i:x}" for i in range(1500)) + "\n"
    result = upload(client, api_keys["admin"], data.encode()).json()
    assert (result["added"], result["rejected"]) == (0, 1500)
    assert len(result["rejections"]) == 1000
    assert result["rejections_truncated"]
    assert result["rejections"][0] == {
        "line": 2,
        "reason": "a pdq hash is 64 hex digits, got '0'",
    }


def test_post_import_refuses_bad_requests(client: TestClient, api_keys: dict[str, str]) -> None:
    good = f"signal,hash\npdq,{hexes(1)[0]}\n".encode()
    response = client.post(
        "/import", files={"file": ("list.txt", good)}, data={"format": "csv", "category": "ncii"}
    )
    assert (response.status_code, response.json()["error"]) == (401, "missing_api_key")
    response = upload(client, "hw_0123456789abcdef.not-a-key", good)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_api_key")
    for role in ("platform", "trust_safety"):
        response = upload(client, api_keys[role], good)
        assert response.status_code == 403
        assert response.json()["error"] == "insufficient_scope"
    response = upload(client, api_keys["admin"], good, format="misp")
    assert (response.status_code, response.json()["error"]) == (422, "invalid_format")
    response = upload(client, api_keys["admin"], good, category="spam")
    assert (response.status_code, response.json()["error"]) == (422, "invalid_category")
    response = upload(client, api_keys["admin"], b"pdq,abc\n")
    assert (response.status_code, response.json()["error"]) == (422, "invalid_hash_list")
    response = client.post("/import", json={}, headers=bearer(api_keys["admin"]))
    assert response.status_code == 415
    response = client.post(
        "/import",
        data={"format": "csv", "category": "ncii"},
        files={"other": ("x", b"")},
        headers=bearer(api_keys["admin"]),
    )
    assert (response.status_code, response.json()["error"]) == (422, "invalid_request")
