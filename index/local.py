"""The local-feature index: registered items' keypoints by visual word, and what
verifying a candidate item needs.

An upload's descriptors are quantized to visual words (:mod:`index.vocabulary`);
every item holding one of those words gets a vote weighted by the word's
rarity (``log(items / items holding it)``: a word of text or app chrome that
thousands of items hold says little), and the best-voted items are the
candidates that :mod:`matching.local` verifies geometrically.

The index is two stores. The **postings** (what a vote reads, kept in memory):
for each keypoint, its entry's slot and the first 128 bits of its descriptor, in
word-major flat arrays (CSR). Within a word, postings are split into buckets by
the low bits of those 128 (more bits as the index grows, none while words are
short), and a query descriptor reads only the bucket of its own bits: a large
index's vote reads a small share of each word's postings. A true pair differs
in a bucket bit now and then, so the vote misses some of its pairs (about half
at a million items' 7 bits); the item it should find still gathers the most
votes, which is all a vote is for (docs/benchmarks.md, "Local index at scale").
The bulk is built at load, beside a small second CSR of the items added since,
folded in when it grows; a removed item is marked dead and skipped until the
next fold. The
**entries** (what verification reads: keypoint positions, whole descriptors,
cell signatures) are read for the few candidates of a search only, so an index
loaded from a snapshot maps them from its files instead of reading them into
memory, and the workers of one server share them through the page cache.

The index knows items by integer key and arrays of numbers; it imports nothing
of the hashing package.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
from numba import njit

from index.bits import popcount as _popcount
from index.vocabulary import Vocabulary, as_words

U8 = npt.NDArray[np.uint8]
I32 = npt.NDArray[np.int32]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
S = TypeVar("S", bound=np.generic)
Csr = tuple[I64, I32, U64]
"""Postings: each key's start (a key is ``word << bucket_bits | bucket``), then
the slot and the signature (:data:`SIGNATURE_WORDS` uint64) of every posting."""

FOLD_POSTINGS = 200_000
"""Postings of added items kept apart before they are folded into the bulk."""

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
    at: float | None = None
    """Seconds into the clip of a keyframe's entry; None for a still."""


def bucket_bits(postings: int, vocabulary_size: int) -> int:
    """Bucket bits for a bulk of ``postings``: none while words are short."""
    per_word = postings / max(1, vocabulary_size)
    bits = 0
    while bits < MAX_BUCKET_BITS and per_word >= POSTINGS_PER_BUCKET * (2 << bits):
        bits += 1
    return bits


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
    mask = np.uint64((1 << bits) - 1)
    n = words.shape[0]
    # Signatures sorted by (key, side): those that read the same postings are
    # adjacent, and a posting near any of them votes once.
    keys = np.empty(n, np.int64)
    for i in range(n):
        key = (np.int64(words[i]) << bits) | np.int64(signatures[i, 0] & mask)
        keys[i] = (key << 1) | np.int64(i >= mirrored_from)
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
            near = False
            for k in range(first, last):
                d = 0
                for j in range(SIGNATURE_WORDS):
                    d += _popcount(signatures[order[k], j] ^ posted[p, j])  # type: ignore[call-arg]
                if d <= MAX_VOTE_DISTANCE:
                    near = True
                    break
            if not near:
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


def _same(held: Entry, entry: Entry) -> bool:
    """Whether an indexed entry is ``entry`` as it would be stored."""
    return (
        (held.width, held.height, held.at) == (entry.width, entry.height, entry.at)
        and np.array_equal(held.xy, np.asarray(entry.xy, np.float32))
        and np.array_equal(held.descriptors, entry.descriptors)
        and np.array_equal(held.signatures, entry.signatures)
        and np.array_equal(held.flat, entry.flat)
    )


def _empty_csr(vocabulary_size: int) -> Csr:
    return (
        np.zeros(vocabulary_size + 1, np.int64),
        np.zeros(0, np.int32),
        np.zeros((0, SIGNATURE_WORDS), np.uint64),
    )


def _grown(array: npt.NDArray[S], needed: int) -> npt.NDArray[S]:
    """``array`` with room for ``needed`` rows: as it is when it has it, else a
    copy a quarter larger (a loaded index is sized exactly, and doubling would
    double its memory at the first registration after a load)."""
    if needed <= len(array):
        return array
    capacity = max(needed, len(array) + len(array) // 4 + 1024)
    grown = np.zeros((capacity, *array.shape[1:]), array.dtype)
    grown[: len(array)] = array
    return grown


class _Rows:
    """A growable array of rows: a base read from a snapshot (memory-mapped when
    asked), then rows appended in memory, growing a quarter at a time."""

    def __init__(self, shape: tuple[int, ...], dtype: type[np.generic]) -> None:
        self.base: npt.NDArray[np.generic] = np.zeros((0, *shape), dtype)
        self.tail: npt.NDArray[np.generic] = np.zeros((1024, *shape), dtype)
        self.appended = 0

    @property
    def size(self) -> int:
        return len(self.base) + self.appended

    def append(self, rows: npt.NDArray[np.generic]) -> int:
        """Append ``rows``; returns where they start."""
        start = self.appended
        end = start + len(rows)
        self.tail = _grown(self.tail, end)
        self.tail[start:end] = rows
        self.appended = end
        return len(self.base) + start

    def read(self, start: int, count: int = 1) -> npt.NDArray[np.generic]:
        """Rows ``start`` to ``start + count`` (a copy; an entry's rows are never
        split between the base and the appended rows)."""
        base = len(self.base)
        if start >= base:
            return self.tail[start - base : start - base + count].copy()
        return np.array(self.base[start : start + count])

    def load(self, values: npt.NDArray[np.generic]) -> None:
        self.base = values
        self.tail = np.zeros((1024, *values.shape[1:]), values.dtype)
        self.appended = 0

    def save(self, path: Path) -> None:
        """Write every row as one ``.npy`` file, a block at a time."""
        out = np.lib.format.open_memmap(
            path, mode="w+", dtype=self.tail.dtype, shape=(self.size, *self.tail.shape[1:])
        )
        base, block = len(self.base), 1 << 20
        for start in range(0, base, block):
            out[start : min(base, start + block)] = self.base[start : start + block]
        out[base:] = self.tail[: self.appended]
        out.flush()
        del out

    def resident_bytes(self) -> int:
        base = 0 if isinstance(self.base, np.memmap) else int(self.base.nbytes)
        return base + int(self.tail.nbytes)

    def mapped_bytes(self) -> int:
        return int(self.base.nbytes) if isinstance(self.base, np.memmap) else 0


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
        # Entries: per keypoint, then per slot (an item's still, or a keyframe).
        self._xy = _Rows((2,), np.float32)
        self._descriptors = _Rows((4,), np.uint64)
        self._start = _Rows((), np.int64)
        self._count = _Rows((), np.int32)
        self._size = _Rows((2,), np.int32)
        self._signatures = _Rows((cells,), np.uint64)
        self._flat = _Rows((cells,), np.uint8)
        self._at = _Rows((), np.float64)
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
        self._bulk = _empty_csr(vocabulary.size)
        self._bulk_bits = 0
        self._recent = _empty_csr(vocabulary.size)
        self._recent_parts: list[tuple[I32, I32, U64]] = []
        self._recent_count = 0

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
        self._alive = _grown(self._alive, slot + 1)
        self._keys = _grown(self._keys, slot + 1)
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
        self._recent_parts.append(
            (words, np.full(len(words), slot, np.int32), codes[:, :SIGNATURE_WORDS].copy())
        )
        self._recent_count += len(words)
        if self._recent_count >= self.fold_postings:
            self._fold()
        else:
            words, slots, signatures = (
                np.concatenate(part) for part in zip(*self._recent_parts, strict=True)
            )
            self._recent = build_postings(words, slots, signatures, self.vocabulary.size, 0)

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
                _same(self._entry(slot), e) for slot, e in zip(held, entries, strict=True)
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

    def _fold(self) -> None:
        """Fold the recent postings into the bulk, dropping removed items'."""
        starts, slots, signatures = self._bulk
        words = (
            np.repeat(np.arange(len(starts) - 1, dtype=np.int64), np.diff(starts))
            >> self._bulk_bits
        ).astype(np.int32)
        parts = [(words, slots, signatures), *self._recent_parts]
        words, slots, signatures = (np.concatenate(part) for part in zip(*parts, strict=True))
        keep = self._alive[slots]
        bits = bucket_bits(int(keep.sum()), self.vocabulary.size)
        self._bulk = build_postings(
            words[keep], slots[keep], signatures[keep], self.vocabulary.size, bits
        )
        self._bulk_bits = bits
        self._recent_parts, self._recent_count = [], 0
        self._recent = _empty_csr(self.vocabulary.size)

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
        signatures = np.ascontiguousarray(as_words(descriptors)[:, :SIGNATURE_WORDS])
        with self._lock:
            slots = self._slots
            alive = self._alive[:slots]
            if not self._live:
                return []
            if self._weights is None:
                self._weights = np.log(1 + self._live / np.maximum(self._holders, 1)).astype(
                    np.float32
                )
            weights = self._weights
            if len(self._scores) < slots:
                # Kept between searches (and cleared where touched): fresh arrays of
                # a million entries cost a page fault at each first touch.
                self._scores = np.zeros(len(self._alive), np.float32)
                self._mirrored = np.zeros(len(self._alive), np.float32)
                self._touched = np.zeros(len(self._alive), np.int32)
            scores, mirrored, touched = self._scores, self._mirrored, self._touched
            count = 0
            split = len(descriptors) if mirrored_from is None else mirrored_from
            for (starts, posted_slots, posted), bits in (
                (self._bulk, self._bulk_bits),
                (self._recent, 0),
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
                    mirrored,
                    split,
                    touched,
                    count,
                )
            hit = touched[:count]
            best = hit
            if len(hit) > limit:
                best = hit[np.argpartition(-scores[hit], limit - 1)[:limit]]
            ranked = best[np.argsort(-scores[best], kind="stable")]
            found = [
                Found(
                    int(self._keys[s]),
                    int(s),
                    float(scores[s]),
                    float(mirrored[s] / scores[s]),
                )
                for s in ranked
            ]
            scores[hit] = 0.0
            mirrored[hit] = 0.0
            return found

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
            self._fold()
            for name in self._ENTRIES:
                getattr(self, name).save(directory / f"{name.lstrip('_')}.npy")
            np.save(directory / "alive.npy", self._alive[: self._slots])
            np.save(directory / "keys.npy", self._keys[: self._slots])
            starts, slots, signatures = self._bulk
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
            self._bulk, self._bulk_bits = (starts, slots, posted), bits
            self._holders = holders
            self._slots_of = slots_of
            self._recent_parts, self._recent_count = [], 0
            self._recent = _empty_csr(self.vocabulary.size)

    def memory_bytes(self) -> int:
        """Bytes of the arrays the index holds in memory (allocated, not only
        used); the memory-mapped entries are :meth:`mapped_bytes`."""
        with self._lock:
            rows = sum(getattr(self, name).resident_bytes() for name in self._ENTRIES)
            postings = sum(a.nbytes for a in (*self._bulk, *self._recent))
            slots = sum(
                a.nbytes
                for a in (self._alive, self._keys, self._scores, self._mirrored, self._touched)
            )
            return int(rows + postings + slots + self._holders.nbytes)

    def mapped_bytes(self) -> int:
        """Bytes of the entries read from the snapshot's files as they are needed."""
        with self._lock:
            return sum(getattr(self, name).mapped_bytes() for name in self._ENTRIES)
