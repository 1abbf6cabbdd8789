"""Multi-index hashing: exact Hamming range search without scanning every code.

A code is cut into ``slots`` substrings of ``slot_bits`` bits. If two codes are
within ``r`` bits, then by the pigeonhole principle one of their substrings is
within ``r // slots`` bits, so probing every substring value within that many
flips of the query's, in one sorted table per slot, finds every match; each
candidate is then verified on the whole code.

The tables are flat arrays (a bucket-start array per slot and the rows sorted by
slot value), not a hash map per bucket: that keeps 10 million 256-bit codes in
under 1 GB. The kernels are compiled with Numba and release the GIL. They run
in three passes (bucket bounds, candidate rows, verification) because each
pass is a loop of independent memory reads the CPU can overlap; the nested
loop that reads a bucket, then its rows, then their codes ran twice as slow at
10 million codes (measured in bench/index_scale.py's first version).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

MAX_SLOT_BITS = 22
"""2**22 bucket starts per slot is 16 MB; 23 bits would put 10M codes over 1 GB."""

# Relative cost of one probe or candidate (a random memory read) against one
# code of a sequential flat scan, measured at 10M codes: about 40x.
RANDOM_READ_COST = 40.0


@intrinsic
def _popcount(typingctx: object, value: types.Integer) -> object:  # noqa: ARG001
    """LLVM's ctpop: one POPCNT instruction where the CPU has it."""

    def codegen(context: object, builder: object, signature: object, args: list[object]) -> object:  # noqa: ARG001
        return builder.ctpop(args[0])  # type: ignore[attr-defined]

    return types.uint64(types.uint64), codegen


@intrinsic
def _prefetch(typingctx: object, array: types.Array, index: types.Integer) -> object:  # noqa: ARG001
    """Ask the CPU to start loading ``array[index]`` (a 1-D array) into cache.

    The kernels prefetch the read they will make PREFETCH_AHEAD iterations on,
    so several cache misses are in flight at once: 1.6x faster at 10M codes.
    """

    def codegen(context: Any, builder: Any, signature: Any, args: list[Any]) -> object:
        array_type = signature.args[0]
        data = context.make_array(array_type)(context, builder, args[0]).data
        pointer = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
        function_type = ir.FunctionType(
            ir.VoidType(), [ir.IntType(8).as_pointer(), *[ir.IntType(32)] * 3]
        )
        prefetch = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
            builder.module, function_type, "llvm.prefetch.p0"
        )
        # Read access, no temporal locality hint, data cache.
        flags = [ir.Constant(ir.IntType(32), v) for v in (0, 0, 1)]
        builder.call(prefetch, [pointer, *flags])
        return context.get_dummy_value()

    return types.void(array, index), codegen


PREFETCH_AHEAD = 16


@njit(nogil=True, cache=True, inline="always")
def _slot_key(code: U8, slot: int, slot_bits: int) -> int:
    """Bits [slot * slot_bits, (slot + 1) * slot_bits) of ``code``, big-endian."""
    start = slot * slot_bits
    first = start // 8
    window = 0
    for i in range(4):
        window <<= 8
        if first + i < code.shape[0]:
            window |= code[first + i]
    shift = 32 - (start % 8) - slot_bits
    return (window >> shift) & ((1 << slot_bits) - 1)


@njit(nogil=True, cache=True, inline="always")
def _distance(code_words: U64, row: int, query_words: U64, query: int) -> int:
    """Hamming distance of stored code ``row`` and query ``query``, as 64-bit words."""
    d = 0
    for w in range(code_words.shape[1]):
        d += _popcount(code_words[row, w] ^ query_words[query, w])  # type: ignore[call-arg]
    return d


@njit(nogil=True, cache=True, inline="always")
def _grown(
    hit_query: npt.NDArray[np.int32], hit_row: U32, hit_distance: npt.NDArray[np.int32]
) -> tuple[npt.NDArray[np.int32], U32, npt.NDArray[np.int32]]:
    """The hit arrays at twice their length (kernels cannot append)."""
    n = hit_query.shape[0]
    return (
        np.concatenate((hit_query, np.empty(n, np.int32))),
        np.concatenate((hit_row, np.empty(n, np.uint32))),
        np.concatenate((hit_distance, np.empty(n, np.int32))),
    )


@njit(nogil=True, cache=True)
def _build(codes: U8, slot_bits: int, starts: U32, rows: U32) -> None:
    """Fill the bucket starts and slot-sorted rows of every slot, by counting sort.

    The arrays come from NumPy, whose large allocations ask the kernel for huge
    pages; Numba's own did not get them, and the random reads of a search ran
    1.5x slower at 10M codes (bench/index_scale.py).
    """
    n = codes.shape[0]
    buckets = 1 << slot_bits
    starts[:] = 0
    for s in range(starts.shape[0]):
        for r in range(n):
            starts[s, _slot_key(codes[r], s, slot_bits) + 1] += 1
        for k in range(buckets):
            starts[s, k + 1] += starts[s, k]
        cursor = starts[s, :buckets].copy()
        for r in range(n):
            k = _slot_key(codes[r], s, slot_bits)
            rows[s, cursor[k]] = r
            cursor[k] += 1


@njit(nogil=True, cache=True)
def scan(
    queries: U8, codes: U8, radius: int, alive: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.int32], U32, npt.NDArray[np.int32]]:
    """(query, row, distance) of every live row within ``radius``, by brute force.

    Exact at any radius; the search falls back to it where probing would read
    more than the whole array.
    """
    nq = queries.shape[0]
    words = codes.shape[1] // 8
    code_words = codes.view(np.uint64).reshape(codes.shape[0], words)
    query_words = queries.view(np.uint64).reshape(nq, words)
    hit_query = np.empty(16, np.int32)
    hit_row = np.empty(16, np.uint32)
    hit_distance = np.empty(16, np.int32)
    n = 0
    for r in range(codes.shape[0]):
        for q in range(nq):
            d = _distance(code_words, r, query_words, q)
            if d <= radius and alive[r]:
                if n == hit_query.shape[0]:
                    hit_query, hit_row, hit_distance = _grown(hit_query, hit_row, hit_distance)
                hit_query[n] = q
                hit_row[n] = r
                hit_distance[n] = d
                n += 1
    return hit_query[:n], hit_row[:n], hit_distance[:n]


@njit(nogil=True, cache=True)
def _search(
    queries: U8,
    codes: U8,
    starts: U32,
    rows: U32,
    masks: U32,
    slot_bits: int,
    radius: int,
    alive: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.int32], U32, npt.NDArray[np.int32]]:
    nq = queries.shape[0]
    slots = starts.shape[0]
    probes = masks.shape[0]
    words = codes.shape[1] // 8
    code_words = codes.view(np.uint64).reshape(codes.shape[0], words)
    flat_words = code_words.reshape(-1)
    query_words = queries.view(np.uint64).reshape(nq, words)
    width = starts.shape[1]
    flat_starts = starts.reshape(-1)
    count = rows.shape[1]
    flat_rows = rows.reshape(-1)
    ahead = PREFETCH_AHEAD
    # Pass 1: the bucket of every probe, then its bounds.
    total_probes = nq * slots * probes
    bucket = np.empty(total_probes, np.int64)
    i = 0
    for q in range(nq):
        for s in range(slots):
            key = _slot_key(queries[q], s, slot_bits)
            for p in range(probes):
                bucket[i] = s * width + (key ^ masks[p])
                i += 1
    lo = np.empty(total_probes, np.int64)
    hi = np.empty(total_probes, np.int64)
    for i in range(total_probes):
        if i + ahead < total_probes:
            _prefetch(flat_starts, bucket[i + ahead])  # type: ignore[call-arg]
        lo[i] = flat_starts[bucket[i]]
        hi[i] = flat_starts[bucket[i] + 1]
    found = 0
    for i in range(total_probes):
        found += hi[i] - lo[i]
    # Pass 2: the rows in those buckets.
    candidates = np.empty(found, np.int64)
    owner = np.empty(found, np.int32)
    c = 0
    for i in range(total_probes):
        if i + ahead < total_probes:
            _prefetch(flat_rows, (bucket[i + ahead] // width) * count + lo[i + ahead])  # type: ignore[call-arg]
        base = (bucket[i] // width) * count
        q = i // (slots * probes)
        for j in range(lo[i], hi[i]):
            candidates[c] = flat_rows[base + j]
            owner[c] = q
            c += 1
    # Pass 3: verify each candidate on the whole code.
    hit_query = np.empty(16, np.int32)
    hit_row = np.empty(16, np.uint32)
    hit_distance = np.empty(16, np.int32)
    n = 0
    for c in range(found):
        if c + ahead < found:
            _prefetch(flat_words, candidates[c + ahead] * words)  # type: ignore[call-arg]
        r = candidates[c]
        q = owner[c]
        d = _distance(code_words, r, query_words, q)
        if d <= radius and alive[r]:
            if n == hit_query.shape[0]:
                hit_query, hit_row, hit_distance = _grown(hit_query, hit_row, hit_distance)
            hit_query[n] = q
            hit_row[n] = r
            hit_distance[n] = d
            n += 1
    return hit_query[:n], hit_row[:n], hit_distance[:n]


@cache
def flip_masks(slot_bits: int, flips: int) -> U32:
    """Every value of ``slot_bits`` bits with at most ``flips`` bits set."""
    masks = [0]
    for count in range(1, flips + 1):
        masks.extend(
            sum(1 << b for b in combo) for combo in itertools.combinations(range(slot_bits), count)
        )
    return np.asarray(masks, dtype=np.uint32)


def probes_per_slot(slot_bits: int, flips: int) -> int:
    return sum(math.comb(slot_bits, k) for k in range(flips + 1))


@dataclass(frozen=True, slots=True)
class Layout:
    """How codes are cut: ``slots`` substrings of ``slot_bits`` bits from bit 0.

    ``slots * slot_bits`` may be below the code length: bits past the last slot
    are verified but not indexed, which keeps every result exact.
    """

    slots: int
    slot_bits: int

    def flips(self, radius: int) -> int:
        """Flips to probe per slot so that every code within ``radius`` is found."""
        return radius // self.slots

    def cost(self, count: int, radius: int) -> float:
        """Expected random reads per query: probes plus candidates (uniform codes)."""
        probes = self.slots * probes_per_slot(self.slot_bits, self.flips(radius))
        return float(RANDOM_READ_COST * probes * (1 + count / 2**self.slot_bits))

    @classmethod
    def choose(cls, bits: int, count: int, radius: int) -> Layout:
        """The cheapest layout for ``count`` codes searched within ``radius``.

        Slots at least as long as log2(count) hold about one code per bucket, so
        the search reads few candidates beyond the probes it makes.
        """
        best: Layout | None = None
        for slots in range(1, bits // 8 + 1):
            slot_bits = min(bits // slots, MAX_SLOT_BITS)
            if slot_bits < 8:
                break
            layout = cls(slots, slot_bits)
            if best is None or layout.cost(count, radius) < best.cost(count, radius):
                best = layout
        assert best is not None
        return best


class MultiIndex:
    """Immutable multi-index tables over a fixed array of codes.

    ``codes`` is held by reference (the owner keeps it alive); ``alive`` marks
    the rows a search may return, so removals need no rebuild.
    """

    def __init__(self, codes: U8, layout: Layout, tables: tuple[U32, U32] | None = None) -> None:
        """Build the tables over ``codes``, or take ``tables`` built before (a snapshot)."""
        if codes.ndim != 2 or codes.shape[1] % 8:
            raise ValueError("codes must be a 2-D array of 64-bit multiples")
        if codes.shape[0] >= 2**32:
            raise ValueError("at most 2**32 - 1 codes per table")
        if layout.slots * layout.slot_bits > codes.shape[1] * 8 or layout.slot_bits > 24:
            raise ValueError(f"{layout} does not fit {codes.shape[1] * 8}-bit codes")
        self.codes = np.ascontiguousarray(codes)
        self.layout = layout
        if tables is None:
            self.starts = np.empty((layout.slots, 2**layout.slot_bits + 1), np.uint32)
            self.rows = np.empty((layout.slots, codes.shape[0]), np.uint32)
            _build(self.codes, layout.slot_bits, self.starts, self.rows)
            return
        starts, rows = tables
        n = codes.shape[0]
        if (
            starts.shape != (layout.slots, 2**layout.slot_bits + 1)
            or rows.shape != (layout.slots, n)
            or starts.dtype != np.uint32
            or rows.dtype != np.uint32
            or (n and (int(starts[:, -1].min()) != n or int(starts[:, -1].max()) != n))
        ):
            raise ValueError("multi-index tables do not match the codes")
        self.starts, self.rows = starts, rows

    @property
    def nbytes(self) -> int:
        """Bytes of the tables (the codes themselves are the owner's)."""
        return int(self.starts.nbytes + self.rows.nbytes)

    def cost(self, radius: int) -> float:
        return self.layout.cost(self.codes.shape[0], radius)

    def search(
        self,
        queries: U8,
        radius: int,
        alive: npt.NDArray[np.bool_],
        probe_radius: int | None = None,
    ) -> tuple[npt.NDArray[np.int32], U32, npt.NDArray[np.int32]]:
        """(query, row, distance) for every live row within ``radius``.

        Exact when ``probe_radius`` is None or at least ``radius``; a smaller
        ``probe_radius`` probes only enough to be exact up to it, and finds
        codes beyond it only where one substring happens to be close enough.
        """
        probe = radius if probe_radius is None else min(radius, probe_radius)
        masks = flip_masks(self.layout.slot_bits, self.layout.flips(probe))
        # An exact match agrees on every slot, so at radius 0 one slot finds it:
        # a slot's worth of probes and candidates instead of all of them (exact
        # lookups: an index add checking what it holds, an import's held hashes).
        slots = 1 if radius == 0 else self.layout.slots
        return _search(
            np.ascontiguousarray(queries),
            self.codes,
            self.starts[:slots],
            self.rows[:slots],
            masks,
            self.layout.slot_bits,
            radius,
            alive,
        )
