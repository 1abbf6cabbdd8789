"""A damaged snapshot reads as ``None`` and changes nothing, whatever the damage."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

from index import snapshot
from tests.index.snapshot_helpers import (
    assert_empty,
    fill,
    make_index,
)

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
