"""Exact Hamming range search over millions of binary codes, updated in place.

The index is a log-structured pair of segments (:mod:`index.segments`):

* the **main** segment: an immutable FAISS ``IndexBinaryFlat`` holding the codes,
  an array of their keys, a live flag per row and multi-index tables
  (:mod:`index.mih`) over the same bytes;
* the **delta** segment: a small FAISS ``IndexBinaryFlat`` that takes new codes
  and is scanned whole.

A removal clears a live flag; nothing is rebuilt per change. When the delta
outgrows ``merge_threshold`` it is merged into a new main segment on a
background thread while searches and changes go on; removals made during the
merge are replayed on the new segment before it replaces the old one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from index import mih
from index.mih import Layout, MultiIndex
from index.segments import U8, DeltaSegment, MainSegment, flat_storage, read_flat

log = logging.getLogger(__name__)


DEFAULT_MERGE_THRESHOLD = 65_536
"""Codes in the delta before a merge: a flat scan of 64k codes costs ~0.1 ms a query."""


@dataclass(frozen=True, slots=True)
class Hit:
    """``key`` owns a code within ``distance`` bits of query number ``query``."""

    query: int
    key: int
    distance: int


class BinaryIndex:
    """Exact Hamming range search over fixed-length binary codes owned by keys.

    Each (code, key) pair is held once; a code registered by several keys is
    held once per key. ``radius`` is the distance searches are expected at; it
    shapes the multi-index tables but any radius is answered exactly. Safe to
    call from several threads; ``threads`` caps FAISS's OpenMP threads.
    """

    def __init__(
        self,
        bits: int,
        threads: int = 1,
        *,
        radius: int | None = None,
        merge_threshold: int = DEFAULT_MERGE_THRESHOLD,
    ) -> None:
        if bits <= 0 or bits % 8:
            raise ValueError(f"bits must be a positive multiple of 8, got {bits}")
        self.bits = bits
        self.code_bytes = bits // 8
        self.threads = threads
        self.radius = bits // 8 if radius is None else radius
        self.merge_threshold = merge_threshold
        self._lock = threading.RLock()
        self._main = MainSegment.build(
            bits, np.zeros((0, self.code_bytes), np.uint8), np.zeros(0, np.int64), self.radius
        )
        self._sealed: DeltaSegment | None = None
        self._delta = DeltaSegment(bits)
        self._merge_removals: list[tuple[bytes, int]] | None = None
        self._merger: threading.Thread | None = None

    def __len__(self) -> int:
        """Live (code, key) pairs held."""
        with self._lock:
            count = int(np.count_nonzero(self._main.alive))
            for delta in (self._sealed, self._delta):
                if delta is not None:
                    count += delta.alive.count(1)
            return count

    @property
    def nbytes(self) -> int:
        """Approximate bytes held by the codes, keys and tables."""
        with self._lock:
            delta = sum(
                len(d) * (self.code_bytes + 9) for d in (self._sealed, self._delta) if d is not None
            )
            return self._main.nbytes + delta

    def _matrix(self, codes: Sequence[bytes]) -> U8:
        if set(map(len, codes)) - {self.code_bytes}:  # one pass in C, not a Python loop
            wrong = next(len(code) for code in codes if len(code) != self.code_bytes)
            raise ValueError(f"expected a {self.bits}-bit code, got {wrong * 8} bits")
        return np.frombuffer(b"".join(codes), dtype=np.uint8).reshape(len(codes), self.code_bytes)

    # Changes

    def add(self, code: bytes, key: int) -> None:
        """Make ``key`` an owner of ``code``; adding the same pair twice is a no-op."""
        self.add_many([(code, key)])

    def add_many(self, entries: Iterable[tuple[bytes, int]]) -> None:
        """Add (code, key) pairs not already held.

        Every code is checked before anything changes: a bad entry refuses the batch.
        """
        pairs = list(dict.fromkeys(entries))
        matrix = self._matrix([code for code, _ in pairs])
        with self._lock:
            held = self._held(matrix, [key for _, key in pairs])
            fresh = [i for i in range(len(pairs)) if not held[i]]
            if fresh:
                self._delta.add(matrix[fresh], [pairs[i][1] for i in fresh])
            self._maybe_merge()

    def _held(self, matrix: U8, keys: Sequence[int]) -> list[bool]:
        """Which (code, key) pairs are already live, in one batched exact lookup."""
        held = [False] * len(keys)
        if not len(keys):
            return held
        q, r, _ = self._main.search(matrix, 0, None, self.threads)
        for query, row in zip(q.tolist(), r.tolist(), strict=True):
            if int(self._main.keys[row]) == keys[query]:
                held[query] = True
        for delta in (self._sealed, self._delta):
            if delta is not None and len(delta):
                q, r, _ = delta.search(matrix, 0, self.threads)
                for query, row in zip(q.tolist(), r.tolist(), strict=True):
                    if delta.keys[row] == keys[query]:
                        held[query] = True
        return held

    def reset(self, codes: U8, keys: npt.NDArray[np.int64]) -> None:
        """Replace the contents with distinct (code, key) pairs, built in one go.

        For the initial load from the database, whose unique constraint already
        makes the pairs distinct; adding millions through :meth:`add_many`
        would merge over and over.
        """
        if not len(codes):
            codes = np.zeros((0, self.code_bytes), np.uint8)
        if codes.ndim != 2 or codes.shape[1] != self.code_bytes or keys.shape != (len(codes),):
            raise ValueError(f"expected N x {self.code_bytes} codes and N keys")
        main = MainSegment.build(self.bits, codes, keys, self.radius)
        with self._lock:
            self._main, self._delta = main, DeltaSegment(self.bits)

    def remove(self, code: bytes, key: int) -> None:
        """Stop ``key`` owning ``code``; removing a pair not held is a no-op."""
        self._matrix([code])
        with self._lock:
            for row in self._main.find(code, key):
                self._main.alive[row] = False
            for delta in (self._sealed, self._delta):
                if delta is not None:
                    for row in delta.find(code, key):
                        delta.alive[row] = 0
            if self._merge_removals is not None:
                self._merge_removals.append((code, key))

    def owners(self, code: bytes) -> frozenset[int]:
        return frozenset(hit.key for hit in self.search([code], 0))

    def contains(self, codes: Sequence[bytes]) -> npt.NDArray[np.bool_]:
        """For each of ``codes``, whether some key holds exactly it: a search at
        radius 0 that makes no :class:`Hit` per match (an import asks this of
        millions of codes, most of them held when a list is imported again)."""
        found = np.zeros(len(codes), np.bool_)
        if not codes:
            return found
        matrix = self._matrix(codes)
        with self._lock:
            main, segments = self._main, [d for d in (self._sealed, self._delta) if d is not None]
            for delta in segments:
                if len(delta):
                    found[delta.search(matrix, 0, self.threads)[0]] = True
        found[main.search(matrix, 0, None, self.threads)[0]] = True
        return found

    # Searching

    def search(
        self, queries: Sequence[bytes], max_distance: int, *, exact_distance: int | None = None
    ) -> list[Hit]:
        """Every (query, key) pair within ``max_distance`` bits, inclusive.

        Exact unless ``exact_distance`` is below ``max_distance``: then matches
        up to ``exact_distance`` are all found and those beyond it may be missed,
        which keeps a wide review radius affordable over millions of codes.
        """
        if not queries:
            return []
        matrix = self._matrix(queries)
        with self._lock:
            main, segments = self._main, [d for d in (self._sealed, self._delta) if d is not None]
            hits: list[Hit] = []
            for delta in segments:
                q, r, d = delta.search(matrix, max_distance, self.threads)
                hits.extend(
                    Hit(query, delta.keys[row], dist)
                    for query, row, dist in zip(q.tolist(), r.tolist(), d.tolist(), strict=True)
                )
        probe = (
            exact_distance if exact_distance is not None and exact_distance < max_distance else None
        )
        # The main segment never changes but for live flags, so it is searched
        # outside the lock (the MIH kernel and FAISS both release the GIL).
        q, r, d = main.search(matrix, max_distance, probe, self.threads)
        keys = main.keys[r].tolist() if len(r) else []
        hits.extend(
            Hit(query, key, dist)
            for query, key, dist in zip(q.tolist(), keys, d.tolist(), strict=True)
        )
        return hits

    # Merging

    def _maybe_merge(self) -> None:
        if len(self._delta) >= self.merge_threshold and self._merger is None:
            self._merger = threading.Thread(target=self.merge, name="index-merge", daemon=True)
            self._merger.start()

    def merge(self) -> None:
        """Fold the delta into a new main segment; searches and changes go on."""
        with self._lock:
            if self._sealed is not None:
                return  # another merge is running
            self._sealed, self._delta = self._delta, DeltaSegment(self.bits)
            self._merge_removals = []
            main, sealed = self._main, self._sealed
        try:
            main_codes, main_keys = main.live()
            delta_codes, delta_keys = sealed.live()
            merged = MainSegment.build(
                self.bits,
                np.concatenate((main_codes, delta_codes)),
                np.concatenate((main_keys, delta_keys)),
                self.radius,
            )
        except BaseException:
            with self._lock:
                # Put the sealed codes back in front of anything added since.
                codes, keys = self._sealed.live() if self._sealed else (None, None)
                fresh = self._delta
                self._delta = DeltaSegment(self.bits)
                if codes is not None and keys is not None and len(keys):
                    self._delta.add(codes, keys.tolist())
                fc, fk = fresh.live()
                if len(fk):
                    self._delta.add(fc, fk.tolist())
                self._sealed, self._merge_removals, self._merger = None, None, None
            raise
        with self._lock:
            for code, key in self._merge_removals or ():
                for row in merged.find(code, key):
                    merged.alive[row] = False
            self._main, self._sealed, self._merge_removals = merged, None, None
            self._merger = None
        log.info("index merged: %d codes in the main segment", merged.rows)

    def wait_merged(self, timeout: float | None = None) -> None:
        """Block until a running background merge ends (tests and snapshots)."""
        merger = self._merger
        if merger is not None:
            merger.join(timeout)

    # Snapshots

    def live(self) -> tuple[U8, npt.NDArray[np.int64]]:
        """Every live code and its key, main segment first."""
        with self._lock:
            parts = [self._main.live()]
            parts.extend(d.live() for d in (self._sealed, self._delta) if d is not None)
        return (
            np.concatenate([codes for codes, _ in parts]),
            np.concatenate([keys for _, keys in parts]),
        )

    def save(self, directory: Path) -> dict[str, int]:
        """Write the main segment as it is (codes in FAISS's own format, keys, live
        flags and the multi-index arrays as ``.npy``) and the delta's live codes
        beside it, so a load needs no rebuild."""
        with self._lock:
            main = self._main
            alive = main.alive.copy()
            parts = [d.live() for d in (self._sealed, self._delta) if d is not None]
        flat = faiss.IndexBinaryFlat(self.bits)
        if main.rows:
            flat.add(main.codes)
        faiss.write_index_binary(flat, str(directory / "codes.faissindex"))
        del flat
        np.save(directory / "keys.npy", main.keys, allow_pickle=False)
        np.save(directory / "alive.npy", alive, allow_pickle=False)
        written = {"bits": self.bits, "rows": main.rows, "slots": 0}
        if main.tables is not None:
            for name, array in main.tables.arrays().items():
                np.save(directory / f"{name}.npy", array, allow_pickle=False)
            written["slots"] = main.tables.layout.slots
        delta = faiss.IndexBinaryFlat(self.bits)
        delta_keys = np.concatenate([keys for _, keys in parts]) if parts else np.zeros(0, np.int64)
        if len(delta_keys):
            delta.add(np.concatenate([codes for codes, _ in parts]))
        faiss.write_index_binary(delta, str(directory / "delta.faissindex"))
        np.save(directory / "delta_keys.npy", delta_keys, allow_pickle=False)
        written["delta_rows"] = len(delta_keys)
        return written

    def load(self, directory: Path, contents: Mapping[str, int]) -> None:
        """Replace the contents with a snapshot written by :meth:`save`."""
        rows = contents["rows"]
        flat = read_flat(directory / "codes.faissindex", self.bits, rows)
        # Copied straight into an aligned array, not through vector_to_array's own.
        codes = mih.aligned_empty(rows, self.code_bytes)
        if rows:
            faiss.memcpy(faiss.swig_ptr(codes), flat_storage(flat).data(), codes.nbytes)
        del flat
        keys = np.load(directory / "keys.npy", allow_pickle=False)
        alive = np.load(directory / "alive.npy", allow_pickle=False)
        layout: Layout | None = None
        tables = None
        if contents.get("slots"):
            tables = {
                name: np.load(directory / f"{name}.npy", allow_pickle=False)
                for name in MultiIndex.ARRAYS
            }
            layout = MultiIndex.layout_of(tables)
            if layout.slots != contents["slots"]:
                raise ValueError(f"{directory}: expected {contents['slots']} slots")
        main = MainSegment(codes, keys, layout, tables, alive)
        delta_rows = contents.get("delta_rows", 0)
        delta_flat = read_flat(directory / "delta.faissindex", self.bits, delta_rows)
        delta_keys = np.load(directory / "delta_keys.npy", allow_pickle=False)
        if delta_keys.shape != (delta_rows,):
            raise ValueError(f"{directory}: expected {delta_rows} delta keys")
        delta = DeltaSegment(self.bits)
        if delta_rows:
            codes = faiss.vector_to_array(flat_storage(delta_flat)).reshape(
                delta_rows, self.code_bytes
            )
            delta.add(codes, delta_keys.tolist())
        with self._lock:
            self._main, self._sealed, self._delta = main, None, delta
