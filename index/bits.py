"""Bit counting for Numba kernels, and nearest binary codes by Hamming distance."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit
from numba.core import types
from numba.extending import intrinsic

U64 = npt.NDArray[np.uint64]
I32 = npt.NDArray[np.int32]


@intrinsic
def popcount(typingctx: object, value: types.Integer) -> object:  # noqa: ARG001
    """LLVM's ctpop: one POPCNT instruction where the CPU has it."""

    def codegen(context: object, builder: object, signature: object, args: list[object]) -> object:  # noqa: ARG001
        return builder.ctpop(args[0])  # type: ignore[attr-defined]

    return types.uint64(types.uint64), codegen


@njit(nogil=True, cache=True)
def _nearest_two(rows: U64, columns: U64) -> tuple[I32, I32, I32]:
    n, words = rows.shape
    m = columns.shape[1]
    best = np.full(n, -1, np.int32)
    best_d = np.full(n, 1 << 20, np.int32)
    second_d = np.full(n, 1 << 20, np.int32)
    far = np.int64(1 << 20) << 32
    d = np.empty(m, np.int64)
    for i in range(n):
        # Loops without branches, which the compiler vectorizes: every distance
        # of the row, then the nearest (the distance packed above the index,
        # so the first on ties), then the nearest of the others.
        d[:] = 0
        for w in range(words):
            x = rows[i, w]
            for j in range(m):
                d[j] += popcount(x ^ columns[w, j])  # type: ignore[call-arg]
        first = far
        for j in range(m):
            first = min(first, (d[j] << 32) | j)
        at = first & 0xFFFFFFFF
        second = far
        for j in range(m):
            second = min(second, far if j == at else d[j] << 32)
        if m:
            best[i], best_d[i] = at, first >> 32
        second_d[i] = second >> 32
    return best, best_d, second_d


def nearest_two(rows: U64, codes: U64) -> tuple[I32, I32, I32]:
    """For each of ``rows`` (``(n, w)`` uint64 codes), the index of the nearest of
    ``codes`` and its Hamming distance, and the distance of the second nearest
    (a large number when there is none)."""
    best, best_d, second_d = _nearest_two(
        np.ascontiguousarray(rows, np.uint64), np.ascontiguousarray(codes.T, np.uint64)
    )
    return best, best_d, second_d
