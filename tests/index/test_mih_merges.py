"""Multi-index hashing across merges: removals and re-additions, changes during a
merge, a failed merge, and writers and readers at once, against a dict."""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
import pytest

from index import BinaryIndex, Hit
from tests.index.mih_helpers import (
    MergeGate,
    brute_distance,
    model_truth,
    rows_of,
    small_index,
    spy_paths,
)
from tests.index.test_binary import as_set, flip_bits, random_codes


@pytest.mark.parametrize("path", ["tables", "flat"])
def test_removal_after_merge_hides_the_row_until_re_added(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, codes = small_index(np.random.default_rng(1), 3000)
    neighbour = flip_bits(codes[0], 3, np.random.default_rng(2))
    index.add(neighbour, 9000)
    index.merge()
    assert index._main.tables is not None
    spy_paths(monkeypatch, path)
    index.remove(codes[0], 0)
    assert len(index) == 3000
    assert as_set(index.search([codes[0]], 5)) == {(0, 9000, 3)}
    assert index.owners(codes[0]) == frozenset()
    index.remove(codes[0], 0)  # twice is a no-op
    assert len(index) == 3000
    # Back again: held in the delta, beside the dead row in the main segment.
    index.add(codes[0], 0)
    assert len(index) == 3001
    assert as_set(index.search([codes[0]], 5)) == {(0, 0, 0), (0, 9000, 3)}
    index.merge()  # the dead row is dropped, the new one kept
    assert index._main.rows == 3001
    assert as_set(index.search([codes[0]], 5)) == {(0, 0, 0), (0, 9000, 3)}
    # Removed and re-added in the main segment and the delta in turn.
    index.remove(codes[0], 0)
    index.remove(neighbour, 9000)
    index.add(neighbour, 9000)
    assert as_set(index.search([codes[0]], 5)) == {(0, 9000, 3)}
    index.add(codes[0], 0)
    index.remove(codes[0], 0)
    assert as_set(index.search([codes[0]], 5)) == {(0, 9000, 3)}
    assert len(index) == 3000
    everything = [(code, key) for key, code in enumerate(codes) if key] + [(neighbour, 9000)]
    assert as_set(index.search(codes[:50], 3)) == model_truth(everything, codes[:50], 3)


def test_changes_during_a_merge_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    index, codes = small_index(rng, 3000)
    index.merge()
    fresh = rows_of(random_codes(rng, 1200, 256))
    index.add_many((code, 3000 + key) for key, code in enumerate(fresh[:1000]))
    model = {(code, key) for key, code in enumerate(codes)}
    model |= {(code, 3000 + key) for key, code in enumerate(fresh[:1000])}

    gate = MergeGate(monkeypatch)
    merging = gate.start(index)
    assert index._sealed is not None  # the delta is sealed and being merged
    changes: list[tuple[str, bytes, int]] = [
        *(("remove", codes[k], k) for k in range(50)),  # in the old main segment
        *(("remove", fresh[k], 3000 + k) for k in range(50)),  # in the sealed delta
        *(("add", fresh[k], 3000 + k) for k in range(1000, 1200)),  # to the new delta
        *(("remove", fresh[k], 3000 + k) for k in range(1000, 1020)),  # and from it
        ("remove", codes[100], 100),
        ("add", codes[100], 100),  # removed and back in the old main segment
        ("remove", fresh[100], 3100),
        ("add", fresh[100], 3100),  # and in the sealed delta
        ("add", codes[0], 77),  # a new owner of a removed code
    ]
    for action, code, key in changes:
        if action == "add":
            index.add(code, key)
            model.add((code, key))
        else:
            index.remove(code, key)
            model.discard((code, key))
    queries = codes[:120] + fresh[:120] + fresh[1000:1040]
    assert as_set(index.search(queries, 0)) == model_truth(model, queries, 0)
    assert len(index) == len(model)
    gate.finish(merging)

    assert gate.errors == []
    assert index._sealed is None
    assert index._merge_removals is None
    assert index._main.rows == 4000  # every row the merge read, the removed ones dead
    assert int(np.count_nonzero(index._main.alive)) == 4000 - 50 - 50 - 2
    assert len(index) == len(model)
    for path in ("tables", "flat"):
        with monkeypatch.context() as patch:
            spy_paths(patch, path)
            assert as_set(index.search(queries, 0)) == model_truth(model, queries, 0)
    index.merge()
    assert index._main.rows == len(model)
    assert as_set(index.search(queries, 0)) == model_truth(model, queries, 0)


def test_a_removal_during_a_background_merge_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    index, codes = small_index(rng, 999, merge_threshold=1000)
    assert index._merger is None
    gate = MergeGate(monkeypatch)
    extra = random_codes(rng, 1, 256)[0].tobytes()
    index.add(extra, 999)  # the delta reaches the threshold: a merge starts
    assert gate.entered.wait()
    merger = index._merger
    assert merger is not None
    assert merger.is_alive()
    index.remove(codes[5], 5)
    index.remove(extra, 999)
    assert index.search([codes[5], extra], 0) == []
    gate.release.set()
    index.wait_merged()
    assert not merger.is_alive()
    assert index._merger is None
    assert index._main.rows == 1000
    assert len(index) == 998
    assert index.search([codes[5], extra], 0) == []
    assert index.search([codes[6]], 0) == [Hit(0, 6, 0)]


def test_a_removal_while_a_merge_reads_the_main_segment_is_replayed() -> None:
    """A merge reads the main segment's live rows outside the lock, so a removal
    can land in the middle of that read; it must not tear the read (codes and keys
    of different lengths) but be replayed on the new segment."""
    rng = np.random.default_rng(8)
    index, codes = small_index(rng, 300)
    index.merge()
    index.add(random_codes(rng, 1, 256)[0].tobytes(), 300)
    removed: list[int] = []

    class RemovesWhenRead(np.ndarray[Any, Any]):
        """Keys that remove a pair the first time the merge selects the live ones."""

        def __getitem__(self, item: Any) -> Any:
            if not removed and isinstance(item, np.ndarray) and item.dtype == np.bool_:
                removed.append(0)
                index.remove(codes[0], 0)
            return super().__getitem__(item)

    index._main.keys = index._main.keys.view(RemovesWhenRead)
    index.merge()
    assert removed == [0]
    assert index._main.rows == 301
    assert index.search([codes[0]], 0) == []
    assert len(index) == 300
    assert as_set(index.search(codes[1:], 0)) == {(q, q + 1, 0) for q in range(299)}


def test_a_failed_merge_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    index, codes = small_index(rng, 500)
    index.merge()
    extra = rows_of(random_codes(rng, 100, 256))
    index.add_many((code, 1000 + key) for key, code in enumerate(extra[:50]))
    with monkeypatch.context() as patch:
        gate = MergeGate(patch, fail=True)
        merging = gate.start(index)
        index.add_many((code, 1000 + key) for key, code in enumerate(extra[50:], start=50))
        index.remove(extra[0], 1000)  # in the sealed delta
        index.remove(extra[60], 1060)  # in the new delta
        gate.finish(merging)
    assert [type(error) for error in gate.errors] == [MemoryError]
    model = {(code, key) for key, code in enumerate(codes)}
    model |= {(code, 1000 + key) for key, code in enumerate(extra) if key not in (0, 60)}
    assert index._sealed is None
    assert index._merger is None
    assert len(index) == len(model)
    queries = codes[:20] + extra
    assert as_set(index.search(queries, 0)) == model_truth(model, queries, 0)
    index.merge()  # and a later merge works
    assert index._main.rows == len(model)
    assert as_set(index.search(queries, 0)) == model_truth(model, queries, 0)


Plan = list[tuple[str, bytes, int]]


def writer_plans(code_of: dict[int, bytes], pool: list[bytes]) -> list[Plan]:
    """300 adds and removals for each of 4 writers; ``code_of`` gains each new key's code.

    Each writer owns its keys; codes are shared, so a code has several owners.
    """
    plans: list[Plan] = []
    for writer in range(4):
        local = np.random.default_rng(100 + writer)
        plan: Plan = []
        for step in range(300):
            key = writer * 10_000 + int(local.integers(0, 120))
            code = code_of.setdefault(key, pool[int(local.integers(0, len(pool)))])
            plan.append(("remove" if local.random() < 0.35 and step else "add", code, key))
        plans.append(plan)
    return plans


def write_and_read(
    index: BinaryIndex,
    plans: list[Plan],
    stable: list[bytes],
    pool: list[bytes],
    code_of: dict[int, bytes],
) -> tuple[list[set[tuple[bytes, int]]], list[BaseException]]:
    """Run each plan in its own writer thread beside two searching readers.

    Returns each writer's model of the pairs it holds, and whatever any thread raised.
    """
    models: list[set[tuple[bytes, int]]] = [set() for _ in plans]
    errors: list[BaseException] = []
    writing = threading.Barrier(len(plans) + 2)
    done = threading.Event()

    def write(writer: int) -> None:
        try:
            writing.wait()
            for step, (action, code, key) in enumerate(plans[writer]):
                if action == "add" and step % 7 == 0:
                    index.add_many([(code, key), (code, key)])
                elif action == "add":
                    index.add(code, key)
                else:
                    index.remove(code, key)
                if action == "add":
                    models[writer].add((code, key))
                else:
                    models[writer].discard((code, key))
        except BaseException as exc:  # pragma: no cover - reported by the caller
            errors.append(exc)

    def read() -> None:
        try:
            writing.wait()
            while not done.is_set():
                # Codes nobody touches never flicker out during a merge.
                found = {(h.query, h.key) for h in index.search(stable, 0)}
                assert found == {(i, 100_000 + i) for i in range(len(stable))}
                # Whatever else is found is found at its true distance.
                for hit in index.search(pool[:20], 40):
                    assert hit.distance == brute_distance(pool[hit.query], code_of[hit.key])
        except BaseException as exc:  # pragma: no cover - reported by the caller
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(w,)) for w in range(len(plans))]
    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in writers + readers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    for thread in readers:
        thread.join()
    return models, errors


def merge_threads() -> set[threading.Thread]:
    """Background merge threads alive now, of any index."""
    return {thread for thread in threading.enumerate() if thread.name == "index-merge"}


def join_merges(index: BinaryIndex, others: set[threading.Thread]) -> None:
    """Wait until every background merge but ``others`` has ended, its log line included.

    ``wait_merged`` alone is not enough: a merge clears ``_merger`` before it logs,
    so it can be past ``wait_merged`` yet not logged. A merge thread still alive is
    joined here; one no longer alive has returned from ``merge``, so it has logged.
    ``others`` (merges other tests left, perhaps held by a gate) are not waited for.
    """
    index.wait_merged()
    for thread in merge_threads() - others:
        thread.join()


def test_concurrent_changes_and_searches_end_like_a_dict(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="index.binary")
    others = merge_threads()
    rng = np.random.default_rng(6)
    index = BinaryIndex(256, merge_threshold=50)
    stable = rows_of(random_codes(rng, 100, 256))
    index.add_many((code, 100_000 + key) for key, code in enumerate(stable))
    pool = rows_of(random_codes(rng, 300, 256))
    code_of: dict[int, bytes] = {100_000 + key: code for key, code in enumerate(stable)}
    plans = writer_plans(code_of, pool)
    # The stable codes' own merge ends (and logs) before any writer starts, so a
    # merge logged after this is one that a writer's add began.
    join_merges(index, others)
    caplog.clear()

    models, errors = write_and_read(index, plans, stable, pool, code_of)
    assert errors == []
    join_merges(index, others)
    # The delta starts empty with no merge running; the writers add far more than
    # merge_threshold fresh rows and rows leave the delta only by a merge, so some
    # add must start one, however the threads interleave.
    merged = [
        record
        for record in caplog.records
        if record.getMessage().startswith("index merged")
        and record.thread not in {thread.ident for thread in others}
    ]
    assert merged  # background merges ran while the writers wrote

    model = set().union(*models) | {(code, 100_000 + k) for k, code in enumerate(stable)}
    queries = stable + pool
    assert len(index) == len(model)
    assert as_set(index.search(queries, 0)) == model_truth(model, queries, 0)
    index.merge()
    assert len(index) == len(model) == index._main.rows
    assert as_set(index.search(queries, 0)) == model_truth(model, queries, 0)
