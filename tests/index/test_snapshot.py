"""Index snapshots: a round trip answers every search as before, the files are
FAISS's and NumPy's own formats (never pickle), only the newest two are kept, and
a missing snapshot reads as ``None``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import faiss
import numpy as np
import pytest

from index import snapshot
from tests.index.mih_helpers import MergeGate, rows_of
from tests.index.snapshot_helpers import (
    HAMMING,
    answers,
    assert_empty,
    digest,
    fill,
    make_index,
    snapshot_rows,
    truth,
)
from tests.index.test_binary import random_codes

# --- round trips -----------------------------------------------------------------------


def test_a_snapshot_reads_back_into_the_same_index(tmp_path: Path) -> None:
    filled = fill()
    original = filled.index
    expected = answers(original, filled.queries)
    exact = truth(filled)
    assert {name: expected[name] for name in exact} == exact

    written = snapshot.write(tmp_path, original, checkpoint=123)
    fresh = make_index()
    loaded = snapshot.read(tmp_path, fresh)

    assert loaded is not None
    assert loaded.checkpoint == 123
    assert loaded.path == written == snapshot.current(tmp_path)
    assert loaded.rows == snapshot_rows(original)
    assert fresh.sizes() == original.sizes() == {s: len(p) for s, p in filled.model.items()}
    assert answers(fresh, filled.queries) == expected
    for signal in HAMMING:
        before, after = original._hamming[signal]._main, fresh._hamming[signal]._main
        assert after.rows == before.rows
        assert after.keys.dtype == before.keys.dtype
        np.testing.assert_array_equal(after.keys, before.keys)
        np.testing.assert_array_equal(after.alive, before.alive)
        np.testing.assert_array_equal(after.codes, before.codes)
        assert before.tables is not None
        assert after.tables is not None
        assert after.tables.layout == before.tables.layout
        for name, array in before.tables.arrays().items():
            np.testing.assert_array_equal(after.tables.arrays()[name], array)
    assert fresh._hamming["pdq"]._main.keys.dtype == np.int64
    assert fresh._hamming["phash"]._main.keys.dtype == np.uint32


def test_a_loaded_index_keeps_changing_and_snapshots_again(tmp_path: Path) -> None:
    filled = fill(1)
    snapshot.write(tmp_path / "first", filled.index, checkpoint=1)
    fresh = make_index()
    assert snapshot.read(tmp_path / "first", fresh) is not None
    filled.index = fresh
    rng = np.random.default_rng(9)
    for signal, bits in HAMMING.items():
        queries = filled.queries[signal]
        big = 2**40 if signal == "pdq" else 0
        filled.remove(signal, queries[3], big + 3)  # from the loaded main segment
        filled.remove(signal, queries[61], big + 1001)  # from the loaded delta
        filled.add(
            signal, [(code, 9000 + i) for i, code in enumerate(rows_of(random_codes(rng, 5, bits)))]
        )
        filled.add(signal, [(queries[3], big + 3)])
    filled.remove("sha256", digest("1"), 1)
    filled.add("sha256", [(digest("new"), 12)])
    filled.add("pdq", [(bytes(32), 2**50)])
    expected = answers(fresh, filled.queries)
    assert {name: expected[name] for name in truth(filled)} == truth(filled)

    snapshot.write(tmp_path / "second", fresh, checkpoint=2)
    again = make_index()
    loaded = snapshot.read(tmp_path / "second", again)
    assert loaded is not None
    assert loaded.checkpoint == 2
    assert again.sizes() == fresh.sizes()
    assert answers(again, filled.queries) == expected
    again.merge()
    assert answers(again, filled.queries) == expected


def test_a_snapshot_taken_during_a_merge_holds_the_sealed_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    filled = fill(2)
    pdq = filled.hamming("pdq")
    gate = MergeGate(monkeypatch)
    merging = gate.start(pdq)
    assert pdq._sealed is not None
    assert len(pdq._sealed) > 400
    filled.add("pdq", [(bytes(32), 77)])  # lands in the delta beside the sealed one
    expected = answers(filled.index, filled.queries)
    snapshot.write(tmp_path, filled.index, checkpoint=5)
    gate.finish(merging)
    assert gate.errors == []

    fresh = make_index()
    assert snapshot.read(tmp_path, fresh) is not None
    assert fresh.sizes() == filled.index.sizes()
    assert answers(fresh, filled.queries) == expected


def test_an_empty_index_snapshots_and_loads(tmp_path: Path) -> None:
    path = snapshot.write(tmp_path, make_index(), checkpoint=0)
    assert not (path / "pdq" / "slots.npy").exists()  # no tables over no codes
    fresh = make_index()
    loaded = snapshot.read(tmp_path, fresh)
    assert loaded is not None
    assert (loaded.checkpoint, loaded.rows) == (0, 0)
    assert_empty(fresh)
    fresh.add("pdq", bytes(32), 1)
    fresh.merge()
    assert fresh.search("pdq", [bytes(32)], 0)[0].key == 1


# --- the files ------------------------------------------------------------------------


def test_files_are_faiss_npy_and_json_never_pickle(tmp_path: Path) -> None:
    filled = fill(3)
    path = snapshot.write(tmp_path, filled.index, checkpoint=123)
    files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    hamming_files = [
        "alive.npy",
        "bases.npy",
        "codes.faissindex",
        "delta.faissindex",
        "delta_keys.npy",
        "keys.npy",
        "offsets.npy",
        "rows.npy",
        "slots.npy",
    ]
    assert files == sorted(
        ["manifest.json", "sha256/codes.npy", "sha256/keys.npy"]
        + [f"{signal}/{name}" for signal in HAMMING for name in hamming_files]
    )
    for name in files:
        head = (path / name).read_bytes()[:8]
        assert not head.startswith(b"\x80"), f"{name} looks like a pickle"
        if name.endswith(".npy"):
            assert head.startswith(b"\x93NUMPY")
            array = np.load(path / name, allow_pickle=False)
            assert array.dtype != object
    for signal, bits in HAMMING.items():
        hamming = filled.hamming(signal)
        main = faiss.read_index_binary(str(path / signal / "codes.faissindex"))
        assert isinstance(main, faiss.IndexBinaryFlat)
        assert (main.d, main.ntotal) == (bits, hamming._main.rows)
        delta = faiss.read_index_binary(str(path / signal / "delta.faissindex"))
        assert (delta.d, delta.ntotal) == (bits, len(hamming._delta.live()[1]))
    data = json.loads((path / "manifest.json").read_text())
    assert data == snapshot.manifest(path)
    assert (data["format"], data["version"], data["checkpoint"]) == (
        snapshot.FORMAT,
        snapshot.VERSION,
        123,
    )
    assert set(data["signals"]) == {"pdq", "phash", "sha256"}
    assert data["signals"]["sha256"] == {"rows": filled.index.sizes()["sha256"], "bits": 256}
    assert data["signals"]["pdq"]["rows"] == filled.hamming("pdq")._main.rows


# --- the newest snapshot, and what is kept ---------------------------------------------


def test_current_names_the_newest_and_two_are_kept(tmp_path: Path) -> None:
    index = make_index()
    written = []
    for checkpoint in (1, 2, 3):
        index.add("sha256", digest(str(checkpoint)), checkpoint)
        written.append(snapshot.write(tmp_path, index, checkpoint=checkpoint))
        assert snapshot.current(tmp_path) == written[-1]
        assert (tmp_path / "CURRENT").read_text().strip() == written[-1].name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["CURRENT", written[1].name, written[2].name]
    )
    assert not written[0].exists()
    fresh = make_index()
    loaded = snapshot.read(tmp_path, fresh)
    assert loaded is not None
    assert loaded.checkpoint == 3
    assert fresh.sizes()["sha256"] == 3


def test_a_crashed_writers_leftovers_are_ignored_then_pruned(tmp_path: Path) -> None:
    # A writer died before any snapshot was complete: nothing to read.
    stale = tmp_path / ".tmp-20200101T000000000000Z-9-4242"
    (stale / "pdq").mkdir(parents=True)
    (stale / "manifest.json").write_text('{"format": "hashwall-in')
    (stale / "pdq" / "codes.faissindex").write_bytes(b"IBxF\x00")
    assert snapshot.read(tmp_path, make_index()) is None

    filled = fill(4)
    snapshot.write(tmp_path, filled.index, checkpoint=10)
    young = tmp_path / ".tmp-20990101T000000000000Z-11-4243"
    young.mkdir()
    (young / "manifest.json").write_text("{")
    fresh = make_index()
    loaded = snapshot.read(tmp_path, fresh)
    assert loaded is not None
    assert loaded.checkpoint == 10
    assert fresh.sizes() == filled.index.sizes()
    # The next write prunes a leftover old enough to be dead, not a young one.
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    snapshot.write(tmp_path, filled.index, checkpoint=11)
    assert not stale.exists()
    assert young.exists()
    fresh = make_index()
    loaded = snapshot.read(tmp_path, fresh)
    assert loaded is not None
    assert loaded.checkpoint == 11


def test_no_current_snapshot_reads_as_none(tmp_path: Path) -> None:
    index = make_index()
    assert snapshot.read(tmp_path / "never-written", index) is None
    assert snapshot.current(tmp_path / "never-written") is None
    path = snapshot.write(tmp_path, fill(5).index, checkpoint=1)
    (tmp_path / "CURRENT").unlink()
    assert snapshot.read(tmp_path, index) is None
    (tmp_path / "CURRENT").write_text("20000101T000000000000Z-0\n")  # names nothing
    assert snapshot.read(tmp_path, index) is None
    assert path.is_dir()
    assert_empty(index)
