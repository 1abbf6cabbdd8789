"""The local-feature index: registered items' keypoints by visual word, and what
verifying a candidate item needs.

An upload's descriptors are quantized to visual words (:mod:`index.vocabulary`);
every item holding one of those words gets a vote weighted by the word's
rarity (``log(items / items holding it)``: a word of text or app chrome that
thousands of items hold says little), and the best-voted items are the
candidates that :mod:`matching.local` verifies geometrically.

The index is two stores. The **postings** (:mod:`index.postings`: what a vote
reads, kept in memory): for each keypoint, its entry's slot and the first 128
bits of its descriptor, in word-major flat arrays (CSR). Within a word, postings
are split into buckets by the low bits of those 128 (more bits as the index
grows, none while words are short), and a query descriptor reads only the bucket
of its own bits: a large index's vote reads a small share of each word's
postings. A true pair differs in a bucket bit now and then, so the vote misses
some of its pairs (about half at a million items' 7 bits); the item it should
find still gathers the most votes, which is all a vote is for
(docs/benchmarks.md, "Local index at scale"). The bulk is built at load, beside
a small second CSR of the items added since, folded in when it grows; a removed
item is marked dead and skipped until the next fold. The **entries**
(:mod:`index.entries`: what verification reads: keypoint positions, whole
descriptors, cell signatures) are read for the few candidates of a search only,
so an index loaded from a snapshot maps them from its files instead of reading
them into memory, and the workers of one server share them through the page
cache.

The index knows items by integer key and arrays of numbers; it imports nothing
of the hashing package.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from index.entries import Entry, Rows, grown, same_entry
from index.postings import SIGNATURE_WORDS, Postings
from index.vocabulary import Vocabulary, as_words

U8 = npt.NDArray[np.uint8]
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


class LocalIndex:
    """Items' keypoints by visual word, in flat arrays (a million items' worth
    without a Python object each). Thread-safe: searches and changes may come
    from any thread."""

    def __init__(
        self, vocabulary: Vocabulary, cells: int = 64, fold_postings: int = FOLD_POSTINGS
    ) -> None:
        self.vocabulary = vocabulary
        self._lock = threading.Lock()
        # Entries: per keypoint, then per slot (an item's still, or a keyframe).
        self._xy = Rows((2,), np.float32)
        self._descriptors = Rows((4,), np.uint64)
        self._start = Rows((), np.int64)
        self._count = Rows((), np.int32)
        self._size = Rows((2,), np.int32)
        self._signatures = Rows((cells,), np.uint64)
        self._flat = Rows((cells,), np.uint8)
        self._at = Rows((), np.float64)
        # Per slot, read by every vote or changed by removals: always in memory.
        self._alive = np.zeros(0, np.bool_)
        self._keys = np.zeros(0, np.int64)
        self._slots = 0
        self._live = 0
        self._weights: F32 | None = None
        """The words' rarity weights, made again after a change."""
        self._scores = np.zeros(0, np.float32)
        self._mirrored = np.zeros(0, np.float32)
        self._touched = np.zeros(0, np.int32)
        self._slots_of: dict[int, list[int]] = {}
        """An item's slots: one for a still, one per keyframe of a clip."""
        self._holders = np.zeros(vocabulary.size, np.int64)
        """Live entries holding each word: the rarity weights."""
        self._postings = Postings(vocabulary.size, fold_postings)

    def __len__(self) -> int:
        """Items indexed (an item may hold several entries)."""
        return len(self._slots_of)

    def add(self, key: int, entry: Entry, words: I32 | None = None) -> None:
        """Index one entry of item ``key`` (a still, or a keyframe of a clip);
        ``words`` are its descriptors' words when known."""
        if words is None:
            words = self.vocabulary.words(entry.descriptors)
        with self._lock:
            self._add(key, entry, np.asarray(words, np.int32))

    def _add(self, key: int, entry: Entry, words: I32) -> None:
        """Index one entry, the lock held."""
        codes = as_words(entry.descriptors)
        slot = self._slots
        self._alive = grown(self._alive, slot + 1)
        self._keys = grown(self._keys, slot + 1)
        start = self._xy.append(np.asarray(entry.xy, np.float32))
        self._descriptors.append(codes)
        self._start.append(np.array([start]))
        self._count.append(np.array([len(entry.xy)]))
        self._size.append(np.array([[entry.width, entry.height]]))
        self._signatures.append(entry.signatures[None, :])
        self._flat.append(entry.flat[None, :])
        self._at.append(np.array([np.nan if entry.at is None else entry.at]))
        self._alive[slot] = True
        self._keys[slot] = key
        self._slots += 1
        self._live += 1
        self._weights = None
        self._slots_of.setdefault(key, []).append(slot)
        self._holders[np.unique(words)] += 1
        self._postings.add(words, slot, codes[:, :SIGNATURE_WORDS].copy(), self._alive)

    def remove(self, key: int) -> None:
        with self._lock:
            self._remove(key)

    def replace(self, key: int, entries: Sequence[Entry]) -> None:
        """Make ``entries`` item ``key``'s only entries: adding an item twice (a
        change feed replayed) leaves it indexed once. One step for a concurrent
        search: a check between the removal and the adds would miss the item.
        Entries the item already holds as they are stay in their slots, so a
        search that voted for a slot still reads it (a process replays its own
        registrations from the feed)."""
        words = [np.asarray(self.vocabulary.words(e.descriptors), np.int32) for e in entries]
        with self._lock:
            held = self._slots_of.get(key, [])
            if len(held) == len(entries) and all(
                same_entry(self._entry(slot), e) for slot, e in zip(held, entries, strict=True)
            ):
                return
            self._remove(key)
            for entry, entry_words in zip(entries, words, strict=True):
                self._add(key, entry, entry_words)

    def _remove(self, key: int) -> None:
        for slot in self._slots_of.pop(key, []):
            start, count = int(self._start.read(slot)[0]), int(self._count.read(slot)[0])
            codes = self._descriptors.read(start, count)
            words = self.vocabulary.words(np.ascontiguousarray(codes).view(np.uint8))
            self._holders[np.unique(words)] -= 1
            self._alive[slot] = False
            self._live -= 1
            self._weights = None

    def candidates(
        self, descriptors: U8, limit: int, mirrored_from: int | None = None
    ) -> list[Found]:
        """The ``limit`` entries with most keypoints like the query's (``(n, 32)``
        descriptors: same word and within
        :data:`index.postings.MAX_VOTE_DISTANCE` bits, each
        weighted by its word's rarity), best first. Descriptors from
        ``mirrored_from`` on are the upload's mirrored ones: each entry says what
        share of its score they gave."""
        if not len(descriptors) or limit <= 0:
            return []
        words = self.vocabulary.words(descriptors)
        signatures = np.ascontiguousarray(as_words(descriptors)[:, :SIGNATURE_WORDS])
        with self._lock:
            if not self._live:
                return []
            scores, mirrored, touched = self._scratch()
            split = len(descriptors) if mirrored_from is None else mirrored_from
            count = self._postings.vote(
                signatures,
                words,
                self._alive[: self._slots],
                self._word_weights(),
                scores,
                mirrored,
                split,
                touched,
            )
            hit = touched[:count]
            found = self._ranked(hit, limit)
            scores[hit] = 0.0
            mirrored[hit] = 0.0
            return found

    def _word_weights(self) -> F32:
        """The words' rarity weights, made again after a change; the lock held."""
        if self._weights is None:
            self._weights = np.log(1 + self._live / np.maximum(self._holders, 1)).astype(np.float32)
        return self._weights

    def _scratch(self) -> tuple[F32, F32, I32]:
        """The score, mirrored score and touched-slot arrays a vote fills, zero
        where untouched; the lock held."""
        if len(self._scores) < self._slots:
            # Kept between searches (and cleared where touched): fresh arrays of
            # a million entries cost a page fault at each first touch.
            self._scores = np.zeros(len(self._alive), np.float32)
            self._mirrored = np.zeros(len(self._alive), np.float32)
            self._touched = np.zeros(len(self._alive), np.int32)
        return self._scores, self._mirrored, self._touched

    def _ranked(self, hit: I32, limit: int) -> list[Found]:
        """The ``limit`` best-scored of the touched slots ``hit``, best first; the
        lock held."""
        scores, mirrored = self._scores, self._mirrored
        best = hit
        if len(hit) > limit:
            best = hit[np.argpartition(-scores[hit], limit - 1)[:limit]]
        ranked = best[np.argsort(-scores[best], kind="stable")]
        return [
            Found(
                int(self._keys[s]),
                int(s),
                float(scores[s]),
                float(mirrored[s] / scores[s]),
            )
            for s in ranked
        ]

    def entry(self, slot: int) -> Entry | None:
        """The keypoints and cells of an entry (a copy); None once removed."""
        with self._lock:
            if slot >= self._slots or not self._alive[slot]:
                return None
            return self._entry(slot)

    def _entry(self, slot: int) -> Entry:
        """An entry, the lock held."""
        start, count = int(self._start.read(slot)[0]), int(self._count.read(slot)[0])
        width, height = (int(v) for v in self._size.read(slot)[0])
        at = float(self._at.read(slot)[0])
        return Entry(
            self._xy.read(start, count).astype(np.float32, copy=False),
            np.ascontiguousarray(self._descriptors.read(start, count)).view(np.uint8),
            width,
            height,
            self._signatures.read(slot)[0].astype(np.uint64, copy=False),
            self._flat.read(slot)[0].astype(np.uint8, copy=False),
            None if np.isnan(at) else at,
        )

    def slots(self, key: int) -> list[int]:
        with self._lock:
            return list(self._slots_of.get(key, []))

    def times(self, key: int) -> dict[int, float | None]:
        """Each live entry of item ``key`` by slot, with its time into the clip."""
        with self._lock:
            slots = self._slots_of.get(key, [])
            at = [float(self._at.read(slot)[0]) for slot in slots]
            return {slot: None if np.isnan(t) else t for slot, t in zip(slots, at, strict=True)}

    _PER_SLOT = ("_start", "_count", "_size", "_signatures", "_flat", "_at")
    _ENTRIES = ("_xy", "_descriptors", *_PER_SLOT)

    def save(self, directory: Path) -> dict[str, int]:
        """Write the index as ``.npy`` files (the recent postings folded in
        first); returns what was written."""
        with self._lock:
            self._postings.fold(self._alive)
            for name in self._ENTRIES:
                getattr(self, name).save(directory / f"{name.lstrip('_')}.npy")
            np.save(directory / "alive.npy", self._alive[: self._slots])
            np.save(directory / "keys.npy", self._keys[: self._slots])
            starts, slots, signatures = self._postings.bulk
            np.save(directory / "word_starts.npy", starts)
            np.save(directory / "slots.npy", slots)
            np.save(directory / "postings.npy", signatures)
            np.save(directory / "holders.npy", self._holders)
            return {"rows": len(self._slots_of), "entries": self._slots}

    def load(self, directory: Path, contents: Mapping[str, int], mapped: bool = True) -> None:
        """Read what :meth:`save` wrote, replacing this index's contents. The
        entries are memory-mapped from the files unless ``mapped`` is false; when
        mapped, the files must stay as they are (as a snapshot's do)."""

        def read(name: str, mode: str | None = None) -> npt.NDArray[np.generic]:
            values: npt.NDArray[np.generic] = np.load(
                directory / f"{name}.npy",
                mmap_mode=mode,  # type: ignore[arg-type]
                allow_pickle=False,
            )
            return values

        entries = {name: read(name.lstrip("_"), "r" if mapped else None) for name in self._ENTRIES}
        alive = read("alive").astype(np.bool_)
        keys = read("keys").astype(np.int64)
        starts = read("word_starts").astype(np.int64)
        slots = read("slots").astype(np.int32)
        posted = read("postings").astype(np.uint64).reshape(-1, SIGNATURE_WORDS)
        holders = read("holders").astype(np.int64)
        buckets, rest = divmod(len(starts) - 1, self.vocabulary.size)
        bits = buckets.bit_length() - 1
        if (
            len(holders) != self.vocabulary.size
            or rest
            or buckets != 1 << bits
            or len(keys) != contents["entries"]
            or any(len(entries[name]) != len(keys) for name in self._PER_SLOT)
        ):
            raise ValueError(f"{directory}: local index of another vocabulary or size")
        slots_of: dict[int, list[int]] = {}
        for slot in np.flatnonzero(alive):
            slots_of.setdefault(int(keys[slot]), []).append(int(slot))
        with self._lock:
            for name, values in entries.items():
                getattr(self, name).load(values)
            self._alive, self._keys, self._slots = alive.copy(), keys.copy(), len(keys)
            self._live, self._weights = int(alive.sum()), None
            self._postings.bulk, self._postings.bulk_bits = (starts, slots, posted), bits
            self._postings.reset_recent()
            self._holders = holders
            self._slots_of = slots_of

    def memory_bytes(self) -> int:
        """Bytes of the arrays the index holds in memory (allocated, not only
        used); the memory-mapped entries are :meth:`mapped_bytes`."""
        with self._lock:
            rows = sum(getattr(self, name).resident_bytes() for name in self._ENTRIES)
            postings = self._postings.nbytes()
            slots = sum(
                a.nbytes
                for a in (self._alive, self._keys, self._scores, self._mirrored, self._touched)
            )
            return int(rows + postings + slots + self._holders.nbytes)

    def mapped_bytes(self) -> int:
        """Bytes of the entries read from the snapshot's files as they are needed."""
        with self._lock:
            return sum(getattr(self, name).mapped_bytes() for name in self._ENTRIES)
