"""Multi-index hashing's tables against brute force: the kernels' building blocks,
hand-picked layouts, compressed bucket starts, and a property test."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index import mih
from index.mih import (
    MAX_SLOT_BITS,
    MIN_SLOT_BITS,
    Layout,
    MultiIndex,
    flip_masks,
    probes_per_slot,
)
from tests.index.mih_helpers import (
    brute_force,
    matrix,
    rows_of,
    spread_flips,
    table_hits,
    tail_flips,
    uniform,
)
from tests.index.test_binary import flip_bits, random_codes

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
