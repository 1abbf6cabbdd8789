"""Multi-index hashing against brute force: the tables alone, hand-picked layouts,
the main segment's two search paths, approximate searches, and removals and
additions across merges."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index import BinaryIndex, Hit, mih
from index.mih import (
    MAX_SLOT_BITS,
    MIN_SLOT_BITS,
    Layout,
    MultiIndex,
    flip_masks,
    probes_per_slot,
)
from index.segments import MainSegment
from tests.index.test_binary import as_set, flip_bits, random_codes

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
Triples = set[tuple[int, int, int]]


# --- brute force and planted neighbours ----------------------------------------------


def distances(queries: U8, codes: U8) -> I64:
    """The Hamming distance of every query to every code, by brute force."""
    q = np.ascontiguousarray(queries).view(np.uint64)
    c = np.ascontiguousarray(codes).view(np.uint64)
    found: I64 = np.bitwise_count(q[:, None, :] ^ c[None, :, :]).sum(axis=2, dtype=np.int64)
    return found


def brute_force(
    queries: U8, codes: U8, radius: int, alive: npt.NDArray[np.bool_] | None = None
) -> Triples:
    """Every (query, row, distance) within ``radius``, live rows only."""
    found = distances(queries, codes)
    mask = found <= radius
    if alive is not None:
        mask &= alive[None, :]
    q, r = np.nonzero(mask)
    return set(zip(q.tolist(), r.tolist(), found[q, r].tolist(), strict=True))


def uniform(slots: int, slot_bits: int) -> Layout:
    return Layout((slot_bits,) * slots)


def spread_flips(
    code: bytes,
    distance: int,
    layout: Layout,
    rng: np.random.Generator,
    thresholds: tuple[int, ...] | None = None,
) -> bytes:
    """``code`` with ``distance`` bits flipped, spread so that as few slots as
    possible stay within their threshold.

    Flips go round the slots one at a time in a random order, each slot taking
    at most its threshold + 1 (without thresholds: as many as it has bits), then
    to the bits past the last slot, then anywhere. With thresholds summing to
    ``radius - slots + 1``, a neighbour at ``radius`` then has one slot exactly
    at its threshold, the case the pigeonhole bound is tight for, and one at
    ``radius + 1`` has none.
    """
    bits = np.unpackbits(np.frombuffer(code, np.uint8))
    firsts = np.cumsum((0, *layout.widths[:-1]))
    free = [
        list(first + rng.permutation(w)) for first, w in zip(firsts, layout.widths, strict=True)
    ]
    caps = layout.widths if thresholds is None else tuple(t + 1 for t in thresholds)
    order = rng.permutation(layout.slots).tolist()
    chosen: list[int] = []
    taken = [0] * layout.slots
    while len(chosen) < distance:
        open_slots = [s for s in order if taken[s] < caps[s] and free[s]]
        if not open_slots:
            break
        for s in open_slots[: distance - len(chosen)]:
            chosen.append(free[s].pop())
            taken[s] += 1
    rest = list(rng.permutation(np.arange(layout.bits, bits.size))) + [
        b for s in order for b in free[s]
    ]
    chosen += rest[: distance - len(chosen)]
    assert len(set(chosen)) == distance
    bits[chosen] ^= 1
    return np.packbits(bits).tobytes()


def tail_flips(code: bytes, count: int, layout: Layout, rng: np.random.Generator) -> bytes:
    """``code`` with ``count`` of the bits past the last slot (never indexed) flipped."""
    bits = np.unpackbits(np.frombuffer(code, np.uint8))
    bits[rng.choice(np.arange(layout.bits, bits.size), size=count, replace=False)] ^= 1
    return np.packbits(bits).tobytes()


def matrix(codes: Iterable[bytes]) -> U8:
    rows = list(codes)
    return np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), -1).copy()


def rows_of(codes: U8) -> list[bytes]:
    return [row.tobytes() for row in codes]


def table_hits(
    tables: MultiIndex,
    queries: U8,
    radius: int,
    alive: npt.NDArray[np.bool_],
    probe_radius: int | None = None,
) -> Triples:
    """The tables' answer as a set, in the caller's row numbers; a row found
    through several slots comes back once."""
    order = np.arange(len(alive)) if tables.order is None else tables.order
    q, rows, d = tables.search(queries, radius, alive[order], probe_radius)
    r = order[rows]
    triples = list(zip(q.tolist(), r.tolist(), d.tolist(), strict=True))
    per_pair = Counter((query, row) for query, row, _ in triples)
    assert not per_pair or max(per_pair.values()) == 1
    return set(triples)


# --- the kernels' building blocks ---------------------------------------------------


@pytest.mark.parametrize(
    ("slot_bits", "flips"), [(1, 0), (1, 3), (8, 2), (13, 3), (16, 1), (22, 2)]
)
def test_flip_masks_are_every_value_within_the_flips(slot_bits: int, flips: int) -> None:
    masks = flip_masks(slot_bits, flips)
    assert masks.dtype == np.uint32
    assert len(masks) == probes_per_slot(slot_bits, flips) == len(set(masks.tolist()))
    assert int(masks.max()) < 2**slot_bits
    assert int(np.bitwise_count(masks).max()) == min(flips, slot_bits)
    assert masks[0] == 0


@pytest.mark.parametrize(
    ("count", "copies", "queries"),
    [(3000, 5000, 3), (60, 0, 20_000)],  # blocks of many hits; one row per block
)
def test_the_flat_scan_equals_brute_force(count: int, copies: int, queries: int) -> None:
    rng = np.random.default_rng(count)
    spread = random_codes(rng, count, 64)
    stored = np.concatenate([spread, np.repeat(spread[:1], copies, axis=0)])
    asked = np.concatenate([spread[:2], random_codes(rng, queries - 2, 64)])
    alive = rng.random(len(stored)) < 0.8
    for radius in (0, 20, 64):
        q, r, d = mih.scan(asked, stored, radius, alive)
        found = list(zip(q.tolist(), r.tolist(), d.tolist(), strict=True))
        assert len(found) == len(set(found))
        assert set(found) == brute_force(asked, stored, radius, alive)


@pytest.mark.parametrize("bits", [64, 128, 256])
@pytest.mark.parametrize("count", [1, 1000, 10_000_000])
@pytest.mark.parametrize("radius", [0, 8, 31, 51])
def test_chosen_layouts_fit_the_codes(bits: int, count: int, radius: int) -> None:
    layout = Layout.choose(bits, count, radius)
    assert layout.bits <= bits
    assert all(MIN_SLOT_BITS <= w <= MAX_SLOT_BITS for w in layout.widths)
    assert max(layout.widths) - min(layout.widths) <= 1
    thresholds = layout.thresholds(radius, count)
    assert len(thresholds) == layout.slots
    assert min(thresholds) >= -1
    # The generalized pigeonhole bound, with nothing to spare.
    assert sum(thresholds) == radius - layout.slots + 1


def test_pdq_at_ten_million_indexes_every_bit_and_spares_a_flip() -> None:
    layout = Layout.choose(256, 10_000_000, 31)
    assert layout == Layout((24,) * 3 + (23,) * 8) == Layout.even(256, 11)
    thresholds = layout.thresholds(31, 10_000_000)
    assert sorted(thresholds) == [1] + [2] * 10  # the plain pigeonhole probes 2 in all 11
    assert layout.widths[thresholds.index(1)] == 23  # the fuller buckets lose the flip
    assert layout.cost(10_000_000, 31) < uniform(11, 22).cost(10_000_000, 31)
    # An exact lookup probes one bucket of one slot.
    assert sorted(layout.thresholds(0, 10_000_000)) == [-1] * 10 + [0]


def test_thresholds_go_where_flips_cost_least() -> None:
    # A 24-bit slot's buckets are nearly empty at a million codes, a 12-bit
    # slot's hold 244 codes each: its flips go to the wide slot first.
    assert Layout((24, 12)).thresholds(3, 1_000_000) == (2, 0)
    assert Layout((12, 24)).thresholds(3, 1_000_000) == (0, 2)
    assert Layout((24, 12)).thresholds(0, 1_000_000) == (0, -1)


def test_layouts_refuse_widths_out_of_range() -> None:
    for widths in [(), (0, 8), (25,), (8, 30)]:
        with pytest.raises(ValueError, match="1 to 24 bits"):
            Layout(widths)
    assert Layout.even(64, 3) == Layout((22, 21, 21))


def test_tables_refuse_what_does_not_fit() -> None:
    codes = random_codes(np.random.default_rng(0), 10, 64)
    with pytest.raises(ValueError, match="2-D"):
        MultiIndex(codes[0], uniform(4, 16))
    with pytest.raises(ValueError, match="64-bit multiples"):
        MultiIndex(codes[:, :7], uniform(4, 8))
    with pytest.raises(ValueError, match="does not fit"):
        MultiIndex(codes, uniform(5, 13))
    built = MultiIndex(codes, uniform(4, 16))
    arrays = built.arrays()
    assert list(arrays) == list(MultiIndex.ARRAYS)
    assert MultiIndex.layout_of(arrays) == built.layout
    assert built.order is not None  # random codes: copied in the first slot's order
    np.testing.assert_array_equal(built.codes, codes[built.order])
    same = MultiIndex(built.codes, built.layout, arrays)
    assert same.order is None
    assert same.nbytes == built.nbytes == sum(a.nbytes for a in arrays.values())
    alive = np.ones(10, np.bool_)
    assert table_hits(built, codes, 20, alive) == brute_force(codes, codes, 20)
    assert table_hits(same, built.codes, 20, alive) == brute_force(built.codes, built.codes, 20)
    slots, bases, offsets, rows = (arrays[name] for name in MultiIndex.ARRAYS)
    mismatched = [
        {"slots": slots[:2]},
        {"slots": slots * [1, 3]},  # 3-byte offsets
        {"slots": slots + [1, 0]},  # other widths
        {"bases": bases[:-1]},
        {"bases": bases.astype(np.int64)},
        {"offsets": offsets[:-1]},
        {"rows": rows[:, :5]},
        {"rows": rows.astype(np.int32)},
    ]
    for change in mismatched:
        with pytest.raises(ValueError, match="do not match"):
            MultiIndex(built.codes, built.layout, {**arrays, **change})
    damaged = [
        {"bases": np.where(np.arange(len(bases)) == len(bases) - 1, 9, bases)},  # ends early
        {"bases": np.where(np.arange(len(bases)) == 1, 11, bases)},  # a start past the rows
        {"offsets": np.where(np.arange(len(offsets)) == 3, 200, offsets).astype(np.uint8)},
        {"rows": np.where(rows == 0, 10, rows).astype(np.uint32)},  # a row past the codes
    ]
    for change in damaged:
        with pytest.raises(ValueError, match="damaged|past the codes"):
            MultiIndex(built.codes, built.layout, {**arrays, **change})
    with pytest.raises(ValueError, match="not in their first slot's order"):
        MultiIndex(built.codes[::-1].copy(), built.layout, arrays)
    with pytest.raises(ValueError, match="not a slot list"):
        MultiIndex.layout_of({**arrays, "slots": slots[:, 0]})


# --- hand-picked layouts: exact at every radius --------------------------------------

HAND_LAYOUTS = [
    (64, uniform(4, 16), range(21)),
    (64, uniform(3, 20), range(21)),  # bits 60-63 are not indexed
    (64, uniform(5, 12), range(21)),  # bits 60-63 are not indexed
    (64, uniform(2, 13), range(21)),  # 38 bits are not indexed
    (64, uniform(1, 12), range(21)),  # one slot, 52 bits not indexed
    (64, Layout((13, 12, 11)), range(21)),  # 28 bits are not indexed
    (64, Layout((5, 20, 3, 16, 1)), range(21)),  # slots narrower than a block of buckets
    (256, Layout.even(256, 11), (0, 1, 10, 11, 20, 21, 31, 32, 43, 51)),  # every bit indexed
    (256, uniform(11, 22), (0, 1, 10, 11, 21, 22, 32, 33, 43, 44, 51)),  # 14 bits not indexed
    (256, uniform(16, 16), (0, 15, 16, 31, 32, 47, 48, 51)),
    (256, uniform(7, 13), (0, 6, 7, 13, 14, 31, 32, 48, 49, 51)),
    (256, uniform(32, 8), (0, 31, 32, 51, 63, 64)),
]


@pytest.mark.parametrize(
    ("bits", "layout", "radii"),
    HAND_LAYOUTS,
    ids=[f"{b}-{'.'.join(map(str, lay.widths))}" for b, lay, _ in HAND_LAYOUTS],
)
def test_hand_picked_layouts_are_exact_at_every_radius(
    bits: int, layout: Layout, radii: Iterable[int]
) -> None:
    radii = list(radii)
    rng = np.random.default_rng(layout.slots * 1000 + layout.bits)
    codes = rows_of(random_codes(rng, 2000, bits))
    tail = bits - layout.bits
    # Around codes[0], neighbours at every distance up to the widest radius and
    # one past it, both spread evenly over the slots and at random; around
    # codes[1], neighbours differing only in the bits no slot covers.
    planted = [spread_flips(codes[0], d, layout, rng) for d in range(max(radii) + 2)]
    planted += [flip_bits(codes[0], d, rng) for d in range(max(radii) + 2)]
    planted += [
        tail_flips(codes[1], d, layout, rng) for d in sorted({1, tail // 2, tail}) if 0 < d <= tail
    ]
    # Around codes[2], per radius, the hardest neighbours for the thresholds
    # the tables will probe: at the radius, and one bit past it.
    count = 2000 + len(planted) + 2 * len(radii)
    hardest = [
        spread_flips(codes[2], d, layout, rng, layout.thresholds(radius, count))
        for radius in radii
        for d in (radius, radius + 1)
    ]
    stored = matrix(codes + planted + hardest)
    queries = matrix(
        [codes[0], codes[1], codes[2], spread_flips(codes[3], max(radii), layout, rng)]
        + rows_of(random_codes(rng, 3, bits))
    )
    tables = MultiIndex(stored, layout)
    everyone = np.ones(len(stored), np.bool_)
    some_removed = rng.random(len(stored)) < 0.8
    for k, radius in enumerate(radii):
        assert tables.thresholds(radius) == layout.thresholds(radius, count)
        truth = brute_force(queries, stored, radius)
        assert table_hits(tables, queries, radius, everyone) == truth, radius
        assert {(0, 2000 + d, d) for d in range(radius + 1)} <= truth  # the planted are there
        assert (2, 2000 + len(planted) + 2 * k, radius) in truth
        live_truth = brute_force(queries, stored, radius, some_removed)
        assert table_hits(tables, queries, radius, some_removed) == live_truth, radius


@pytest.mark.parametrize(
    ("layout", "probe_radius"),
    [(uniform(4, 16), 4), (uniform(3, 20), 5), (Layout((13, 12, 11, 10)), 6)],
)
def test_a_smaller_probe_radius_is_exact_up_to_it(layout: Layout, probe_radius: int) -> None:
    rng = np.random.default_rng(5)
    codes = rows_of(random_codes(rng, 500, 64))
    planted = [spread_flips(codes[0], d, layout, rng) for d in range(17)]
    planted += [flip_bits(codes[0], d, rng) for d in range(17)]
    thresholds = layout.thresholds(probe_radius, 500 + len(planted) + 2)
    # The hardest neighbours for those probes: at the probe radius, and past it.
    planted += [
        spread_flips(codes[0], d, layout, rng, thresholds) for d in (probe_radius, probe_radius + 1)
    ]
    stored = matrix(codes + planted)
    queries = matrix([codes[0], *rows_of(random_codes(rng, 4, 64))])
    tables = MultiIndex(stored, layout)
    assert tables.thresholds(probe_radius) == thresholds
    alive = np.ones(len(stored), np.bool_)
    got = table_hits(tables, queries, 16, alive, probe_radius)
    assert brute_force(queries, stored, probe_radius) <= got <= brute_force(queries, stored, 16)
    edge = len(stored) - 2
    assert (0, edge, probe_radius) in got
    assert (0, edge + 1, probe_radius + 1) not in got  # no slot within its threshold
    # A probe radius at or past the radius is an exact search.
    for probe in (16, 30):
        assert table_hits(tables, queries, 16, alive, probe) == brute_force(queries, stored, 16)


# --- compressed bucket starts on skewed codes ------------------------------------------


@pytest.mark.parametrize(
    ("copies", "crowded", "sizes"),
    [
        (255, 4, [1, 1, 1, 1]),  # a block of 255 rows still takes 1-byte offsets
        (256, 4, [2, 2, 2, 2]),
        (300, 1, [2, 1, 1, 1]),  # only the crowded slot widens
        (65_535, 4, [2, 2, 2, 2]),
        (65_536, 4, [4, 4, 4, 4]),
    ],
)
def test_crowded_buckets_widen_their_slots_offsets(
    copies: int, crowded: int, sizes: list[int]
) -> None:
    """Real codes are not uniform (a blank image's PDQ is all zeros; a photo's
    crops share slot values): a block of 64 buckets holding 256 or more rows
    needs offsets of 2 bytes, and 65,536 or more of 4."""
    rng = np.random.default_rng(copies + crowded)
    layout = uniform(4, 16)
    spread = random_codes(rng, 3000, 64)
    spread[:, ::2] |= 1  # no slot value under 256: the first block of each slot is empty
    crowd = random_codes(rng, copies, 64)
    crowd[:, : crowded * 2] = 0  # the first slots of every crowd code are zero
    stored = np.concatenate([spread, crowd])
    tables = MultiIndex(stored, layout)
    assert tables.arrays()["slots"][:, 1].tolist() == sizes
    queries = np.concatenate([np.zeros((1, 8), np.uint8), crowd[:1], spread[:2]])
    some_removed = rng.random(len(stored)) < 0.8
    for radius in (0, 5, 20):
        for alive in (np.ones(len(stored), np.bool_), some_removed):
            truth = brute_force(queries, stored, radius, alive)
            assert table_hits(tables, queries, radius, alive) == truth
    # As a snapshot holds them: the codes in the tables' order.
    assert tables.order is not None
    again = MultiIndex(tables.codes, layout, tables.arrays())
    in_order = some_removed[tables.order]
    assert table_hits(again, queries, 12, in_order) == brute_force(
        queries, tables.codes, 12, in_order
    )


# --- BinaryIndex's main segment on 20,000 codes --------------------------------------

PLANTED = {256: (0, 1, 2, 15, 30, 31, 32, 40, 51), 64: (0, 1, 2, 5, 6, 7, 10, 11)}
RADII = {256: (0, 31, 32, 51), 64: (0, 6, 10)}
COUNT = 20_000


@dataclass(frozen=True)
class Corpus:
    """A merged index whose key for each code is the code's row in ``codes``."""

    index: BinaryIndex
    codes: U8
    queries: U8

    def truth(self, radius: int, queries: U8 | None = None) -> Triples:
        return brute_force(self.queries if queries is None else queries, self.codes, radius)

    def search(self, radius: int, exact_distance: int | None = None) -> Triples:
        hits = self.index.search(rows_of(self.queries), radius, exact_distance=exact_distance)
        return as_set(hits)


@cache
def corpus(bits: int) -> Corpus:
    """20,000 random codes plus neighbours planted at known distances of some,
    merged into a main segment with tables; built once per code length."""
    rng = np.random.default_rng(bits)
    codes = rows_of(random_codes(rng, COUNT, bits))
    planted = PLANTED[bits]
    # Stored neighbours of codes[0..], found by querying those codes.
    codes += [flip_bits(codes[i], d, rng) for i, d in enumerate(planted)]
    index = BinaryIndex(bits)
    index.add_many((code, key) for key, code in enumerate(codes))
    index.merge()
    tables = index._main.tables
    assert tables is not None
    # Queries near codes[100..] spread over the slots actually built (as few
    # as can be left within the thresholds of the index's radius), and at
    # random near codes[200..]; then codes nothing is near.
    thresholds = tables.thresholds(index.radius)
    queries = codes[: len(planted)]
    queries += [
        spread_flips(codes[100 + i], d, tables.layout, rng, thresholds)
        for i, d in enumerate(planted)
    ]
    queries += [flip_bits(codes[200 + i], d, rng) for i, d in enumerate(planted)]
    queries += rows_of(random_codes(rng, 10, bits))
    return Corpus(index, matrix(codes), matrix(queries))


def spy_paths(monkeypatch: pytest.MonkeyPatch, force: str | None = None) -> Counter[str]:
    """Count main-segment searches by path; ``force`` overrides the cost model."""
    calls: Counter[str] = Counter()
    flat_search = mih.scan
    table_search = MultiIndex.search

    def counting_flat(*args: Any, **kwargs: Any) -> Any:
        calls["flat"] += 1
        return flat_search(*args, **kwargs)

    def counting_tables(self: MultiIndex, *args: Any, **kwargs: Any) -> Any:
        calls["tables"] += 1
        return table_search(self, *args, **kwargs)

    monkeypatch.setattr(mih, "scan", counting_flat)
    monkeypatch.setattr(MultiIndex, "search", counting_tables)
    if force is not None:
        cost = 0.0 if force == "tables" else float("inf")

        def forced(_self: MultiIndex, _radius: int) -> float:
            return cost

        monkeypatch.setattr(MultiIndex, "cost", forced)
    return calls


@pytest.mark.parametrize("bits", [256, 64])
def test_merge_builds_tables_over_every_code(bits: int) -> None:
    data = corpus(bits)
    main = data.index._main
    assert main.tables is not None
    assert main.rows == len(data.codes) == len(data.index)
    assert len(data.index._delta) == 0
    assert main.tables.layout == Layout.choose(bits, main.rows, data.index.radius)
    assert main.tables.cost(0) < main.rows  # exact lookups take the tables by choice
    # The merge wrote the codes in the first slot's order: no second copy.
    assert main.tables.order is None
    assert main.tables.codes is main.codes


def test_a_main_segment_given_codes_out_of_order_keeps_keys_and_flags_with_them() -> None:
    rng = np.random.default_rng(11)
    codes = random_codes(rng, 3000, 256)
    keys = (np.arange(3000) * 7).astype(np.uint32)
    alive = np.arange(3000) % 3 != 0
    main = MainSegment(codes, keys, Layout.choose(256, 3000, 32), alive=alive)
    assert main.tables is not None
    assert main.tables.order is not None
    q, r, d = main.search(codes[:60], 0, None, 1)
    assert [int(main.keys[row]) for row in r] == [7 * i for i in range(60) if i % 3]
    assert q.tolist() == [i for i in range(60) if i % 3]
    assert not d.any()


@pytest.mark.parametrize("path", ["chosen", "tables", "flat"])
@pytest.mark.parametrize(
    ("bits", "radius"), [(bits, radius) for bits, radii in RADII.items() for radius in radii]
)
def test_main_segment_equals_brute_force(
    bits: int, radius: int, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = corpus(bits)
    calls = spy_paths(monkeypatch, None if path == "chosen" else path)
    truth = data.truth(radius)
    assert data.search(radius) == truth
    tables = data.index._main.tables
    assert tables is not None
    if path == "chosen":
        path = "tables" if tables.cost(radius) < data.index._main.rows else "flat"
    assert calls == Counter({path: 1})
    # Every planted neighbour within the radius is there at its own distance.
    planted = PLANTED[bits]
    for i, d in enumerate(planted):
        if d <= radius:
            assert (i, COUNT + i, d) in truth
            assert (len(planted) + i, 100 + i, d) in truth


@pytest.mark.parametrize(("bits", "exact", "widest"), [(256, 31, 51), (64, 6, 10)])
def test_exact_distance_finds_everything_within_it(
    bits: int,
    exact: int,
    widest: int,
    monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None],
) -> None:
    data = corpus(bits)
    rng = np.random.default_rng(exact)
    # More neighbours between the exact and the widest distance, at random.
    band_queries = [
        flip_bits(data.codes[300 + i].tobytes(), int(d), rng)
        for i, d in enumerate(rng.integers(exact + 1, widest + 1, 40))
    ]
    queries = matrix(rows_of(data.queries) + band_queries)
    # The tables are used for a bounded search even where a flat scan is cheaper.
    calls = spy_paths(monkeypatch, "flat")
    got = as_set(data.index.search(rows_of(queries), widest, exact_distance=exact))
    assert calls == Counter({"tables": 1})
    within_exact, within_widest = data.truth(exact, queries), data.truth(widest, queries)
    assert within_exact <= got  # nothing within the exact distance is missed
    assert got <= within_widest  # and every hit is true, at its true distance
    band = within_widest - within_exact
    record_property("band_found", f"{len(got & band)}/{len(band)}")
    assert got & band  # some of the wider band is found too
    # An exact distance at or past the radius is an exact search.
    for at_least in (widest, widest + 5):
        hits = data.index.search(rows_of(queries), widest, exact_distance=at_least)
        assert as_set(hits) == within_widest


# --- removals, re-additions and merges -----------------------------------------------


def small_index(
    rng: np.random.Generator, count: int, bits: int = 256, **options: Any
) -> tuple[BinaryIndex, list[bytes]]:
    codes = rows_of(random_codes(rng, count, bits))
    index = BinaryIndex(bits, **options)
    index.add_many((code, key) for key, code in enumerate(codes))
    return index, codes


def model_truth(
    pairs: Iterable[tuple[bytes, int]], queries: list[bytes], radius: int
) -> set[tuple[int, int, int]]:
    """(query, key, distance) by brute force over a model's (code, key) pairs."""
    held = sorted(pairs, key=lambda pair: pair[1])
    if not held or not queries:
        return set()
    found = brute_force(matrix(queries), matrix(code for code, _ in held), radius)
    return {(q, held[row][1], d) for q, row, d in found}


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


class MergeGate:
    """Holds a merge inside its table build until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.errors: list[BaseException] = []
        build = MainSegment.build

        def gated(bits: int, codes: U8, keys: I64, radius: int) -> MainSegment:
            self.entered.set()
            assert self.release.wait()
            if fail:
                raise MemoryError("no room for the new segment")
            return build(bits, codes, keys, radius)

        monkeypatch.setattr(MainSegment, "build", staticmethod(gated))

    def start(self, index: BinaryIndex) -> threading.Thread:
        def run() -> None:
            try:
                index.merge()
            except BaseException as exc:
                self.errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        assert self.entered.wait()
        return thread

    def finish(self, thread: threading.Thread) -> None:
        self.release.set()
        thread.join()
        assert not thread.is_alive()


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


def test_concurrent_changes_and_searches_end_like_a_dict() -> None:
    rng = np.random.default_rng(6)
    index = BinaryIndex(256, merge_threshold=50)
    stable = rows_of(random_codes(rng, 100, 256))
    index.add_many((code, 100_000 + key) for key, code in enumerate(stable))
    pool = rows_of(random_codes(rng, 300, 256))
    code_of: dict[int, bytes] = {100_000 + key: code for key, code in enumerate(stable)}
    models: list[set[tuple[bytes, int]]] = [set() for _ in range(4)]
    errors: list[BaseException] = []
    writing = threading.Barrier(6)
    done = threading.Event()

    # Each writer owns its keys; codes are shared, so a code has several owners.
    plans: list[list[tuple[str, bytes, int]]] = []
    for writer in range(4):
        local = np.random.default_rng(100 + writer)
        plan: list[tuple[str, bytes, int]] = []
        for step in range(300):
            key = writer * 10_000 + int(local.integers(0, 120))
            code = code_of.setdefault(key, pool[int(local.integers(0, len(pool)))])
            plan.append(("remove" if local.random() < 0.35 and step else "add", code, key))
        plans.append(plan)

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
        except BaseException as exc:  # pragma: no cover - reported below
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
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in writers + readers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    for thread in readers:
        thread.join()
    assert errors == []
    index.wait_merged()
    assert index._main.rows > len(stable)  # background merges took writers' codes

    model = set().union(*models) | {(code, 100_000 + k) for k, code in enumerate(stable)}
    queries = stable + pool
    assert len(index) == len(model)
    assert as_set(index.search(queries, 0)) == model_truth(model, queries, 0)
    index.merge()
    assert len(index) == len(model) == index._main.rows
    assert as_set(index.search(queries, 0)) == model_truth(model, queries, 0)


def brute_distance(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


# --- keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "stored_as"),
    [
        ([0, 1, 2**31, 2**32 - 1], np.uint32),
        ([0, 2**32, 2**40 + 3, 2**63 - 1], np.int64),
        ([7, -1], np.int64),
    ],
)
def test_keys_round_trip_through_both_segments(keys: list[int], stored_as: type) -> None:
    rng = np.random.default_rng(len(keys))
    codes = rows_of(random_codes(rng, len(keys), 64))
    shared = bytes(8)
    index = BinaryIndex(64)
    index.add_many([*zip(codes, keys, strict=True), *((shared, key) for key in keys)])
    expected = {(q, key, 0) for q, key in enumerate(keys)}
    assert as_set(index.search(codes, 0)) == expected
    assert index.owners(shared) == set(keys)
    index.merge()
    assert index._main.keys.dtype == stored_as
    hits = index.search(codes, 0)
    assert as_set(hits) == expected
    assert all(type(hit.key) is int for hit in hits)
    assert index.owners(shared) == set(keys)
    index.remove(shared, keys[-1])
    assert index.owners(shared) == set(keys[:-1])
    index.add(shared, keys[-1])
    assert index.owners(shared) == set(keys)


def test_a_large_key_after_a_merge_widens_the_stored_keys() -> None:
    index = BinaryIndex(64)
    index.add_many([(bytes(8), 1), (b"\xff" * 8, 2**32 - 1)])
    index.merge()
    assert index._main.keys.dtype == np.uint32
    index.add(bytes(8), 2**45)
    index.merge()
    assert index._main.keys.dtype == np.int64
    assert index.search([bytes(8), b"\xff" * 8], 0) == [
        Hit(0, 1, 0),
        Hit(0, 2**45, 0),
        Hit(1, 2**32 - 1, 0),
    ]


# --- a property test of the tables -----------------------------------------------------

MAX_PROBES = 20_000
"""Probes per query the property test allows itself, to stay fast."""


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_tables_equal_brute_force(data: st.DataObject) -> None:
    bits = data.draw(st.sampled_from([64, 128, 256]), "bits")
    drawn = data.draw(st.lists(st.integers(1, 16), min_size=1, max_size=12), "widths")
    widths = [w for k, w in enumerate(drawn) if sum(drawn[: k + 1]) <= bits] or [drawn[0]]
    layout = Layout(tuple(widths))
    count = data.draw(st.integers(0, 40), "count")
    copies = data.draw(st.integers(0, 12), "planted")
    total = count + (copies if count else 0)

    def probes(radius: int) -> int:
        flips = layout.thresholds(radius, total)
        return sum(map(probes_per_slot, layout.widths, flips))

    reachable = [r for r in range(bits // 3) if probes(r) <= MAX_PROBES]
    radius = data.draw(st.sampled_from(reachable), "radius")
    probe_radius = data.draw(st.none() | st.integers(0, radius), "probe_radius")
    thresholds = layout.thresholds(radius if probe_radius is None else probe_radius, total)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), "seed"))

    codes = rows_of(random_codes(rng, count, bits))
    if codes:
        near = data.draw(st.lists(st.integers(0, radius + 2), min_size=copies, max_size=copies))
        for k, d in enumerate(near):
            base = codes[int(rng.integers(len(codes)))]
            if k % 3 == 0:
                codes.append(spread_flips(base, d, layout, rng, thresholds))
            elif k % 3 == 1:
                codes.append(spread_flips(base, d, layout, rng))
            else:
                codes.append(flip_bits(base, d, rng))
    queries = rows_of(random_codes(rng, 2, bits))
    if codes:
        for d in data.draw(st.lists(st.integers(0, radius + 2), min_size=1, max_size=4)):
            queries.append(flip_bits(codes[int(rng.integers(len(codes)))], d, rng))
    stored = matrix(codes) if codes else np.zeros((0, bits // 8), np.uint8)
    alive = rng.random(len(stored)) < 0.8

    got = table_hits(MultiIndex(stored, layout), matrix(queries), radius, alive, probe_radius)
    truth = brute_force(matrix(queries), stored, radius, alive)
    if probe_radius is None:
        assert got == truth
    else:
        assert brute_force(matrix(queries), stored, probe_radius, alive) <= got <= truth
