"""CodeSet, an import's compact record of the hashes it found new, against a Python set."""

from __future__ import annotations

import numpy as np
import pytest

from app.services.hashlists.seen import CodeSet


@pytest.mark.parametrize("width", [32, 8, 4])
def test_membership_equals_a_python_set(width: int) -> None:
    rng = np.random.default_rng(width)
    codes = CodeSet()
    model: set[bytes] = set()
    for size in (1, 7, 300, 64, 2000, 3, 900):  # runs of many sizes, merged as they come
        batch = [row.tobytes() for row in rng.integers(0, 256, (size, width), dtype=np.uint8)]
        batch += list(model)[:5]  # some added again
        codes.add(batch)
        model.update(batch)
        queries = list(model)[::3] + [
            row.tobytes() for row in rng.integers(0, 256, (200, width), dtype=np.uint8)
        ]
        assert codes.contains(queries).tolist() == [q in model for q in queries]
    assert codes.contains([]).tolist() == []


def test_codes_that_share_their_first_eight_bytes_are_told_apart() -> None:
    head = bytes(range(8))
    same_prefix = [head + bytes([i]) * 24 for i in range(10)]
    codes = CodeSet()
    codes.add(same_prefix[:4])
    codes.add(same_prefix[4:6])
    got = codes.contains(same_prefix + [head + b"\xff" * 24, bytes(32)])
    assert got.tolist() == [True] * 6 + [False] * 6


def test_codes_of_another_length_are_refused() -> None:
    codes = CodeSet()
    codes.add([bytes(32)])
    with pytest.raises(ValueError, match="32 bytes"):
        codes.add([bytes(32), bytes(8)])
    with pytest.raises(ValueError, match="32 bytes"):
        codes.contains([bytes(31)])
