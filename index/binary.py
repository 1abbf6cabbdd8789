"""Exact Hamming range search over millions of binary codes, updated in place.

The index is a log-structured pair of segments:

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
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from index import mih
from index.mih import Layout, MultiIndex

log = logging.getLogger(__name__)

U8 = npt.NDArray[np.uint8]
Keys = npt.NDArray[np.int64] | npt.NDArray[np.uint32]

DEFAULT_MERGE_THRESHOLD = 65_536
"""Codes in the delta before a merge: a flat scan of 64k codes costs ~0.1 ms a query."""


@dataclass(frozen=True, slots=True)
class Hit:
    """``key`` owns a code within ``distance`` bits of query number ``query``."""

    query: int
    key: int
    distance: int


def _compact_keys(keys: npt.NDArray[np.int64]) -> Keys:
    """Item ids fit 32 bits in any real deployment; 40 MB saved per 10M codes."""
    if keys.size == 0 or (keys.min() >= 0 and keys.max() < 2**32):
        return keys.astype(np.uint32)
    return keys


class _Main:
    """The immutable main segment; only ``alive`` changes.

    The codes live in a NumPy array rather than a FAISS index: NumPy's large
    allocations get huge pages, which the random reads of a search need (FAISS
    writes and reads the snapshot files).
    """

    def __init__(
        self,
        codes: U8,
        keys: Keys,
        layout: Layout | None,
        tables: Mapping[str, npt.NDArray[Any]] | None = None,
        alive: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        self.codes = mih.aligned(codes)
        self.rows = len(codes)
        if keys.shape != (self.rows,):
            raise ValueError(f"{self.rows} codes but {keys.shape} keys")
        self.keys = keys
        self.alive = np.ones(self.rows, dtype=np.bool_) if alive is None else alive
        if self.alive.shape != (self.rows,) or self.alive.dtype != np.bool_:
            raise ValueError(f"{self.rows} codes but live flags of shape {self.alive.shape}")
        self.tables = (
            MultiIndex(self.codes, layout, tables) if layout is not None and self.rows else None
        )
        if self.tables is not None and self.tables.order is not None:
            # The tables hold the codes in their first slot's order (build()
            # hands them over in it, so this is for other callers).
            order = self.tables.order
            self.codes, self.keys, self.alive = self.tables.codes, keys[order], self.alive[order]
        # The Numba scan reads 64-bit words; other widths are scanned by FAISS,
        # over a copy made once here rather than on every search.
        self.flat: faiss.IndexBinaryFlat | None = None
        if self.codes.shape[1] % 8:
            self.flat = faiss.IndexBinaryFlat(self.codes.shape[1] * 8)
            if self.rows:
                self.flat.add(self.codes)

    @classmethod
    def build(cls, bits: int, codes: U8, keys: npt.NDArray[np.int64], radius: int) -> _Main:
        codes = np.asarray(codes, dtype=np.uint8).reshape(-1, bits // 8)
        layout = Layout.choose(bits, len(codes), radius) if bits % 64 == 0 else None
        if layout is None or not len(codes):
            # A private, writable copy (callers may pass views).
            return cls(mih.aligned(codes, copy=True), _compact_keys(keys), layout)
        # The copy is made in the tables' order, so they need no second one.
        order = MultiIndex.sort_order(codes, layout)
        return cls(mih.aligned_take(codes, order), _compact_keys(keys[order]), layout)

    @property
    def nbytes(self) -> int:
        tables = self.tables.nbytes if self.tables is not None else 0
        return int(self.codes.nbytes + self.keys.nbytes + self.alive.nbytes + tables)

    def live(self) -> tuple[U8, npt.NDArray[np.int64]]:
        # One copy of the flags: a removal between two reads would misalign them.
        alive = self.alive.copy()
        return self.codes[alive], self.keys[alive].astype(np.int64)

    def search(
        self, queries: U8, radius: int, probe_radius: int | None, threads: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(query, row, distance) of live rows, each pair once."""
        if not self.rows:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        use_tables = self.tables is not None and (
            probe_radius is not None or self.tables.cost(radius) < self.rows
        )
        if use_tables:
            assert self.tables is not None
            q, r, d = self.tables.search(queries, radius, self.alive, probe_radius)
        elif self.flat is None:
            q, r, d = mih.scan(np.ascontiguousarray(queries), self.codes, radius, self.alive)
        else:
            return _flat_search(self.flat, queries, radius, self.alive, threads)
        # In (query, row) order whichever path found them.
        order = np.argsort(q.astype(np.int64) << 32 | r)
        return q[order].astype(np.int64), r[order].astype(np.int64), d[order].astype(np.int64)

    def find(self, code: bytes, key: int) -> list[int]:
        """Live rows holding exactly ``code`` for ``key``."""
        query = np.frombuffer(code, np.uint8).reshape(1, -1)
        _, rows, _ = self.search(query, 0, None, 1)
        return [int(r) for r in rows if int(self.keys[r]) == key]


class _Delta:
    """A growing flat segment; callers hold the index lock around every call.

    Exact lookups (radius 0: is this code held, by whom) go through a hash table
    of the codes rather than a scan: a bulk import checks and adds tens of
    thousands of codes at a time, and a flat scan of each against a delta of
    tens of thousands cost seconds a batch.
    """

    def __init__(self, bits: int) -> None:
        self.flat = faiss.IndexBinaryFlat(bits)
        self.keys: list[int] = []
        self.alive = bytearray()
        self._first: dict[bytes, int] = {}
        """The first row holding each code."""
        self._more: dict[bytes, list[int]] = {}
        """Further rows holding a code (the same code for other keys)."""

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, codes: U8, keys: Sequence[int]) -> None:
        codes = np.ascontiguousarray(codes)
        start = len(self.keys)
        self.flat.add(codes)
        self.keys.extend(keys)
        self.alive.extend(b"\x01" * len(keys))
        data, width = codes.tobytes(), codes.shape[1] if codes.ndim == 2 else 0
        first = self._first
        for row in range(start, start + len(keys)):
            offset = (row - start) * width
            code = data[offset : offset + width]
            if first.setdefault(code, row) != row:
                self._more.setdefault(code, []).append(row)

    def live(self) -> tuple[U8, npt.NDArray[np.int64]]:
        n = len(self.keys)
        if not n:
            return np.zeros((0, self.flat.code_size), np.uint8), np.zeros(0, np.int64)
        codes = faiss.vector_to_array(_storage(self.flat)).reshape(n, self.flat.code_size)
        alive = np.frombuffer(bytes(self.alive), np.uint8).astype(np.bool_)
        return codes[alive], np.asarray(self.keys, np.int64)[alive]

    def search(
        self, queries: U8, radius: int, threads: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        if not self.keys:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        if radius == 0:
            return self._exact(queries)
        alive = np.frombuffer(bytes(self.alive), np.uint8).astype(np.bool_)
        return _flat_search(self.flat, queries, radius, alive, threads)

    def _exact(
        self, queries: U8
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(query, row, 0) of the live rows holding each query exactly."""
        data, width = np.ascontiguousarray(queries).tobytes(), queries.shape[1]
        found_q: list[int] = []
        found_r: list[int] = []
        first, more, alive = self._first, self._more, self.alive
        for query in range(len(queries)):
            code = data[query * width : (query + 1) * width]
            row = first.get(code)
            if row is None:
                continue
            for r in (row, *more.get(code, ())):
                if alive[r]:
                    found_q.append(query)
                    found_r.append(r)
        q = np.asarray(found_q, np.int64)
        return q, np.asarray(found_r, np.int64), np.zeros(len(q), np.int64)

    def find(self, code: bytes, key: int) -> list[int]:
        query = np.frombuffer(code, np.uint8).reshape(1, -1)
        _, rows, _ = self.search(query, 0, 1)
        return [int(r) for r in rows if self.keys[r] == key]


def _storage(flat: faiss.IndexBinaryFlat) -> Any:
    """The index's code vector (the stubs do not know the attribute)."""
    return flat.xb  # type: ignore[attr-defined]


def _read_flat(path: Path, bits: int, rows: int) -> faiss.IndexBinaryFlat:
    flat = faiss.read_index_binary(str(path))
    if not isinstance(flat, faiss.IndexBinaryFlat) or flat.d != bits or flat.ntotal != rows:
        raise ValueError(f"{path}: not a {bits}-bit IndexBinaryFlat of {rows} codes")
    return flat


def _flat_search(
    flat: faiss.IndexBinaryFlat,
    queries: U8,
    radius: int,
    alive: npt.NDArray[np.bool_],
    threads: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """FAISS's exact flat range search, live rows only."""
    # OpenMP's thread count is per calling thread, so it is set where the search
    # runs; FAISS's own threads stalled single queries under load.
    faiss.omp_set_num_threads(threads)
    # FAISS keeps distances strictly below its radius.
    lims, distances, rows = flat.range_search(queries, radius + 1)
    owner = np.repeat(np.arange(len(queries), dtype=np.int64), np.diff(lims).astype(np.int64))
    rows = rows.astype(np.int64)
    keep = alive[rows]
    return owner[keep], rows[keep], distances[keep].astype(np.int64)


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
        self._main = _Main.build(
            bits, np.zeros((0, self.code_bytes), np.uint8), np.zeros(0, np.int64), self.radius
        )
        self._sealed: _Delta | None = None
        self._delta = _Delta(bits)
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
        main = _Main.build(self.bits, codes, keys, self.radius)
        with self._lock:
            self._main, self._delta = main, _Delta(self.bits)

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
            self._sealed, self._delta = self._delta, _Delta(self.bits)
            self._merge_removals = []
            main, sealed = self._main, self._sealed
        try:
            main_codes, main_keys = main.live()
            delta_codes, delta_keys = sealed.live()
            merged = _Main.build(
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
                self._delta = _Delta(self.bits)
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
        flat = _read_flat(directory / "codes.faissindex", self.bits, rows)
        # Copied straight into an aligned array, not through vector_to_array's own.
        codes = mih.aligned_empty(rows, self.code_bytes)
        if rows:
            faiss.memcpy(faiss.swig_ptr(codes), _storage(flat).data(), codes.nbytes)
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
        main = _Main(codes, keys, layout, tables, alive)
        delta_rows = contents.get("delta_rows", 0)
        delta_flat = _read_flat(directory / "delta.faissindex", self.bits, delta_rows)
        delta_keys = np.load(directory / "delta_keys.npy", allow_pickle=False)
        if delta_keys.shape != (delta_rows,):
            raise ValueError(f"{directory}: expected {delta_rows} delta keys")
        delta = _Delta(self.bits)
        if delta_rows:
            codes = faiss.vector_to_array(_storage(delta_flat)).reshape(delta_rows, self.code_bytes)
            delta.add(codes, delta_keys.tolist())
        with self._lock:
            self._main, self._sealed, self._delta = main, None, delta
