"""Bulk-imported items keep their one hash inline on the items row, and one
``add_range`` feed row stands for a whole import batch: every reader of an
item's hashes sees them, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner

from app import db
from app.cli import cli
from app.main import create_app
from app.models import IndexChange, Item, utcnow
from app.repository import hashes
from app.repository.hashes import NewHash, item_frames
from app.services import sync
from app.services.hashlists.importer import Hooks, import_hash_list
from app.services.index_store import new_index, write_snapshot
from app.services.registering import register_item
from app.services.sync import ADD_RANGE, IndexFollower
from app.settings import Settings
from app.state import AppState
from hashing.types import HashValue, Signal
from matching import Category
from tests.api import bearer
from tests.services.hashlist_files import cli_env, csv_file, fresh_index, hexes, options, upload


def state_of(client: TestClient) -> AppState:
    state: AppState = client.app.state.hashwall  # type: ignore[attr-defined]
    return state


def pdq_list(values: list[str]) -> bytes:
    return ("signal,hash\n" + "\n".join(f"pdq,{v}" for v in values) + "\n").encode()


def decision(client: TestClient, key: str, signal: str, value: str) -> str:
    response = client.post("/check/hashes", json={"hashes": {signal: [value]}}, headers=bearer(key))
    assert response.status_code == 200, response.text
    answer: str = response.json()["decision"]
    return answer


def test_an_imported_item_is_deactivated_here_at_once_and_elsewhere_through_the_feed(
    settings: Settings, api_keys: dict[str, str]
) -> None:
    values = hexes(30)
    body = "\n".join(f"pdq {h}" for h in values).encode()
    slow = settings.model_copy(update={"index_sync_seconds": 3600})
    with TestClient(create_app(slow)) as first, TestClient(create_app(slow)) as second:
        other = state_of(second)
        follower = IndexFollower(other.sessions, other.index, start=0)
        result = upload(first, api_keys["admin"], body, format="threatexchange").json()
        assert result["added"] == 30
        platform = api_keys["platform"]
        assert decision(first, platform, "pdq", values[9]) == "block"  # this process at once
        assert decision(second, platform, "pdq", values[9]) == "allow"  # the other not yet
        assert follower.poll() == 1  # one feed row for the batch
        check = second.post(
            "/check/hashes", json={"hashes": {"pdq": [values[9]]}}, headers=bearer(platform)
        ).json()
        assert check["decision"] == "block"
        item_id = check["matches"][0]["item_id"]
        staff = bearer(api_keys["trust_safety"])
        shown = first.get(f"/items/{item_id}", headers=staff).json()
        assert shown["hashes"] == {"pdq": [values[9]]}
        gone = first.delete(f"/items/{item_id}?reason=withdrawn", headers=staff)
        assert gone.status_code == 200, gone.text
        assert gone.json()["hashes"] == {"pdq": [values[9]]}
        assert decision(first, platform, "pdq", values[9]) == "allow"  # at once here
        assert follower.poll() == 1
        assert decision(second, platform, "pdq", values[9]) == "allow"  # and there
        assert decision(second, platform, "pdq", values[10]) == "block"  # the rest stay


def test_registering_an_imported_hash_answers_the_imported_item(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    value = hexes(1)[0]
    upload(client, api_keys["admin"], f"signal,hash,case_ref\npdq,{value},K-1\n".encode())
    response = client.post(
        "/register",
        json={"hashes": {"pdq": [value]}, "category": "csam"},
        headers=bearer(api_keys["trust_safety"]),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["duplicate_of"]["case_ref"] == "K-1"
    assert body["hashes"] == {"pdq": [value]}


def test_start_up_from_the_database_and_from_a_snapshot_holds_imported_hashes(
    settings: Settings, api_keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    early, late = hexes(40), hexes(25)
    platform = api_keys["platform"]
    with TestClient(create_app(settings)) as first:
        upload(first, api_keys["admin"], pdq_list(early))
    # A fresh start without a snapshot loads from the database.
    with TestClient(create_app(settings)) as second:
        runner = state_of(second).index_runner
        assert runner is not None
        assert runner.startup is not None
        assert runner.startup.source == "database"
        assert state_of(second).index.sizes()["pdq"] == 40
        assert decision(second, platform, "pdq", early[3]) == "block"
        assert runner.follower is not None
        runner.follower.poll()
        position, applied = runner.follower.window()
        assert write_snapshot(settings.snapshot_dir, state_of(second).index, position, applied)
        upload(second, api_keys["admin"], pdq_list(late))
    # From the snapshot: the batch already in it is not read back from the
    # database, the later one is.
    read: list[tuple[int, int]] = []
    real = hashes.inline_range

    def counted(session: Any, first: int, last: int, chunk: int) -> Any:
        read.append((first, last))
        return real(session, first, last, chunk)

    monkeypatch.setattr(sync, "inline_range", counted)
    with TestClient(create_app(settings)) as third:
        runner = state_of(third).index_runner
        assert runner is not None
        assert runner.startup is not None
        assert runner.startup.source == "snapshot"
        assert state_of(third).index.sizes()["pdq"] == 65
        assert decision(third, platform, "pdq", early[0]) == "block"
        assert decision(third, platform, "pdq", late[-1]) == "block"
    assert len(read) == 1


def test_a_change_that_commits_late_below_the_snapshot_checkpoint_is_still_replayed(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """The look-back window below a snapshot's checkpoint is replayed but for the
    changes the snapshot names as held: a transaction that committed after the
    checkpoint was read is applied, the batches already held are not reloaded."""
    values = hexes(6)
    path = csv_file(tmp_path / "a.csv", [f"pdq,{h}" for h in values], "signal,hash")
    import_hash_list(engine, path, options(batch_size=3), new_index(settings))
    with engine.connect() as conn:
        first, second = conn.scalars(select(IndexChange.id).order_by(IndexChange.id)).all()
    index = new_index(settings)
    # As if the snapshot held the second batch but the first had not committed yet.
    follower = IndexFollower(db.make_sessionmaker(engine), index, start=second, applied=[second])
    assert follower.poll() == 1
    hits = index.search("pdq", [bytes.fromhex(v) for v in values], 0)
    assert sorted(h.query for h in hits) == [0, 1, 2]
    assert follower.window() == (second, [first, second])
    assert follower.poll() == 0


def test_a_range_adds_only_the_active_inline_items_it_spans(
    settings: Settings, engine: Engine
) -> None:
    """PostgreSQL ids need not be contiguous: a range may span registered
    items and other imports' items; only active inline hashes are added."""
    sessions = db.make_sessionmaker(engine)
    scratch = new_index(settings)
    values = hexes(3)
    with sessions() as session:
        registered = register_item(
            session,
            scratch,
            actor="t",
            media_type="hashes",
            category=Category.NCII,
            case_ref=None,
            note=None,
            quality=None,
            hashes=[NewHash(HashValue.from_hex(Signal.PDQ, values[0]))],
            now=utcnow(),
        )
    now = utcnow()
    with engine.begin() as conn:
        for offset, (value, active) in enumerate(((values[1], True), (values[2], False)), 1):
            conn.execute(
                insert(Item).values(
                    id=registered.id + offset,
                    media_type="hashes",
                    category="ncii",
                    active=active,
                    created_at=now,
                    created_by="t",
                    hash_signal="pdq",
                    hash_value=bytes.fromhex(value),
                )
            )
        conn.execute(
            insert(IndexChange).values(
                item_id=registered.id, last_item_id=registered.id + 2, op=ADD_RANGE, created_at=now
            )
        )
    index = new_index(settings)
    follower = IndexFollower(sessions, index, start=0)
    assert follower.poll() == 2  # the registration's add and the range
    hits = index.search("pdq", [bytes.fromhex(v) for v in values], 0)
    assert {(h.query, h.key) for h in hits} == {(0, registered.id), (1, registered.id + 1)}


def test_item_frames_and_export_include_inline_hashes(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    pdq, phash = hexes(2), hexes(1, 16)
    rows = [f"pdq,{pdq[0]},csam,A,80", f"phash,{phash[0]},,,", f"pdq,{pdq[1]},,B,"]
    path = csv_file(tmp_path / "l.csv", rows, header="signal,hash,category,case_ref,quality")
    summary = import_hash_list(engine, path, options(), new_index(settings))
    assert summary.added == 3
    with db.make_sessionmaker(engine)() as session:
        frames = item_frames(session, [1, 2, 3])
    assert set(frames) == {1, 2, 3}
    assert bytes(frames[1].codes[0]).hex() == pdq[0]
    assert bytes(frames[3].codes[0]).hex() == pdq[1]
    assert len(frames[2].codes) == 0  # a pHash alone makes no keyframe, as when registered
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(cli, ["export", str(out), "--format", "csv"], env=cli_env(settings))
    assert result.exit_code == 0, result.output
    lines = sorted(out.read_text().splitlines()[1:])
    assert lines == sorted(
        [f"pdq,{pdq[0]},csam,A,80", f"phash,{phash[0]},ncii,,", f"pdq,{pdq[1]},ncii,B,"]
    )


@pytest.mark.parametrize("uniform", [True, False], ids=["uniform", "per-line"])
def test_text_fields_with_backslashes_and_quotes_are_stored_as_given(
    settings: Settings, engine: Engine, uniform: bool, tmp_path: Path
) -> None:
    """Both write paths of each database (a batch whose rows differ only in their
    hash, and one with per-line values) keep odd characters, among them what
    PostgreSQL's COPY text format would read as escapes (control characters
    themselves are refused before they get here)."""
    case = 'C\\t1 \\N "x" ü'
    values = hexes(4)
    if uniform:
        rows = [f"pdq,{v},77" for v in values]
        path = csv_file(tmp_path / "u.csv", rows, header="signal,hash,quality")
    else:
        quoted = '"' + case.replace('"', '""') + '"'
        rows = [f"pdq,{v},csam,{quoted},{i * 10}" for i, v in enumerate(values)]
        path = csv_file(tmp_path / "p.csv", rows, header="signal,hash,category,case_ref,quality")
    before = utcnow()
    import_hash_list(engine, path, options(case_ref=case, operator="op\\t1"), new_index(settings))
    with engine.connect() as conn:
        got = conn.execute(
            select(
                Item.case_ref,
                Item.created_by,
                Item.category,
                Item.quality,
                Item.hash_value,
                Item.hash_signal,
                Item.media_type,
                Item.created_at,
                Item.active,
                Item.note,
            ).order_by(Item.id)
        ).all()
    assert [(r.case_ref, r.created_by) for r in got] == [(case, "op\\t1")] * 4
    assert [r.hash_value.hex() for r in got] == values
    assert {(r.hash_signal, r.media_type, r.active, r.note) for r in got} == {
        ("pdq", "hashes", True, None)
    }
    assert all(before <= r.created_at <= utcnow() for r in got)
    if uniform:
        assert [(r.category, r.quality) for r in got] == [("ncii", 77)] * 4
    else:
        assert [(r.category, r.quality) for r in got] == [("csam", i * 10) for i in range(4)]


def test_a_registration_made_while_a_command_imports_counts_as_held(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """The command applies the change feed between batches (at most once a
    second), so a hash registered through a server meanwhile is not added twice."""
    values = hexes(30)
    path = csv_file(tmp_path / "l.csv", [f"pdq,{v}" for v in values], header="signal,hash")
    sessions = db.make_sessionmaker(engine)
    index = fresh_index(engine)
    follower = IndexFollower(sessions, index, start=0)
    calls = {"n": 0}

    def between() -> None:
        calls["n"] += 1
        if calls["n"] == 1:  # a server registers a hash of a later batch
            with sessions() as session:
                register_item(
                    session,
                    new_index(settings),
                    actor="server",
                    media_type="hashes",
                    category=Category.NCII,
                    case_ref=None,
                    note=None,
                    quality=None,
                    hashes=[NewHash(HashValue.from_hex(Signal.PDQ, values[25]))],
                    now=utcnow(),
                )
            follower.poll()

    # Read ahead of the writer by at most two batches of 5: line 26 is later.
    summary = import_hash_list(engine, path, options(batch_size=5), index, Hooks(between=between))
    assert (summary.added, summary.already_present) == (29, 1)


def test_the_command_loads_its_index_like_a_server_and_says_how(
    settings: Settings, tmp_path: Path
) -> None:
    runner = CliRunner()
    first = csv_file(tmp_path / "a.csv", [f"pdq,{v}" for v in hexes(50)], header="signal,hash")
    args = ["--format", "csv", "--category", "ncii", "--no-progress"]
    result = runner.invoke(cli, ["import", str(first), *args], env=cli_env(settings))
    assert result.exit_code == 0, result.output
    assert "50 added" in result.stdout
    assert "index loaded from the database" in result.stdout
    # The first load wrote a snapshot; the next command reads it and replays the feed.
    assert (settings.snapshot_dir / "CURRENT").exists()
    result = runner.invoke(cli, ["import", str(first), *args], env=cli_env(settings))
    assert result.exit_code == 0, result.output
    assert "0 added, 50 already present" in result.stdout
    assert "index loaded from the snapshot" in result.stdout
