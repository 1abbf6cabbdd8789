"""A compact exact set of hash codes: what an import has added so far."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]


class CodeSet:
    """Exact membership of byte strings of one length (the codes of one signal).

    About ``width + 8`` bytes a code, against a hundred or more in a Python set:
    the codes are kept in sorted runs of NumPy arrays keyed by their first eight
    bytes, and a run is merged into the one before once it is half its size, so
    there are at most about log2(n) runs to search.
    """

    def __init__(self) -> None:
        self._runs: list[tuple[U64, U8]] = []
        """(sorted 8-byte prefixes, the codes in the same order), largest first."""
        self._width: int | None = None
        self._count = 0

    def __len__(self) -> int:
        """Codes added (a code added twice counts twice)."""
        return self._count

    def _matrix(self, codes: Sequence[bytes]) -> U8:
        width = len(codes[0])
        if self._width is None:
            self._width = width
        if set(map(len, codes)) != {self._width}:
            raise ValueError(f"expected codes of {self._width} bytes")
        return np.frombuffer(b"".join(codes), np.uint8).reshape(len(codes), width)

    @staticmethod
    def _prefix(matrix: U8) -> U64:
        head = matrix[:, :8]
        if head.shape[1] < 8:
            head = np.pad(head, ((0, 0), (0, 8 - head.shape[1])))
        return np.ascontiguousarray(head).view(np.uint64).ravel()

    def add(self, codes: Sequence[bytes]) -> None:
        if not codes:
            return
        matrix = self._matrix(codes)
        prefix = self._prefix(matrix)
        order = np.argsort(prefix, kind="stable")
        self._runs.append((prefix[order], matrix[order]))
        self._count += len(codes)
        while len(self._runs) > 1 and 2 * len(self._runs[-1][0]) >= len(self._runs[-2][0]):
            newer, older = self._runs.pop(), self._runs.pop()
            prefix = np.concatenate((older[0], newer[0]))
            matrix = np.concatenate((older[1], newer[1]))
            order = np.argsort(prefix, kind="stable")
            self._runs.append((prefix[order], matrix[order]))

    def contains(self, codes: Sequence[bytes]) -> npt.NDArray[np.bool_]:
        """For each of ``codes``, whether it was added."""
        found = np.zeros(len(codes), np.bool_)
        if not codes or not self._runs:
            return found
        matrix = self._matrix(codes)
        # Sorted queries make the binary searches walk each run in order.
        prefix = self._prefix(matrix)
        order = np.argsort(prefix, kind="stable")
        prefix, matrix = prefix[order], matrix[order]
        hit = np.zeros(len(codes), np.bool_)
        for prefixes, stored in self._runs:
            low = np.searchsorted(prefixes, prefix)
            inside = low < len(prefixes)
            same = np.zeros(len(codes), np.bool_)
            same[inside] = prefixes[low[inside]] == prefix[inside]
            # Nearly always at most one stored code has a query's prefix.
            rows = np.nonzero(same)[0]
            hit[rows] |= (stored[low[rows]] == matrix[rows]).all(axis=1)
            after = low + 1
            more = same & (after < len(prefixes))
            more[more] = prefixes[after[more]] == prefix[more]
            for query in np.nonzero(more & ~hit)[0]:
                end = np.searchsorted(prefixes, prefix[query], "right")
                run = stored[low[query] : end] == matrix[query]
                hit[query] = bool(run.all(axis=1).any())
        found[order] = hit
        return found
