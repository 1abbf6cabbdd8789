"""A visual vocabulary for 256-bit binary local descriptors (ORB's).

Descriptors are quantized to visual words by a two-level tree: the nearest of
``coarse`` centroids, then the nearest of that centroid's ``fine`` children;
the word is their pair, ``coarse * fanout + fine``. The centroids are trained
by k-majority (k-means for binary codes: each bit of a centroid is the majority
of its members' bits) and shipped with the package, so every process quantizes
alike and words stored with items stay valid.

Words are what the local-feature index is keyed by (:mod:`index.local`): two
descriptors of the same image patch, seen through an edit, usually fall in the
same word, two unrelated ones rarely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from index.bits import popcount as _popcount

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
I32 = npt.NDArray[np.int32]

DESCRIPTOR_BYTES = 32
WORDS_PER_DESCRIPTOR = DESCRIPTOR_BYTES // 8
BUNDLED = Path(__file__).resolve().parent / "data" / "orb-vocabulary.npz"


def as_words(descriptors: U8) -> U64:
    """``(n, 32)`` uint8 descriptors viewed as ``(n, 4)`` uint64 (no copy when contiguous)."""
    return np.ascontiguousarray(descriptors, dtype=np.uint8).view(np.uint64)


@njit(nogil=True, cache=True)
def _nearest_column(
    x0: np.uint64, x1: np.uint64, x2: np.uint64, x3: np.uint64, columns: U64, first: int, count: int
) -> int:
    """The nearest of centroids ``first`` to ``first + count - 1`` to the code
    ``x0..x3``, the first on ties. Centroids are stored word-major (``columns[w, c]``
    is word ``w`` of centroid ``c``) and each distance is packed above the
    centroid's offset, so the loop is a branch-free minimum the compiler
    vectorizes (docs/benchmarks.md, section 2)."""
    best = np.int32(1 << 30)
    for c in range(count):
        j = first + c
        d: int = (
            _popcount(x0 ^ columns[0, j])  # type: ignore[call-arg]
            + _popcount(x1 ^ columns[1, j])  # type: ignore[call-arg]
            + _popcount(x2 ^ columns[2, j])  # type: ignore[call-arg]
            + _popcount(x3 ^ columns[3, j])  # type: ignore[call-arg]
        )
        best = min(best, (np.int32(d) << 16) | np.int32(c))
    return first + int(best & 0xFFFF)


@njit(nogil=True, cache=True)
def _quantize(codes: U64, coarse: U64, fine: U64, fine_counts: I32, fanout: int) -> I32:
    """Words of ``codes``, with ``coarse`` and ``fine`` word-major."""
    out = np.empty(codes.shape[0], np.int32)
    for i in range(codes.shape[0]):
        x0, x1, x2, x3 = codes[i, 0], codes[i, 1], codes[i, 2], codes[i, 3]
        c = _nearest_column(x0, x1, x2, x3, coarse, 0, coarse.shape[1])
        out[i] = _nearest_column(x0, x1, x2, x3, fine, c * fanout, fine_counts[c])
    return out


MAX_CENTROIDS = 0xFFFF
"""Centroids of one level at most: :func:`_nearest_column` packs an offset in 16 bits."""


@njit(nogil=True, cache=True, parallel=True)
def _assign_columns(codes: U64, columns: U64) -> I32:
    out = np.empty(codes.shape[0], np.int32)
    for i in prange(codes.shape[0]):
        x0, x1, x2, x3 = codes[i, 0], codes[i, 1], codes[i, 2], codes[i, 3]
        out[i] = _nearest_column(x0, x1, x2, x3, columns, 0, columns.shape[1])
    return out


def _assign(codes: U64, centroids: U64) -> I32:
    """The nearest of ``centroids`` to each code (the first on ties)."""
    if len(centroids) > MAX_CENTROIDS:
        raise ValueError(f"a vocabulary level holds at most {MAX_CENTROIDS} centroids")
    members: I32 = _assign_columns(codes, np.ascontiguousarray(centroids.T))
    return members


@njit(nogil=True, cache=True)
def _majority(codes: U64, members: I32, k: int) -> tuple[U64, npt.NDArray[np.int64]]:
    """Each cluster's bitwise majority, and its size."""
    ones = np.zeros((k, WORDS_PER_DESCRIPTOR * 64), np.int64)
    sizes = np.zeros(k, np.int64)
    for i in range(codes.shape[0]):
        c = members[i]
        sizes[c] += 1
        for w in range(WORDS_PER_DESCRIPTOR):
            word = codes[i, w]
            for b in range(64):
                ones[c, w * 64 + b] += (word >> np.uint64(b)) & np.uint64(1)
    out = np.zeros((k, WORDS_PER_DESCRIPTOR), np.uint64)
    for c in range(k):
        for w in range(WORDS_PER_DESCRIPTOR):
            value = np.uint64(0)
            for b in range(64):
                if 2 * ones[c, w * 64 + b] > sizes[c]:
                    value |= np.uint64(1) << np.uint64(b)
            out[c, w] = value
    return out, sizes


def k_majority(codes: U64, k: int, iterations: int, rng: np.random.Generator) -> U64:
    """``k`` centroids of binary codes (``(n, 4)`` uint64), seeded from distinct
    codes; an emptied cluster is reseeded with a random code."""
    k = min(k, len(codes))
    centroids = codes[rng.choice(len(codes), size=k, replace=False)].copy()
    for _ in range(iterations):
        members = _assign(codes, centroids)
        updated, sizes = _majority(codes, members, k)
        empty = np.flatnonzero(sizes == 0)
        updated[empty] = codes[rng.choice(len(codes), size=len(empty), replace=False)]
        centroids = updated
    return centroids


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """``coarse`` ``(c, 4)`` and ``fine`` ``(c * fanout, 4)`` uint64 centroids;
    ``fine_counts[c]`` of coarse centroid ``c``'s fanout slots are in use."""

    coarse: U64
    fine: U64
    fine_counts: I32
    fanout: int
    _columns: tuple[U64, U64] = field(init=False, repr=False, compare=False)
    """``coarse`` and ``fine`` word-major, as :func:`_quantize` reads them."""

    def __post_init__(self) -> None:
        if max(len(self.coarse), self.fanout) > MAX_CENTROIDS:
            raise ValueError(f"a vocabulary level holds at most {MAX_CENTROIDS} centroids")
        columns = (np.ascontiguousarray(self.coarse.T), np.ascontiguousarray(self.fine.T))
        object.__setattr__(self, "_columns", columns)

    @property
    def size(self) -> int:
        """Word ids run from 0 to ``size - 1`` (some unused)."""
        return int(self.coarse.shape[0]) * self.fanout

    def words(self, descriptors: U8) -> I32:
        """The word of each ``(n, 32)`` uint8 descriptor."""
        if len(descriptors) == 0:
            return np.zeros(0, np.int32)
        coarse, fine = self._columns
        result: I32 = _quantize(as_words(descriptors), coarse, fine, self.fine_counts, self.fanout)
        return result

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            coarse=self.coarse,
            fine=self.fine,
            fine_counts=self.fine_counts,
            fanout=np.int64(self.fanout),
        )

    @classmethod
    def bundled(cls) -> Vocabulary:
        """The vocabulary shipped with the package (read once a process)."""
        return _bundled()

    @classmethod
    def load(cls, path: Path = BUNDLED) -> Vocabulary:
        with np.load(path) as data:
            return cls(
                np.ascontiguousarray(data["coarse"], dtype=np.uint64),
                np.ascontiguousarray(data["fine"], dtype=np.uint64),
                np.ascontiguousarray(data["fine_counts"], dtype=np.int32),
                int(data["fanout"]),
            )


def train(
    descriptors: U8, coarse: int, fanout: int, *, iterations: int = 10, seed: int = 0
) -> Vocabulary:
    """Train a two-level vocabulary on ``(n, 32)`` uint8 descriptors: ``coarse``
    centroids, then up to ``fanout`` under each from its members (fewer where a
    cluster has fewer than twice that many members)."""
    rng = np.random.default_rng(seed)
    codes = as_words(descriptors)
    top = k_majority(codes, coarse, iterations, rng)
    members = _assign(codes, top)
    fine = np.zeros((len(top) * fanout, WORDS_PER_DESCRIPTOR), np.uint64)
    counts = np.zeros(len(top), np.int32)
    for c in range(len(top)):
        own = codes[members == c]
        k = max(1, min(fanout, len(own) // 2))
        children = k_majority(own, k, iterations, rng) if len(own) else top[c : c + 1]
        fine[c * fanout : c * fanout + len(children)] = children
        counts[c] = len(children)
    return Vocabulary(top, fine, counts, fanout)


@cache
def _bundled() -> Vocabulary:
    return Vocabulary.load(BUNDLED)
