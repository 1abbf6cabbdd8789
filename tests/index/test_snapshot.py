"""Index snapshots: a round trip answers every search as before, the files are
FAISS's and NumPy's own formats (never pickle), only the newest two are kept, and
a missing or damaged snapshot is skipped (``None``) rather than raised."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

from index import HashIndex, snapshot
from index.binary import BinaryIndex
from tests.index.mih_helpers import MergeGate, model_truth, rows_of
from tests.index.test_binary import as_set, flip_bits, random_codes

Triples = set[tuple[int, int, int]]
HAMMING = {"pdq": 256, "phash": 64}
RADII = {"pdq": (0, 31, 51), "phash": (0, 6, 10)}
BOUNDED = {"pdq": (51, 31), "phash": (10, 6)}
"""(max_distance, exact_distance) for the approximate wide searches."""


def make_index() -> HashIndex:
    return HashIndex(HAMMING, ["sha256"])


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


@dataclass
class Filled:
    """An index and, per signal, the (code, key) pairs it should hold."""

    index: HashIndex
    model: dict[str, set[tuple[bytes, int]]] = field(default_factory=dict)
    queries: dict[str, list[bytes]] = field(default_factory=dict)

    def add(self, signal: str, pairs: list[tuple[bytes, int]]) -> None:
        self.index.add_many(signal, pairs)
        self.model.setdefault(signal, set()).update(pairs)

    def remove(self, signal: str, code: bytes, key: int) -> None:
        self.index.remove(signal, code, key)
        self.model[signal].discard((code, key))

    def hamming(self, signal: str) -> BinaryIndex:
        return self.index._hamming[signal]


def fill(seed: int = 0) -> Filled:
    """Codes in both segments of each Hamming signal, removals from both, codes
    owned by several keys, keys past 2**32 for PDQ, and SHA-256 digests."""
    rng = np.random.default_rng(seed)
    filled = Filled(make_index())
    for signal, bits in HAMMING.items():
        codes = rows_of(random_codes(rng, 1500, bits))
        big = 2**40 if signal == "pdq" else 0  # PDQ's keys take the int64 path
        near = [flip_bits(codes[i], d, rng) for i, d in enumerate(range(0, bits // 4, 3))]
        main = [(code, big + key) for key, code in enumerate(codes[:1000])]
        main += [(code, 5000 + i) for i, code in enumerate(near)]
        main += [(codes[1], 7), (codes[2], 7)]  # one key, several codes; one code, two keys
        filled.add(signal, main)
        filled.hamming(signal).merge()
        for key in range(0, 1000, 37):
            filled.remove(signal, codes[key], big + key)
        filled.add(signal, [(code, big + key) for key, code in enumerate(codes[1000:], 1000)])
        filled.add(signal, [(codes[0], big), (near[1], 6000)])  # back, and a new owner
        for key in range(1000, 1500, 41):
            filled.remove(signal, codes[key], big + key)
        assert filled.hamming(signal)._main.tables is not None
        assert len(filled.hamming(signal)._delta) > 400
        filled.queries[signal] = (
            codes[:60]
            + codes[1000:1060]
            + [flip_bits(codes[200 + i], int(d), rng) for i, d in enumerate(range(bits // 4))]
            + rows_of(random_codes(rng, 10, bits))
        )
    digests = [digest(str(i)) for i in range(300)]
    filled.add("sha256", [(code, key) for key, code in enumerate(digests)])
    filled.add("sha256", [(digests[0], 1000), (digests[1], 2**41)])
    for key in range(0, 300, 7):
        filled.remove("sha256", digests[key], key)
    filled.queries["sha256"] = digests[:50] + [digest("never added")]
    return filled


def answers(index: HashIndex, queries: dict[str, list[bytes]]) -> dict[str, Triples]:
    """Every search the tests compare, by signal, radius and exact distance."""
    out: dict[str, Triples] = {}
    for signal, radii in RADII.items():
        for radius in radii:
            out[f"{signal}@{radius}"] = as_set(index.search(signal, queries[signal], radius))
        widest, exact = BOUNDED[signal]
        hits = index.search(signal, queries[signal], widest, exact_distance=exact)
        out[f"{signal}@{widest}~{exact}"] = as_set(hits)
    out["sha256"] = as_set(index.search("sha256", queries["sha256"]))
    return out


def truth(filled: Filled) -> dict[str, Triples]:
    """The exact answers, by brute force over the model."""
    out: dict[str, Triples] = {}
    for signal, radii in RADII.items():
        for radius in radii:
            found = model_truth(filled.model[signal], filled.queries[signal], radius)
            out[f"{signal}@{radius}"] = set(found)
    queries = filled.queries["sha256"]
    out["sha256"] = {
        (q, key, 0)
        for q, query in enumerate(queries)
        for code, key in filled.model["sha256"]
        if code == query
    }
    return out


def snapshot_rows(index: HashIndex) -> int:
    """Rows a snapshot of ``index`` holds: each main segment whole (removed rows
    included, flagged dead), the live delta codes, and the live digests."""
    rows = 0
    for signal in HAMMING:
        hamming = index._hamming[signal]
        rows += hamming._main.rows + len(hamming._delta.live()[1])
    return rows + index.sizes()["sha256"]


def assert_empty(index: HashIndex) -> None:
    assert index.sizes() == {"pdq": 0, "phash": 0, "sha256": 0}
    assert index.search("pdq", [bytes(32)], 256) == []
    assert index.search("phash", [bytes(8)], 64) == []
    assert index.search("sha256", [digest("0")]) == []


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


# --- damaged snapshots --------------------------------------------------------------------


def edit_manifest(change: Callable[[dict[str, Any]], object]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        data = json.loads((path / "manifest.json").read_text())
        change(data)
        (path / "manifest.json").write_text(json.dumps(data))

    return damage


def truncate(name: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        content = (path / name).read_bytes()
        (path / name).write_bytes(content[: len(content) // 2])

    return damage


def drop_a_row(name: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        array = np.load(path / name, allow_pickle=False)
        np.save(path / name, array[:-1], allow_pickle=False)

    return damage


def edit_array(name: str, change: Callable[[Any], Any]) -> Callable[[Path], None]:
    """Damage that keeps the file a well-formed array of the same shape and type."""

    def damage(path: Path) -> None:
        array = np.load(path / name, allow_pickle=False)
        np.save(path / name, change(array).astype(array.dtype), allow_pickle=False)

    return damage


def reverse_codes(signal: str) -> Callable[[Path], None]:
    """The main segment's codes, well-formed but no longer in the tables' order."""

    def damage(path: Path) -> None:
        name = str(path / signal / "codes.faissindex")
        stored = faiss.read_index_binary(name)
        codes = faiss.vector_to_array(stored.xb).reshape(stored.ntotal, -1)  # type: ignore[attr-defined]
        reversed_ = faiss.IndexBinaryFlat(stored.d)
        reversed_.add(codes[::-1].copy())
        faiss.write_index_binary(reversed_, name)

    return damage


def remove(name: str) -> Callable[[Path], None]:
    return lambda path: (path / name).unlink()


DAMAGE = [
    pytest.param(edit_manifest(lambda m: m.update(version=1)), id="version-1-tables"),
    pytest.param(edit_manifest(lambda m: m.update(version=2)), id="version-2-no-local"),
    pytest.param(edit_manifest(lambda m: m.update(version=3)), id="version-3-local-postings"),
    pytest.param(edit_manifest(lambda m: m.update(version=5)), id="unknown-version"),
    pytest.param(edit_manifest(lambda m: m.update(format="other")), id="wrong-format"),
    pytest.param(edit_manifest(lambda m: m.pop("signals")), id="no-signals"),
    pytest.param(edit_manifest(lambda m: m.pop("checkpoint")), id="no-checkpoint"),
    pytest.param(edit_manifest(lambda m: m.update(checkpoint="three")), id="bad-checkpoint"),
    pytest.param(
        lambda path: (path / "manifest.json").write_text("[1, 2]"), id="manifest-not-an-object"
    ),
    pytest.param(
        edit_manifest(lambda m: m.update(signals={"md5": {"rows": 0}})), id="other-signals"
    ),
    pytest.param(truncate("manifest.json"), id="truncated-manifest"),
    pytest.param(remove("manifest.json"), id="no-manifest"),
    pytest.param(truncate("pdq/codes.faissindex"), id="truncated-pdq-codes"),
    pytest.param(truncate("pdq/delta.faissindex"), id="truncated-pdq-delta"),
    pytest.param(truncate("pdq/keys.npy"), id="truncated-pdq-keys"),
    pytest.param(drop_a_row("pdq/keys.npy"), id="pdq-keys-row-count"),
    pytest.param(drop_a_row("pdq/alive.npy"), id="pdq-alive-row-count"),
    pytest.param(drop_a_row("pdq/bases.npy"), id="pdq-tables-shape"),
    pytest.param(drop_a_row("pdq/slots.npy"), id="pdq-slot-count"),
    pytest.param(edit_array("pdq/slots.npy", lambda a: a + [1, 0]), id="pdq-slot-widths"),
    pytest.param(edit_array("pdq/bases.npy", lambda a: a + 1), id="pdq-bases-out-of-range"),
    pytest.param(
        edit_array("pdq/offsets.npy", lambda a: a[::-1].copy()), id="pdq-offsets-out-of-order"
    ),
    pytest.param(edit_array("pdq/rows.npy", lambda a: a + 1), id="pdq-rows-out-of-range"),
    pytest.param(reverse_codes("pdq"), id="pdq-codes-out-of-order"),
    pytest.param(
        edit_manifest(lambda m: m["signals"]["pdq"].update(slots=3)), id="pdq-slots-in-manifest"
    ),
    pytest.param(drop_a_row("pdq/delta_keys.npy"), id="pdq-delta-keys-row-count"),
    pytest.param(remove("pdq/rows.npy"), id="pdq-tables-missing"),
    pytest.param(
        edit_manifest(lambda m: m["signals"]["pdq"].update(rows=1)),
        id="pdq-rows-in-manifest",
    ),
    pytest.param(truncate("phash/codes.faissindex"), id="truncated-phash-codes"),
    pytest.param(drop_a_row("sha256/keys.npy"), id="sha256-keys-row-count"),
    pytest.param(truncate("sha256/codes.npy"), id="truncated-sha256-codes"),
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One snapshot of a filled index, copied by each test that damages it."""
    root = tmp_path_factory.mktemp("pristine")
    snapshot.write(root, fill(6).index, checkpoint=3)
    return root


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_snapshot_reads_as_none_and_changes_nothing(
    damage: Callable[[Path], None],
    pristine: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shutil.copytree(pristine, tmp_path, dirs_exist_ok=True)
    path = snapshot.current(tmp_path)
    assert path is not None
    assert snapshot.read(tmp_path, make_index()) is not None  # usable before the damage
    damage(path)
    index = make_index()
    with caplog.at_level(logging.WARNING, logger="index.snapshot"):
        assert snapshot.read(tmp_path, index) is None
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "unusable" in caplog.text
    assert path.name in caplog.text
    assert_empty(index)
