"""The local-feature index: registered items' keypoints by visual word, and what
verifying a candidate item needs.

An upload's descriptors are quantized to visual words (:mod:`index.vocabulary`);
every item holding one of those words gets a vote weighted by the word's
rarity (``log(items / items holding it)``: a word of text or app chrome that
thousands of items hold says little), and the best-voted items are the
candidates that :mod:`matching.local` verifies geometrically. The index also
keeps each item's keypoints (positions and descriptors) and cell signatures,
so verification needs no database.

Postings are word-major flat arrays (CSR): the bulk built at load, plus a small
second CSR of the items added since, folded in when it grows; a removed item is
marked dead and skipped until the next fold. The index knows items by integer
key and arrays of numbers; it imports nothing of the hashing package.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

from index.bits import popcount as _popcount
from index.vocabulary import Vocabulary, as_words

U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]
I32 = npt.NDArray[np.int32]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]

FOLD_POSTINGS = 200_000
"""Postings of added items kept apart before they are folded into the bulk."""


class Found(NamedTuple):
    """An entry the query's descriptors voted for."""

    key: int
    slot: int
    score: float
    mirrored: float
    """Share of the score the upload's mirrored descriptors gave."""


@dataclass(frozen=True, slots=True)
class Entry:
    """What the index keeps of one item."""

    xy: F32
    """``(n, 2)`` keypoint positions in the item's frame (pixels)."""
    descriptors: U8
    """``(n, 32)`` ORB descriptors."""
    width: int
    height: int
    signatures: npt.NDArray[np.uint64]
    """The item's cell signatures (one per cell of its grid)."""
    flat: U8
    """Each cell's share of flat pixels (0-255)."""


MAX_VOTE_DISTANCE = 40
"""A query descriptor votes for a keypoint of its word only within this many bits
(of 256): two descriptors share a word far more often than they are the same patch."""


@njit(nogil=True, cache=True)
def _vote(
    query: U64,
    words: I32,
    starts: I64,
    keypoints: I32,
    descriptors: U64,
    slot_of: I32,
    alive: npt.NDArray[np.bool_],
    weights: F32,
    scores: F32,
    mirrored_scores: F32,
    mirrored_from: int,
    touched: I32,
    count: int,
) -> int:
    """For each query descriptor, add its word's weight to every live item
    holding a keypoint of that word within :data:`MAX_VOTE_DISTANCE` bits (and
    to ``mirrored_scores`` too for descriptors from ``mirrored_from`` on);
    returns the new number of touched items (listed in ``touched``)."""
    for i in range(words.shape[0]):
        w = words[i]
        for p in range(starts[w], starts[w + 1]):
            k = keypoints[p]
            s = slot_of[k]
            if not alive[s]:
                continue
            d = 0
            for j in range(4):
                d += _popcount(query[i, j] ^ descriptors[k, j])  # type: ignore[call-arg]
            if d > MAX_VOTE_DISTANCE:
                continue
            if scores[s] == 0.0:
                touched[count] = s
                count += 1
            scores[s] += weights[w]
            if i >= mirrored_from:
                mirrored_scores[s] += weights[w]
    return count


def _csr(words: I32, keypoints: I32, vocabulary_size: int) -> tuple[I64, I32]:
    """Postings sorted by word: the start of each word's run, and the keypoints."""
    order = np.argsort(words, kind="stable")
    counts = np.bincount(words, minlength=vocabulary_size)
    starts = np.zeros(vocabulary_size + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    return starts, np.ascontiguousarray(keypoints[order], dtype=np.int32)


class _Rows:
    """A growable array of rows: appends amortised by doubling, rows read as views."""

    def __init__(self, shape: tuple[int, ...], dtype: type[np.generic]) -> None:
        self.data = np.zeros((1024, *shape), dtype)
        self.size = 0

    def append(self, rows: npt.NDArray[np.generic]) -> int:
        """Append ``rows``; returns where they start."""
        start = self.size
        end = start + len(rows)
        if end > len(self.data):
            # A quarter more, not double: a loaded index is sized exactly, and the
            # first registration after a load would otherwise double its memory.
            capacity = max(end, len(self.data) + len(self.data) // 4 + 1024)
            grown = np.zeros((capacity, *self.data.shape[1:]), self.data.dtype)
            grown[:start] = self.data[:start]
            self.data = grown
        self.data[start:end] = rows
        self.size = end
        return start

    @property
    def rows(self) -> npt.NDArray[np.generic]:
        return self.data[: self.size]


class LocalIndex:
    """Items' keypoints by visual word, in flat arrays (a million items' worth
    without a Python object each). Thread-safe: searches and changes may come
    from any thread."""

    def __init__(
        self, vocabulary: Vocabulary, cells: int = 64, fold_postings: int = FOLD_POSTINGS
    ) -> None:
        self.vocabulary = vocabulary
        self.fold_postings = fold_postings
        self._lock = threading.Lock()
        # Per keypoint.
        self._xy = _Rows((2,), np.float32)
        self._descriptors = _Rows((4,), np.uint64)
        self._words = _Rows((), np.int32)
        self._slot_of_keypoint = _Rows((), np.int32)
        # Per slot (an item, live or removed).
        self._start = _Rows((), np.int64)
        self._count = _Rows((), np.int32)
        self._size = _Rows((2,), np.int32)
        self._signatures = _Rows((cells,), np.uint64)
        self._flat = _Rows((cells,), np.uint8)
        self._alive = _Rows((), np.bool_)
        self._keys = _Rows((), np.int64)
        self._slots_of: dict[int, list[int]] = {}
        """An item's slots: one for a still, one per keyframe of a clip."""
        self._holders = np.zeros(vocabulary.size, np.int64)
        """Live items holding each word: the rarity weights."""
        empty = (np.zeros(vocabulary.size + 1, np.int64), np.zeros(0, np.int32))
        self._bulk = empty
        self._recent = empty
        self._recent_words: list[I32] = []
        self._recent_slots: list[I32] = []
        self._recent_count = 0

    def __len__(self) -> int:
        """Items indexed (an item may hold several entries)."""
        return len(self._slots_of)

    def add(self, key: int, entry: Entry, words: I32 | None = None) -> None:
        """Index one entry of item ``key`` (a still, or a keyframe of a clip);
        ``words`` are its descriptors' words when known."""
        if words is None:
            words = self.vocabulary.words(entry.descriptors)
        words = np.asarray(words, np.int32)
        unique = np.unique(words)
        with self._lock:
            slot = self._alive.size
            start = self._xy.append(np.asarray(entry.xy, np.float32))
            self._descriptors.append(as_words(entry.descriptors))
            self._words.append(words)
            self._slot_of_keypoint.append(np.full(len(words), slot, np.int32))
            self._start.append(np.array([start]))
            self._count.append(np.array([len(entry.xy)]))
            self._size.append(np.array([[entry.width, entry.height]]))
            self._signatures.append(entry.signatures[None, :])
            self._flat.append(entry.flat[None, :])
            self._alive.append(np.array([True]))
            self._keys.append(np.array([key]))
            self._slots_of.setdefault(key, []).append(slot)
            self._holders[unique] += 1
            self._recent_words.append(words)
            self._recent_slots.append(np.arange(start, start + len(words), dtype=np.int32))
            self._recent_count += len(words)
            if self._recent_count >= self.fold_postings:
                self._fold()
            else:
                self._recent = _csr(
                    np.concatenate(self._recent_words),
                    np.concatenate(self._recent_slots),
                    self.vocabulary.size,
                )

    def remove(self, key: int) -> None:
        with self._lock:
            self._remove(key)

    def replace(self, key: int, entries: Sequence[Entry]) -> None:
        """Make ``entries`` item ``key``'s only entries: adding an item twice (a
        change feed replayed) leaves it indexed once."""
        self.remove(key)
        for entry in entries:
            self.add(key, entry)

    def _remove(self, key: int) -> None:
        for slot in self._slots_of.pop(key, []):
            start, count = int(self._start.data[slot]), int(self._count.data[slot])
            self._holders[np.unique(self._words.data[start : start + count])] -= 1
            self._alive.data[slot] = False

    def _fold(self) -> None:
        """Fold the recent postings into the bulk, dropping removed items'."""
        bulk_starts, bulk_slots = self._bulk
        bulk_words = np.repeat(
            np.arange(self.vocabulary.size, dtype=np.int32), np.diff(bulk_starts)
        )
        words = np.concatenate([bulk_words, *self._recent_words])
        keypoints = np.concatenate([bulk_slots, *self._recent_slots])
        keep = self._alive.rows[self._slot_of_keypoint.rows[keypoints]]
        self._bulk = _csr(words[keep], keypoints[keep], self.vocabulary.size)
        self._recent_words, self._recent_slots, self._recent_count = [], [], 0
        self._recent = (np.zeros(self.vocabulary.size + 1, np.int64), np.zeros(0, np.int32))

    def candidates(
        self, descriptors: U8, limit: int, mirrored_from: int | None = None
    ) -> list[Found]:
        """The ``limit`` entries with most keypoints like the query's (``(n, 32)``
        descriptors: same word and within :data:`MAX_VOTE_DISTANCE` bits, each
        weighted by its word's rarity), best first. Descriptors from
        ``mirrored_from`` on are the upload's mirrored ones: each entry says what
        share of its score they gave."""
        if not len(descriptors) or limit <= 0:
            return []
        words = self.vocabulary.words(descriptors)
        query = as_words(descriptors)
        with self._lock:
            live = int(self._alive.rows.sum())
            if not live:
                return []
            weights = np.log(1 + live / np.maximum(self._holders, 1)).astype(np.float32)
            alive = np.asarray(self._alive.rows, np.bool_)
            scores = np.zeros(len(alive), np.float32)
            mirrored = np.zeros(len(alive), np.float32)
            touched = np.zeros(len(alive), np.int32)
            count = 0
            split = len(descriptors) if mirrored_from is None else mirrored_from
            for starts, keypoints in (self._bulk, self._recent):
                count = _vote(
                    query,
                    words,
                    starts,
                    keypoints,
                    self._descriptors.data,
                    self._slot_of_keypoint.data,
                    alive,
                    weights,
                    scores,
                    mirrored,
                    split,
                    touched,
                    count,
                )
            hit = touched[:count]
            if len(hit) > limit:
                hit = hit[np.argpartition(-scores[hit], limit - 1)[:limit]]
            ranked = hit[np.argsort(-scores[hit], kind="stable")]
            return [
                Found(
                    int(self._keys.data[s]),
                    int(s),
                    float(scores[s]),
                    float(mirrored[s] / scores[s]),
                )
                for s in ranked
            ]

    def entry(self, slot: int) -> Entry | None:
        """The keypoints and cells of an entry (a copy); None once removed."""
        with self._lock:
            if slot >= self._alive.size or not self._alive.data[slot]:
                return None
            start, count = int(self._start.data[slot]), int(self._count.data[slot])
            width, height = (int(v) for v in self._size.data[slot])
            return Entry(
                self._xy.data[start : start + count].copy(),
                self._descriptors.data[start : start + count].view(np.uint8).copy(),
                width,
                height,
                self._signatures.data[slot].copy(),
                self._flat.data[slot].copy(),
            )

    def slots(self, key: int) -> list[int]:
        with self._lock:
            return list(self._slots_of.get(key, []))

    _ARRAYS = (
        "_xy",
        "_descriptors",
        "_words",
        "_slot_of_keypoint",
        "_start",
        "_count",
        "_size",
        "_signatures",
        "_flat",
        "_alive",
        "_keys",
    )

    def save(self, directory: Path) -> dict[str, int]:
        """Write the index's arrays as ``.npy`` files (the recent postings folded in
        first); returns what was written."""
        with self._lock:
            self._fold()
            for name in self._ARRAYS:
                np.save(directory / f"{name.lstrip('_')}.npy", getattr(self, name).rows)
            np.save(directory / "word_starts.npy", self._bulk[0])
            np.save(directory / "postings.npy", self._bulk[1])
            np.save(directory / "holders.npy", self._holders)
            return {"rows": len(self._slots_of), "entries": int(self._alive.size)}

    def load(self, directory: Path, contents: Mapping[str, int]) -> None:
        """Read what :meth:`save` wrote, replacing this index's contents."""
        arrays = {
            name: np.load(directory / f"{name.lstrip('_')}.npy", allow_pickle=False)
            for name in self._ARRAYS
        }
        starts = np.load(directory / "word_starts.npy", allow_pickle=False)
        postings = np.load(directory / "postings.npy", allow_pickle=False)
        holders = np.load(directory / "holders.npy", allow_pickle=False)
        if len(starts) != self.vocabulary.size + 1 or len(arrays["_keys"]) != contents["entries"]:
            raise ValueError(f"{directory}: local index of another vocabulary or size")
        slots_of: dict[int, list[int]] = {}
        for slot, (key, alive) in enumerate(zip(arrays["_keys"], arrays["_alive"], strict=True)):
            if alive:
                slots_of.setdefault(int(key), []).append(slot)
        with self._lock:
            for name, values in arrays.items():
                rows = getattr(self, name)
                rows.data = np.array(values, dtype=rows.data.dtype)
                rows.size = len(values)
            self._bulk = (starts.astype(np.int64), postings.astype(np.int32))
            self._holders = holders.astype(np.int64)
            self._slots_of = slots_of
            self._recent_words, self._recent_slots, self._recent_count = [], [], 0
            self._recent = (np.zeros(self.vocabulary.size + 1, np.int64), np.zeros(0, np.int32))

    def memory_bytes(self) -> int:
        """Bytes of the arrays the index holds (allocated, not only used)."""
        with self._lock:
            rows: int = sum(int(getattr(self, name).data.nbytes) for name in self._ARRAYS)
            postings = sum(a.nbytes for a in (*self._bulk, *self._recent))
            return rows + postings + self._holders.nbytes
