"""The two segments of a :class:`index.binary.BinaryIndex`: the immutable main
segment (codes, keys, live flags and multi-index tables) and the growing delta
segment (a FAISS flat index with a hash table for exact lookups), and FAISS's
flat range search both fall back on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from index import mih
from index.mih import Layout, MultiIndex

U8 = npt.NDArray[np.uint8]
Keys = npt.NDArray[np.int64] | npt.NDArray[np.uint32]


def compact_keys(keys: npt.NDArray[np.int64]) -> Keys:
    """Item ids fit 32 bits in any real deployment; 40 MB saved per 10M codes."""
    if keys.size == 0 or (keys.min() >= 0 and keys.max() < 2**32):
        return keys.astype(np.uint32)
    return keys


class MainSegment:
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
    def build(cls, bits: int, codes: U8, keys: npt.NDArray[np.int64], radius: int) -> MainSegment:
        codes = np.asarray(codes, dtype=np.uint8).reshape(-1, bits // 8)
        layout = Layout.choose(bits, len(codes), radius) if bits % 64 == 0 else None
        if layout is None or not len(codes):
            # A private, writable copy (callers may pass views).
            return cls(mih.aligned(codes, copy=True), compact_keys(keys), layout)
        # The copy is made in the tables' order, so they need no second one.
        order = MultiIndex.sort_order(codes, layout)
        return cls(mih.aligned_take(codes, order), compact_keys(keys[order]), layout)

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
            return flat_search(self.flat, queries, radius, self.alive, threads)
        # In (query, row) order whichever path found them.
        order = np.argsort(q.astype(np.int64) << 32 | r)
        return q[order].astype(np.int64), r[order].astype(np.int64), d[order].astype(np.int64)

    def find(self, code: bytes, key: int) -> list[int]:
        """Live rows holding exactly ``code`` for ``key``."""
        query = np.frombuffer(code, np.uint8).reshape(1, -1)
        _, rows, _ = self.search(query, 0, None, 1)
        return [int(r) for r in rows if int(self.keys[r]) == key]


class DeltaSegment:
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
        codes = faiss.vector_to_array(flat_storage(self.flat)).reshape(n, self.flat.code_size)
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
        return flat_search(self.flat, queries, radius, alive, threads)

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


def flat_storage(flat: faiss.IndexBinaryFlat) -> Any:
    """The index's code vector (the stubs do not know the attribute)."""
    return flat.xb  # type: ignore[attr-defined]


def read_flat(path: Path, bits: int, rows: int) -> faiss.IndexBinaryFlat:
    flat = faiss.read_index_binary(str(path))
    if not isinstance(flat, faiss.IndexBinaryFlat) or flat.d != bits or flat.ntotal != rows:
        raise ValueError(f"{path}: not a {bits}-bit IndexBinaryFlat of {rows} codes")
    return flat


def flat_search(
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
