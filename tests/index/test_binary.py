"""BinaryIndex against a brute-force Hamming oracle, and its bookkeeping of owners."""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index import BinaryIndex, Hit, mih

PLANTED = (0, 1, 31, 32, 33)


def random_codes(rng: np.random.Generator, count: int, bits: int) -> npt.NDArray[np.uint8]:
    return rng.integers(0, 256, (count, bits // 8), dtype=np.uint8)


def flip_bits(code: bytes, count: int, rng: np.random.Generator) -> bytes:
    """``code`` with exactly ``count`` distinct bits flipped."""
    bits = np.unpackbits(np.frombuffer(code, dtype=np.uint8))
    chosen = rng.choice(bits.size, size=count, replace=False)
    bits[chosen] ^= 1
    return np.packbits(bits).tobytes()


def hamming(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def oracle(
    stored: dict[bytes, set[int]], queries: list[bytes], max_distance: int
) -> set[tuple[int, int, int]]:
    """Every (query, key, distance) within max_distance, by brute force in numpy."""
    if not stored:
        return set()
    codes = list(stored)
    table = np.unpackbits(np.frombuffer(b"".join(codes), np.uint8).reshape(len(codes), -1), 1)
    found: set[tuple[int, int, int]] = set()
    for q, query in enumerate(queries):
        qbits = np.unpackbits(np.frombuffer(query, np.uint8))
        distances = np.count_nonzero(table != qbits, axis=1)
        for row in np.flatnonzero(distances <= max_distance):
            for key in stored[codes[row]]:
                found.add((q, key, int(distances[row])))
    return found


def as_set(hits: list[Hit]) -> set[tuple[int, int, int]]:
    triples = {(h.query, h.key, h.distance) for h in hits}
    assert len(triples) == len(hits), "a (query, key) pair was reported twice"
    return triples


@pytest.mark.parametrize("merged", [False, True], ids=["delta", "main"])
@pytest.mark.parametrize("bits", [256, 64])
def test_range_search_equals_brute_force(bits: int, merged: bool) -> None:
    rng = np.random.default_rng(bits)
    index = BinaryIndex(bits)
    stored: dict[bytes, set[int]] = defaultdict(set)
    bases = [row.tobytes() for row in random_codes(rng, 2000, bits)]
    for key, code in enumerate(bases):
        stored[code].add(key)
    # Near-duplicates planted at known distances from the first few codes.
    queries: list[bytes] = []
    for i, distance in enumerate(PLANTED):
        queries.append(flip_bits(bases[i], distance, rng))
    queries += [row.tobytes() for row in random_codes(rng, 20, bits)]
    index.add_many((code, key) for key, code in enumerate(bases))
    assert len(index) == sum(len(keys) for keys in stored.values())
    if merged:
        index.merge()  # the same answers from the multi-index main segment

    radii = (0, 1, 8, 31, 32, 33) if bits == 256 else (0, 1, 8, 12, 20)
    for radius in radii:
        assert as_set(index.search(queries, radius)) == oracle(stored, queries, radius), radius

    # Each planted near-duplicate is found at exactly its distance.
    for i, distance in enumerate(PLANTED):
        hits = index.search([queries[i]], 33)
        assert Hit(0, i, distance) in hits


@pytest.mark.parametrize("bits", [256, 64])
@pytest.mark.parametrize("distance", PLANTED)
def test_radius_is_inclusive(bits: int, distance: int) -> None:
    rng = np.random.default_rng(distance)
    code = random_codes(rng, 1, bits)[0].tobytes()
    index = BinaryIndex(bits)
    index.add(code, 7)
    query = flip_bits(code, distance, rng)
    assert hamming(code, query) == distance
    assert index.search([query], distance) == [Hit(0, 7, distance)]
    if distance > 0:
        assert index.search([query], distance - 1) == []


def test_a_code_shared_by_two_keys_is_held_once_per_key() -> None:
    code = bytes(range(32))
    index = BinaryIndex(256)
    index.add(code, 1)
    index.add(code, 2)
    index.add(code, 2)  # the same pair again is a no-op
    index.merge()
    index.add(code, 2)  # and still once it is in the main segment
    assert len(index) == 2
    assert index.owners(code) == {1, 2}
    assert sorted(index.search([code], 0), key=lambda h: h.key) == [Hit(0, 1, 0), Hit(0, 2, 0)]


def test_removing_one_owner_keeps_the_other() -> None:
    code = bytes(range(32))
    neighbour = flip_bits(code, 5, np.random.default_rng(0))
    index = BinaryIndex(256)
    index.add_many([(code, 1), (code, 2), (neighbour, 3)])
    index.remove(code, 1)
    assert len(index) == 2
    assert index.owners(code) == {2}
    index.merge()
    assert len(index) == 2
    assert as_set(index.search([code], 10)) == {(0, 2, 0), (0, 3, 5)}
    index.remove(code, 2)
    assert index.owners(code) == frozenset()
    assert as_set(index.search([code], 10)) == {(0, 3, 5)}


def test_removing_the_last_owner_drops_the_code() -> None:
    code = bytes(range(32))
    other = bytes(range(100, 132))
    index = BinaryIndex(256)
    index.add_many([(code, 1), (other, 2)])
    index.remove(code, 1)
    assert len(index) == 1
    assert index.owners(code) == frozenset()
    assert index.search([code], 256) == [Hit(0, 2, hamming(code, other))]
    # Adding it back gives it a fresh id and it is found again.
    index.add(code, 4)
    assert Hit(0, 4, 0) in index.search([code], 0)
    assert len(index) == 2


def test_removing_unknown_codes_or_keys_is_a_no_op() -> None:
    code = bytes(range(32))
    index = BinaryIndex(256)
    index.add(code, 1)
    index.remove(bytes(32), 1)  # unknown code
    index.remove(code, 99)  # known code, unknown key
    assert len(index) == 1
    assert index.search([code], 0) == [Hit(0, 1, 0)]


def test_wrong_code_lengths_raise() -> None:
    index = BinaryIndex(256)
    index.add(bytes(32), 1)
    for bad in (bytes(8), bytes(31), bytes(33), b""):
        with pytest.raises(ValueError, match="256-bit code"):
            index.add(bad, 1)
        with pytest.raises(ValueError, match="256-bit code"):
            index.remove(bad, 1)
        with pytest.raises(ValueError, match="256-bit code"):
            index.search([bytes(32), bad], 0)
    assert index.owners(bytes(32)) == {1}
    assert len(index) == 1


def test_a_refused_batch_changes_nothing() -> None:
    """A bad entry anywhere in add_many refuses the whole batch, before any change;
    a half-applied batch would leave codes counted and owned but never searchable."""
    known, new = bytes(32), b"\x0f" * 32
    index = BinaryIndex(256)
    index.add(known, 1)
    with pytest.raises(ValueError, match="256-bit code"):
        index.add_many([(known, 2), (new, 3), (bytes(8), 4)])
    assert len(index) == 1
    assert index.owners(known) == {1}
    assert index.owners(new) == frozenset()
    # Adding the new code properly afterwards makes it searchable.
    index.add(new, 3)
    assert index.search([new], 0) == [Hit(0, 3, 0)]


@pytest.mark.parametrize("bits", [0, -8, 12, 63])
def test_bits_must_be_a_positive_multiple_of_8(bits: int) -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        BinaryIndex(bits)


def test_empty_index_and_empty_queries() -> None:
    index = BinaryIndex(64)
    assert len(index) == 0
    assert index.search([bytes(8)], 64) == []
    assert index.search([], 64) == []
    index.add(bytes(8), 1)
    assert index.search([], 64) == []
    index.remove(bytes(8), 1)
    assert len(index) == 0
    assert index.search([bytes(8)], 64) == []


def test_many_queries_report_their_own_index() -> None:
    rng = np.random.default_rng(3)
    codes = [row.tobytes() for row in random_codes(rng, 50, 64)]
    index = BinaryIndex(64)
    index.add_many((code, 1000 + i) for i, code in enumerate(codes))
    reversed_codes = codes[::-1]
    hits = index.search(reversed_codes, 0)
    assert {(h.query, h.key) for h in hits} == {(i, 1000 + 49 - i) for i in range(50)}


def test_concurrent_adds_and_searches_stay_consistent() -> None:
    rng = np.random.default_rng(11)
    codes = [row.tobytes() for row in random_codes(rng, 400, 256)]
    index = BinaryIndex(256)
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for i in range(offset, len(codes), 4):
                index.add(codes[i], i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(50):
                for hit in index.search(codes[:20], 0):
                    assert codes[hit.key] == codes[hit.query]
                    assert hit.distance == 0
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(index) == 400
    assert as_set(index.search(codes, 0)) == {(i, i, 0) for i in range(400)}


# --- a model-based property test --------------------------------------------------------

# A small pool of 64-bit codes, some close to each other, so that searches at small
# radii hit, miss and straddle the boundary.
_rng = np.random.default_rng(2024)
_base = [row.tobytes() for row in random_codes(_rng, 6, 64)]
POOL = _base + [flip_bits(code, d, _rng) for code in _base for d in (1, 3, 6)]

operation = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(POOL), st.integers(0, 5)),
    st.tuples(st.just("remove"), st.sampled_from(POOL), st.integers(0, 5)),
)


@settings(max_examples=50, deadline=None)
@given(
    operations=st.lists(operation, max_size=40),
    queries=st.lists(st.sampled_from(POOL), min_size=1, max_size=4),
    radius=st.integers(0, 8),
)
def test_index_behaves_like_a_dict_of_owners(
    operations: list[tuple[str, bytes, int]], queries: list[bytes], radius: int
) -> None:
    # A tiny merge threshold folds the delta into the main segment every few
    # adds, so changes land in both segments and across merges.
    index = BinaryIndex(64, merge_threshold=3)
    model: dict[bytes, set[int]] = {}
    for action, code, key in operations:
        index.wait_merged()
        if action == "add":
            index.add(code, key)
            model.setdefault(code, set()).add(key)
        else:
            index.remove(code, key)
            if code in model:
                model[code].discard(key)
                if not model[code]:
                    del model[code]
    index.wait_merged()
    assert len(index) == sum(len(keys) for keys in model.values())
    for code in POOL:
        assert index.owners(code) == model.get(code, set())
    assert as_set(index.search(queries, radius)) == oracle(model, queries, radius)


def test_exact_lookups_in_the_unmerged_delta_equal_brute_force() -> None:
    """Radius 0 in the delta goes through its hash table, not a scan: the same
    answers, for codes held by several keys, removed ones and repeated queries."""
    rng = np.random.default_rng(17)
    index = BinaryIndex(256, merge_threshold=1 << 30)
    codes = [c.tobytes() for c in random_codes(rng, 400, 256)]
    model: dict[bytes, set[int]] = {}
    for key, code in enumerate(codes):
        index.add(code, key)
        model.setdefault(code, set()).add(key)
    for key, code in enumerate(codes[:50]):  # a second owner for some codes
        index.add(code, 1000 + key)
        model[code].add(1000 + key)
    for key, code in enumerate(codes[25:75], start=25):  # and some owners gone
        index.remove(code, key)
        model[code].discard(key)
        if not model[code]:
            del model[code]
    index.add(codes[30], 30)  # back again after its removal
    model.setdefault(codes[30], set()).add(30)
    queries = codes[::3] + [c.tobytes() for c in random_codes(rng, 50, 256)] + codes[:5]
    assert as_set(index.search(queries, 0)) == oracle(model, queries, 0)
    assert len(index) == sum(len(keys) for keys in model.values())


@pytest.mark.parametrize("bits", [256, 64])
def test_contains_says_which_codes_some_key_holds_exactly(bits: int) -> None:
    rng = np.random.default_rng(bits + 1)
    index = BinaryIndex(bits, merge_threshold=1 << 30)
    main = [c.tobytes() for c in random_codes(rng, 3000, bits)]
    index.add_many((code, key) for key, code in enumerate(main))
    index.merge()  # these in the multi-index main segment, the next in the delta
    delta = [c.tobytes() for c in random_codes(rng, 300, bits)]
    index.add_many((code, 5000 + key) for key, code in enumerate(delta))
    for key in range(0, 100):  # gone from the main segment
        index.remove(main[key], key)
    for key in range(0, 30):  # and from the delta
        index.remove(delta[key], 5000 + key)
    near = flip_bits(main[500], 1, rng)  # one bit off a held code: not held
    queries = main[::7] + delta[::3] + [near] + [c.tobytes() for c in random_codes(rng, 40, bits)]
    expected = [bool(index.search([q], 0)) for q in queries]
    assert index.contains(queries).tolist() == expected
    assert sum(expected) == len([q for q in main[::7] if main.index(q) >= 100]) + len(
        [q for q in delta[::3] if delta.index(q) >= 30]
    )
    assert index.contains([]).tolist() == []


def test_main_segment_codes_start_on_a_cache_line(tmp_path: Path) -> None:
    """After a merge, a removal and a snapshot round trip, the searched codes start
    on a cache line (each 32-byte code in one line) and answers stay exact."""
    rng = np.random.default_rng(64)
    index = BinaryIndex(256)
    stored: dict[bytes, set[int]] = defaultdict(set)
    codes = [row.tobytes() for row in random_codes(rng, 3000, 256)]
    for key, code in enumerate(codes):
        stored[code].add(key)
    index.add_many((code, key) for key, code in enumerate(codes))
    index.merge()
    index.remove(codes[7], 7)
    stored[codes[7]].discard(7)
    queries = [flip_bits(codes[i], 20, rng) for i in range(10)]

    def check(candidate: BinaryIndex) -> None:
        main = candidate._main
        assert main.codes.ctypes.data % mih.CACHE_LINE == 0
        assert main.tables is not None
        assert main.tables.codes.ctypes.data == main.codes.ctypes.data  # one copy, not two
        live = {code: keys for code, keys in stored.items() if keys}
        assert as_set(candidate.search(queries, 31)) == oracle(live, queries, 31)

    check(index)
    contents = index.save(tmp_path)
    loaded = BinaryIndex(256)
    loaded.load(tmp_path, contents)
    check(loaded)


def test_aligned_helpers_keep_the_values_and_skip_needless_copies() -> None:
    rng = np.random.default_rng(5)
    codes = random_codes(rng, 101, 256)
    buffer = np.empty(codes.nbytes + 128, np.uint8)
    start = (-buffer.ctypes.data % mih.CACHE_LINE) + 16  # 16 bytes past a line, as NumPy's
    unaligned = buffer[start : start + codes.nbytes].reshape(codes.shape)
    unaligned[...] = codes
    order = rng.permutation(101)
    for out, expected in (
        (mih.aligned(unaligned), codes),
        (mih.aligned(codes, copy=True), codes),
        (mih.aligned_take(unaligned, order), codes[order]),
    ):
        assert out.ctypes.data % mih.CACHE_LINE == 0
        assert out.flags.c_contiguous
        np.testing.assert_array_equal(out, expected)
    done = mih.aligned(unaligned)
    assert mih.aligned(done) is done
    assert mih.aligned(done, copy=True) is not done
