"""The postings a local index's votes read: per keypoint, its entry's slot and the
first 128 bits of its descriptor, word-major in flat arrays (CSR) split into
buckets by the low bits of those 128 (see :mod:`index.local`), and the vote
over them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from index.bits import popcount as _popcount

I32 = npt.NDArray[np.int32]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]


Csr = tuple[I64, I32, U64]
"""Postings: each key's start (a key is ``word << bucket_bits | bucket``), then
the slot and the signature (:data:`SIGNATURE_WORDS` uint64) of every posting."""


SIGNATURE_WORDS = 2
"""A posting keeps the first 128 bits (two uint64) of its descriptor."""


MAX_VOTE_DISTANCE = 20
"""A query descriptor votes for a keypoint of its word only when their first 128
bits differ in at most this many: two descriptors share a word far more often
than they are the same patch. (Chosen on the dev photos: the true item ranks
among the 4 candidates for all 532 dev edits, as with whole descriptors within
40 bits; the first 64 bits within 12 lost 2 of them.)"""


MAX_BUCKET_BITS = 8


POSTINGS_PER_BUCKET = 8
"""Bucket bits grow until a word's buckets hold about this many postings each."""


def bucket_bits(postings: int, vocabulary_size: int) -> int:
    """Bucket bits for a bulk of ``postings``: none while words are short."""
    per_word = postings / max(1, vocabulary_size)
    bits = 0
    while bits < MAX_BUCKET_BITS and per_word >= POSTINGS_PER_BUCKET * (2 << bits):
        bits += 1
    return bits


@njit(nogil=True, cache=True, inline="always")
def _vote_keys(signatures: U64, words: I32, bits: int, mirrored_from: int) -> I64:
    """Each query signature's postings key (``word << bits | bucket``) and side
    (1 from ``mirrored_from`` on) as ``key << 1 | side``."""
    mask = np.uint64((1 << bits) - 1)
    n = words.shape[0]
    keys = np.empty(n, np.int64)
    for i in range(n):
        key = (np.int64(words[i]) << bits) | np.int64(signatures[i, 0] & mask)
        keys[i] = (key << 1) | np.int64(i >= mirrored_from)
    return keys


@njit(nogil=True, cache=True, inline="always")
def _near(signatures: U64, order: I64, first: int, last: int, posted: U64, p: int) -> bool:
    """Whether posting ``p`` is within :data:`MAX_VOTE_DISTANCE` bits of any of
    the query signatures ``order[first:last]``."""
    for k in range(first, last):
        d = 0
        for j in range(SIGNATURE_WORDS):
            d += _popcount(signatures[order[k], j] ^ posted[p, j])  # type: ignore[call-arg]
        if d <= MAX_VOTE_DISTANCE:
            return True
    return False


@njit(nogil=True, cache=True)
def _vote(
    signatures: U64,
    words: I32,
    bits: int,
    starts: I64,
    slots: I32,
    posted: U64,
    alive: npt.NDArray[np.bool_],
    weights: F32,
    scores: F32,
    mirrored_scores: F32,
    mirrored_from: int,
    touched: I32,
    count: int,
) -> int:
    """For each posting within :data:`MAX_VOTE_DISTANCE` bits of a query
    signature of its word, add the word's weight to the posting's entry if live
    (and to ``mirrored_scores`` too for signatures from ``mirrored_from`` on);
    returns the new number of touched entries (listed in ``touched``).

    A posting votes once for each side of the upload (as is, mirrored) however
    many of that side's signatures are near it: an upload's repeated patterns
    (the glyphs of its text, its app's icons, a row of emoji) are near the same
    few keypoints of every item showing such patterns, and counted once each
    they outvoted the item whose picture the upload shows (docs/benchmarks.md,
    "Votes counted once a keypoint")."""
    n = words.shape[0]
    # Signatures sorted by (key, side): those that read the same postings are
    # adjacent, and a posting near any of them votes once.
    keys = _vote_keys(signatures, words, bits, mirrored_from)
    order = np.argsort(keys)
    first = 0
    while first < n:
        last = first + 1
        while last < n and keys[order[last]] == keys[order[first]]:
            last += 1
        key, side = keys[order[first]] >> 1, keys[order[first]] & 1
        weight = weights[words[order[first]]]
        for p in range(starts[key], starts[key + 1]):
            # The distance first: the postings are read in order, while an
            # entry's liveness is a read anywhere in a million.
            if not _near(signatures, order, first, last, posted, p):
                continue
            s = slots[p]
            if not alive[s]:
                continue
            if scores[s] == 0.0:
                touched[count] = s
                count += 1
            scores[s] += weight
            if side:
                mirrored_scores[s] += weight
        first = last
    return count


def build_postings(words: I32, slots: I32, signatures: U64, vocabulary_size: int, bits: int) -> Csr:
    """Postings sorted by key (word, then bucket): each key's start, then the
    slot and signature of each posting."""
    keys = (words.astype(np.int64) << bits) | (
        signatures[:, 0] & np.uint64((1 << bits) - 1)
    ).astype(np.int64)
    order = np.argsort(keys, kind="stable")
    starts = np.zeros((vocabulary_size << bits) + 1, np.int64)
    np.cumsum(np.bincount(keys, minlength=vocabulary_size << bits), out=starts[1:])
    return (
        starts,
        np.ascontiguousarray(slots[order], dtype=np.int32),
        np.ascontiguousarray(signatures[order], dtype=np.uint64),
    )


def empty_csr(vocabulary_size: int) -> Csr:
    return (
        np.zeros(vocabulary_size + 1, np.int64),
        np.zeros(0, np.int32),
        np.zeros((0, SIGNATURE_WORDS), np.uint64),
    )


class Postings:
    """The postings of a local index: a bulk built at load (or fold), bucketed
    by :func:`bucket_bits`, beside a small unbucketed CSR of the postings added
    since, folded into the bulk once it holds ``fold_postings``. Not
    thread-safe: the index holds its lock around every call."""

    def __init__(self, vocabulary_size: int, fold_postings: int) -> None:
        self.vocabulary_size = vocabulary_size
        self.fold_postings = fold_postings
        self.bulk = empty_csr(vocabulary_size)
        self.bulk_bits = 0
        self.recent = empty_csr(vocabulary_size)
        self._recent_parts: list[tuple[I32, I32, U64]] = []
        self._recent_count = 0

    def add(self, words: I32, slot: int, signatures: U64, alive: npt.NDArray[np.bool_]) -> None:
        """Post an entry's keypoints (their ``words`` and first
        :data:`SIGNATURE_WORDS` uint64 of each descriptor) for ``slot``; a fold,
        when due, drops the postings of entries not ``alive``."""
        self._recent_parts.append((words, np.full(len(words), slot, np.int32), signatures))
        self._recent_count += len(words)
        if self._recent_count >= self.fold_postings:
            self.fold(alive)
        else:
            words, slots, signatures = (
                np.concatenate(part) for part in zip(*self._recent_parts, strict=True)
            )
            self.recent = build_postings(words, slots, signatures, self.vocabulary_size, 0)

    def fold(self, alive: npt.NDArray[np.bool_]) -> None:
        """Fold the recent postings into the bulk, dropping those of entries not
        ``alive`` (indexed by slot)."""
        starts, slots, signatures = self.bulk
        words = (
            np.repeat(np.arange(len(starts) - 1, dtype=np.int64), np.diff(starts)) >> self.bulk_bits
        ).astype(np.int32)
        parts = [(words, slots, signatures), *self._recent_parts]
        words, slots, signatures = (np.concatenate(part) for part in zip(*parts, strict=True))
        keep = alive[slots]
        bits = bucket_bits(int(keep.sum()), self.vocabulary_size)
        self.bulk = build_postings(
            words[keep], slots[keep], signatures[keep], self.vocabulary_size, bits
        )
        self.bulk_bits = bits
        self.reset_recent()

    def reset_recent(self) -> None:
        self._recent_parts, self._recent_count = [], 0
        self.recent = empty_csr(self.vocabulary_size)

    def vote(
        self,
        signatures: U64,
        words: I32,
        alive: npt.NDArray[np.bool_],
        weights: F32,
        scores: F32,
        mirrored_scores: F32,
        mirrored_from: int,
        touched: I32,
    ) -> int:
        """:func:`_vote` over the bulk, then the recent postings; returns how many
        entries were touched (listed in ``touched``)."""
        count = 0
        for (starts, posted_slots, posted), bits in (
            (self.bulk, self.bulk_bits),
            (self.recent, 0),
        ):
            count = _vote(
                signatures,
                words,
                bits,
                starts,
                posted_slots,
                posted,
                alive,
                weights,
                scores,
                mirrored_scores,
                mirrored_from,
                touched,
                count,
            )
        return count

    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in (*self.bulk, *self.recent)))
