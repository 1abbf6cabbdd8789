"""Keys of every width round trip through the delta and the main segment."""

from __future__ import annotations

import numpy as np
import pytest

from index import BinaryIndex, Hit
from tests.index.mih_helpers import (
    rows_of,
)
from tests.index.test_binary import as_set, random_codes

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
