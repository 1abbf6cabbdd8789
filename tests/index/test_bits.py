"""Nearest binary codes by Hamming distance, against a brute force in numpy."""

from __future__ import annotations

import numpy as np
import pytest

from index.bits import nearest_two


def brute(rows: np.ndarray, codes: np.ndarray) -> tuple[list[int], list[int]]:
    distances = np.bitwise_count(rows[:, None, :] ^ codes[None, :, :]).sum(axis=2)
    ordered = np.sort(distances, axis=1)
    return ordered[:, 0].tolist(), ordered[:, 1].tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nearest_and_second_nearest_distances(seed: int) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2**63, (300, 4), dtype=np.uint64)
    # Rows near some codes (a few bits flipped), and duplicate codes for ties.
    rows = codes[rng.integers(0, 300, 50)] ^ (
        np.uint64(1) << rng.integers(0, 63, (50, 4)).astype(np.uint64)
    )
    codes = np.vstack([codes, codes[:10]])
    best, best_d, second_d = nearest_two(rows, codes)
    nearest, second = brute(rows, codes)
    assert best_d.tolist() == nearest
    assert second_d.tolist() == second
    found = np.bitwise_count(rows ^ codes[best]).sum(axis=1)
    assert found.tolist() == nearest


def test_a_single_code_has_no_second() -> None:
    rows = np.array([[1, 2, 3, 4]], np.uint64)
    best, best_d, second_d = nearest_two(rows, np.array([[1, 2, 3, 5]], np.uint64))
    assert (best[0], best_d[0]) == (0, 1)
    assert second_d[0] >= 1 << 20
