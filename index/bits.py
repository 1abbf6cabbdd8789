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
def _nearest_two(rows: U64, codes: U64) -> tuple[I32, I32, I32]:
    n, words = rows.shape
    best = np.full(n, -1, np.int32)
    best_d = np.full(n, 1 << 20, np.int32)
    second_d = np.full(n, 1 << 20, np.int32)
    for i in range(n):
        b, s, at = 1 << 20, 1 << 20, -1
        for j in range(codes.shape[0]):
            # Every word of every pair: stopping once a pair could not be among
            # the two nearest saved popcounts and cost more in mispredicted branches.
            d = 0
            for w in range(words):
                d += popcount(rows[i, w] ^ codes[j, w])  # type: ignore[call-arg]
            if d < s:
                if d < b:
                    s, b, at = b, d, j
                else:
                    s = d
        best[i], best_d[i], second_d[i] = at, b, s
    return best, best_d, second_d


def nearest_two(rows: U64, codes: U64) -> tuple[I32, I32, I32]:
    """For each of ``rows`` (``(n, w)`` uint64 codes), the index of the nearest of
    ``codes`` and its Hamming distance, and the distance of the second nearest
    (a large number when there is none)."""
    best, best_d, second_d = _nearest_two(
        np.ascontiguousarray(rows, np.uint64), np.ascontiguousarray(codes, np.uint64)
    )
    return best, best_d, second_d
