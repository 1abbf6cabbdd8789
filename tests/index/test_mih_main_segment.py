"""BinaryIndex's main segment on 20,000 codes against brute force: both search
paths, approximate searches and exact distances."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

from index.mih import (
    Layout,
)
from index.segments import MainSegment
from tests.index.mih_helpers import (
    COUNT,
    PLANTED,
    RADII,
    corpus,
    matrix,
    rows_of,
    spy_paths,
)
from tests.index.test_binary import as_set, flip_bits, random_codes


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
