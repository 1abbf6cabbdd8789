"""Multi-index hashing: exact Hamming range search without scanning every code.

A code is cut into ``m`` consecutive substrings (slots), of widths that may
differ. If two codes are within ``r`` bits, then for any per-slot thresholds
``t_i`` with ``sum(t_i) >= r - m + 1`` some slot differs by at most its ``t_i``
bits (the generalized pigeonhole principle, Qin et al. 2018: were every slot
``t_i + 1`` or more apart, the codes would be ``r + 1`` or more apart). So
probing, in each slot's table, every value within ``t_i`` flips of the
query's finds every match; a threshold of -1 leaves a slot unprobed. Each
candidate is then verified on the whole code. The thresholds are chosen per
radius by a cost model (uniform codes); with 11 slots at radius 31 ten slots
probe 2 flips and one probes 1, where the plain pigeonhole needs 2 in all.

The tables are flat arrays, not a hash map per bucket: per slot, the rows sorted
by slot value and the bucket starts, compressed to a uint32 base per block of
64 buckets plus an offset from it per bucket (1 byte where every block holds
under 256 rows, else 2 or 4, chosen per slot). The codes themselves are kept in
the first slot's order, so that slot needs no rows. That keeps 10 million
256-bit codes in slots of 23 and 24 bits under 1 GB. The kernels are compiled with
Numba and release the GIL. They run in three passes (bucket bounds, candidate
rows, verification) because each pass is a loop of independent memory reads
the CPU can overlap; the nested loop that reads a bucket, then its rows, then
their codes ran twice as slow at 10 million codes (measured in
bench/index_scale.py's first version).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

from index.bits import popcount as _popcount

U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Hits = tuple[npt.NDArray[np.int32], U32, npt.NDArray[np.int32]]

MIN_SLOT_BITS = 8
MAX_SLOT_BITS = 24
"""A slot key is read from a 32-bit window, and 2**24 buckets cost 17 MB a slot."""

BLOCK_BITS = 6
"""Buckets share a uint32 base in blocks of 64: one cache line of 1-byte offsets."""

# Relative cost of one probe or candidate (a random memory read) against one
# (code, query) pair of the flat scan: 6.8 to 9.4 measured at 1M and 10M codes,
# radii 31 and 51, warm tables (40 before the scan's hit arrays were fixed).
RANDOM_READ_COST = 8.0

# Columns of a probe plan, one row per probe of a query.
_SLOT, _MASK, _BASES, _OFFSETS, _BYTES, _ROWS = range(6)


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

CACHE_LINE = 64
"""Code arrays start on a cache line: NumPy's large allocations start 16 bytes
past one, which put every other 32-byte PDQ code across two lines, so its
verification read missed twice and the prefetch covered only the first line."""


def aligned_empty(rows: int, width: int) -> U8:
    """An uninitialised C-contiguous ``(rows, width)`` uint8 array whose first
    byte starts a cache line (a view into a buffer a line longer)."""
    raw = np.empty(rows * width + CACHE_LINE, np.uint8)
    start = -raw.ctypes.data % CACHE_LINE
    return raw[start : start + rows * width].reshape(rows, width)


def aligned(codes: U8, *, copy: bool = False) -> U8:
    """``codes`` if C-contiguous and starting a cache line (and not ``copy``),
    else a copy that is."""
    if not copy and codes.flags.c_contiguous and codes.ctypes.data % CACHE_LINE == 0:
        return codes
    out = aligned_empty(codes.shape[0], codes.shape[1])
    out[...] = codes
    return out


def aligned_take(codes: U8, order: npt.NDArray[Any]) -> U8:
    """``codes[order]``, written straight into a cache-line-aligned array."""
    return np.take(codes, order, axis=0, out=aligned_empty(len(order), codes.shape[1]))


SCAN_PAIRS = 1 << 14
"""(row, query) pairs the flat scan checks per block: its hit arrays have room
for them all, so a block needs no check of their length."""


@njit(nogil=True, cache=True, inline="always")
def _slot_key(code: U8, first: int, width: int) -> int:
    """Bits [first, first + width) of ``code``, big-endian; ``width`` <= 25."""
    byte = first >> 3
    window = 0
    for i in range(4):
        window <<= 8
        if byte + i < code.shape[0]:
            window |= code[byte + i]
    return (window >> (32 - (first & 7) - width)) & ((1 << width) - 1)


@njit(nogil=True, cache=True, inline="always")
def _distance(code_words: U64, row: int, query_words: U64, query: int) -> int:
    """Hamming distance of stored code ``row`` and query ``query``, as 64-bit words."""
    d = 0
    for w in range(code_words.shape[1]):
        d += _popcount(code_words[row, w] ^ query_words[query, w])  # type: ignore[call-arg]
    return d


@njit(nogil=True, cache=True, inline="always")
def _grown(
    hit_query: npt.NDArray[np.int32],
    hit_row: U32,
    hit_distance: npt.NDArray[np.int32],
    at_least: int = 0,
) -> tuple[npt.NDArray[np.int32], U32, npt.NDArray[np.int32]]:
    """The hit arrays at twice their length or ``at_least`` (kernels cannot append)."""
    n = max(hit_query.shape[0], at_least - hit_query.shape[0])
    return (
        np.concatenate((hit_query, np.empty(n, np.int32))),
        np.concatenate((hit_row, np.empty(n, np.uint32))),
        np.concatenate((hit_distance, np.empty(n, np.int32))),
    )


@njit(nogil=True, cache=True, inline="always")
def _offset(offsets: U8, at: int, size: int, bucket: int) -> int:
    """The offset of ``bucket`` from its block's base: ``size`` little-endian bytes."""
    p = at + bucket * size
    if size == 1:  # the usual width, without the loop: 4% less compute at 10M
        return int(offsets[p])
    value = np.int64(offsets[p])
    for b in range(1, size):
        value |= np.int64(offsets[p + b]) << (8 * b)
    return int(value)


@njit(nogil=True, cache=True, inline="always")
def _bounds(
    bases: U32, offsets: U8, base_at: int, offset_at: int, size: int, bucket: int
) -> tuple[int, int]:
    """[start, end) of ``bucket``'s rows in its slot."""
    block = base_at + (bucket >> BLOCK_BITS)
    base = int(bases[block])
    start = base + _offset(offsets, offset_at, size, bucket)
    if (bucket + 1) & ((1 << BLOCK_BITS) - 1) == 0:
        return start, int(bases[block + 1])
    return start, base + _offset(offsets, offset_at, size, bucket + 1)


@njit(nogil=True, cache=True, inline="always")
def _seen(code: U8, keys: I64, slot: int, shape: I64, thresholds: I64) -> bool:
    """Whether a slot probed before ``slot`` holds ``code`` too.

    Every code within a slot's threshold of the query's key there is found in
    that slot, so a match is reported from the first slot that finds it alone,
    with no deduplication pass over the results.
    """
    for e in range(slot):
        x = np.uint64(_slot_key(code, shape[e, 0], shape[e, 1]) ^ keys[e])
        if np.int64(_popcount(x)) <= thresholds[e]:  # type: ignore[call-arg]
            return True
    return False


@njit(nogil=True, cache=True)
def _count_sort(codes: U8, first: int, width: int, starts: U32, rows: U32) -> None:
    """Fill one slot's bucket starts (2**width + 1) and rows sorted by slot value.

    The arrays come from NumPy, whose large allocations ask the kernel for huge
    pages; Numba's own did not get them, and the random reads of a search ran
    1.5x slower at 10M codes (bench/index_scale.py).
    """
    starts[:] = 0
    for r in range(codes.shape[0]):
        starts[_slot_key(codes[r], first, width) + 1] += 1
    for k in range(starts.shape[0] - 1):
        starts[k + 1] += starts[k]
    cursor = starts[:-1].copy()
    for r in range(codes.shape[0]):
        k = _slot_key(codes[r], first, width)
        rows[cursor[k]] = r
        cursor[k] += 1


@njit(nogil=True, cache=True)
def _in_order(codes: U8, first: int, width: int) -> bool:
    """Whether ``codes`` are sorted by their value in the slot at ``first``."""
    previous = 0
    for r in range(codes.shape[0]):
        key = _slot_key(codes[r], first, width)
        if key < previous:
            return False
        previous = key
    return True


def _padded(width: int) -> int:
    """Buckets stored for a slot: whole blocks, the last ones starting at the end."""
    return max(1 << width, 1 << BLOCK_BITS)


@njit(nogil=True, cache=True)
def _widest_offset(starts: U32, padded: int) -> int:
    """The largest offset of a bucket start from its block's first start."""
    last = starts.shape[0] - 1
    widest = 0
    for k in range(padded):
        block_start = starts[min((k >> BLOCK_BITS) << BLOCK_BITS, last)]
        widest = max(widest, starts[min(k, last)] - block_start)
    return widest


@njit(nogil=True, cache=True)
def _compress(starts: U32, bases: U32, offsets: U8, size: int) -> None:
    """Write ``starts`` as a base per block and ``size``-byte offsets per bucket."""
    last = starts.shape[0] - 1
    for b in range(bases.shape[0]):
        bases[b] = starts[min(b << BLOCK_BITS, last)]
    for k in range(offsets.shape[0] // size):
        value = starts[min(k, last)] - bases[k >> BLOCK_BITS]
        for b in range(size):
            offsets[k * size + b] = (value >> (8 * b)) & 0xFF


@njit(nogil=True, cache=True)
def _consistent(
    bases: U32, offsets: U8, base_at: int, offset_at: int, size: int, blocks: int, rows: int
) -> bool:
    """Whether one slot's bucket starts rise from 0 to ``rows`` (a damaged
    snapshot must not send the search out of its arrays).

    Checked per block: bases rising from 0 to ``rows``, and in each block
    offsets rising from 0 to no further than the next block's base.
    """
    if bases[base_at] != 0 or bases[base_at + blocks] != rows:
        return False
    for b in range(blocks):
        base, end = bases[base_at + b], bases[base_at + b + 1]
        previous = 0
        for k in range(b << BLOCK_BITS, (b + 1) << BLOCK_BITS):
            offset = _offset(offsets, offset_at, size, k)
            if offset < previous or (k == b << BLOCK_BITS and offset != 0):
                return False
            previous = offset
        if end < base or base + previous > end:
            return False
    return True


@njit(nogil=True, cache=True)
def _rows_in_buckets(
    codes: U8, first: int, width: int, bases: U32, offsets: U8, offset_at: int, size: int
) -> bool:
    """Whether every row lies in the first slot's bucket of its code (the codes
    are that slot's rows, so a snapshot's codes and tables must agree)."""
    for r in range(codes.shape[0]):
        start, end = _bounds(bases, offsets, 0, offset_at, size, _slot_key(codes[r], first, width))
        if not start <= r < end:
            return False
    return True


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
    # Room for every hit a block of rows could give is made before the block:
    # growing the arrays inside the loop over pairs made Numba count references
    # on every pair, 8x slower (65,536 codes, 8 queries: 8.4 against 1.1 ms).
    step = max(1, SCAN_PAIRS // max(nq, 1))
    for start in range(0, codes.shape[0], step):
        stop = min(start + step, codes.shape[0])
        room = n + (stop - start) * nq
        if room > hit_query.shape[0]:
            hit_query, hit_row, hit_distance = _grown(hit_query, hit_row, hit_distance, room)
        for r in range(start, stop):
            for q in range(nq):
                d = _distance(code_words, r, query_words, q)
                if d <= radius and alive[r]:
                    hit_query[n] = q
                    hit_row[n] = r
                    hit_distance[n] = d
                    n += 1
    return hit_query[:n], hit_row[:n], hit_distance[:n]


@njit(nogil=True, cache=True)
def _probe_buckets(queries: U8, shape: I64, plan: I64) -> tuple[I64, I64]:
    """Each query's key in every slot, and the bucket of every (query, probe)."""
    nq = queries.shape[0]
    per_query = plan.shape[0]
    keys = np.empty((nq, shape.shape[0]), np.int64)
    for q in range(nq):
        for s in range(shape.shape[0]):
            keys[q, s] = _slot_key(queries[q], shape[s, 0], shape[s, 1])
    bucket = np.empty(nq * per_query, np.int64)
    i = 0
    for q in range(nq):
        for j in range(per_query):
            bucket[i] = keys[q, plan[j, _SLOT]] ^ plan[j, _MASK]
            i += 1
    return keys, bucket


@njit(nogil=True, cache=True)
def _bucket_spans(bucket: I64, bases: U32, offsets: U8, plan: I64, nq: int) -> tuple[I64, I64, int]:
    """Pass 1: where each probe's bucket starts and how many rows it holds, and
    the rows of all of them."""
    per_query = plan.shape[0]
    total = nq * per_query
    ahead = PREFETCH_AHEAD
    first = np.empty(total, np.int64)
    size = np.empty(total, np.int64)
    found = 0
    i = 0
    later = ahead % per_query  # the plan row of probe i + ahead
    # The loops nest over (query, probe) rather than dividing a flat index: a
    # division per probe cost as much as the probe's cache miss.
    for _ in range(nq):
        for j in range(per_query):
            if i + ahead < total:
                k = bucket[i + ahead]
                _prefetch(offsets, plan[later, _OFFSETS] + k * plan[later, _BYTES])  # type: ignore[call-arg]
                _prefetch(bases, plan[later, _BASES] + (k >> BLOCK_BITS))
            later = later + 1 if later + 1 < per_query else 0
            lo, hi = _bounds(
                bases, offsets, plan[j, _BASES], plan[j, _OFFSETS], plan[j, _BYTES], bucket[i]
            )
            # Where the bucket's rows start in the flattened rows or, for the
            # first slot (whose rows are the codes' own), -1 - its first row:
            # pass 2 then needs no lookup in the plan (5% faster than one).
            first[i] = plan[j, _ROWS] + lo if plan[j, _ROWS] >= 0 else -1 - lo
            size[i] = hi - lo
            found += hi - lo
            i += 1
    return first, size, found


@njit(nogil=True, cache=True)
def _candidate_rows(first: I64, size: I64, found: int, rows: U32) -> I64:
    """Pass 2: the rows in the probed buckets, in probe order."""
    flat_rows = rows.reshape(-1)
    total = first.shape[0]
    ahead = PREFETCH_AHEAD
    candidates = np.empty(found, np.int64)
    c = 0
    for i in range(total):
        if i + ahead < total and first[i + ahead] >= 0:
            _prefetch(flat_rows, first[i + ahead])  # type: ignore[call-arg]
        if first[i] < 0:
            for r in range(-1 - first[i], -1 - first[i] + size[i]):
                candidates[c] = r
                c += 1
        else:
            for r in range(first[i], first[i] + size[i]):
                candidates[c] = flat_rows[r]
                c += 1
    return candidates


@njit(nogil=True, cache=True)
def _verified(
    queries: U8,
    codes: U8,
    shape: I64,
    plan: I64,
    thresholds: I64,
    radius: int,
    alive: npt.NDArray[np.bool_],
    keys: I64,
    size: I64,
    candidates: I64,
) -> Hits:
    """Pass 3: the candidates within ``radius`` bits of their query on the whole
    code, alive, and not already found through an earlier slot."""
    nq = queries.shape[0]
    per_query = plan.shape[0]
    found = candidates.shape[0]
    words = codes.shape[1] // 8
    code_words = codes.view(np.uint64).reshape(codes.shape[0], words)
    flat_words = code_words.reshape(-1)
    query_words = queries.view(np.uint64).reshape(nq, words)
    ahead = PREFETCH_AHEAD
    hit_query = np.empty(16, np.int32)
    hit_row = np.empty(16, np.uint32)
    hit_distance = np.empty(16, np.int32)
    n = 0
    c = 0
    i = 0
    for q in range(nq):
        for j in range(per_query):
            for _ in range(size[i]):
                if c + ahead < found:
                    _prefetch(flat_words, candidates[c + ahead] * words)  # type: ignore[call-arg]
                r = candidates[c]
                c += 1
                d = _distance(code_words, r, query_words, q)
                if (
                    d > radius
                    or not alive[r]
                    or _seen(codes[r], keys[q], plan[j, _SLOT], shape, thresholds)
                ):
                    continue
                if n == hit_query.shape[0]:
                    hit_query, hit_row, hit_distance = _grown(hit_query, hit_row, hit_distance)
                hit_query[n] = q
                hit_row[n] = r
                hit_distance[n] = d
                n += 1
            i += 1
    return hit_query[:n], hit_row[:n], hit_distance[:n]


@njit(nogil=True, cache=True)
def _search(
    queries: U8,
    codes: U8,
    shape: I64,
    bases: U32,
    offsets: U8,
    rows: U32,
    plan: I64,
    thresholds: I64,
    radius: int,
    alive: npt.NDArray[np.bool_],
) -> Hits:
    """Every (query, row, distance) within ``radius`` bits, in three passes of
    independent memory reads (see the module's docstring)."""
    keys, bucket = _probe_buckets(queries, shape, plan)
    first, size, found = _bucket_spans(bucket, bases, offsets, plan, queries.shape[0])
    candidates = _candidate_rows(first, size, found, rows)
    return _verified(queries, codes, shape, plan, thresholds, radius, alive, keys, size, candidates)


@cache
def flip_masks(slot_bits: int, flips: int) -> U32:
    """Every value of ``slot_bits`` bits with at most ``flips`` bits set, ascending.

    In ascending order the probes that differ only in their low bits come
    together, and their bucket offsets share cache lines (3-10% faster at 10M).
    """
    masks = [0]
    for count in range(1, flips + 1):
        masks.extend(
            sum(1 << b for b in combo) for combo in itertools.combinations(range(slot_bits), count)
        )
    return np.asarray(sorted(masks), dtype=np.uint32)


def probes_per_slot(slot_bits: int, flips: int) -> int:
    """Buckets probed in a slot of ``slot_bits`` bits at ``flips`` flips (0 at -1)."""
    return sum(math.comb(slot_bits, k) for k in range(flips + 1))


def _reads(width: int, flips: int, count: int) -> float:
    """Expected probes plus candidates in a slot of ``width`` bits (uniform codes)."""
    return probes_per_slot(width, flips) * (1 + count / float(2**width))


@lru_cache(maxsize=1024)
def _thresholds(widths: tuple[int, ...], radius: int, count: int) -> tuple[int, ...]:
    """Per-slot thresholds summing to ``radius - len(widths) + 1``, handed out one
    at a time to the slot whose next flip adds the fewest reads: optimal, since
    a slot's reads grow faster with every flip."""
    flips = [-1] * len(widths)
    for _ in range(radius + 1):
        extra = [
            _reads(w, f + 1, count) - _reads(w, f, count)
            for w, f in zip(widths, flips, strict=True)
        ]
        flips[extra.index(min(extra))] += 1
    return tuple(flips)


@lru_cache(maxsize=1024)
def _cost(widths: tuple[int, ...], radius: int, count: int) -> float:
    flips = _thresholds(widths, radius, count)
    return RANDOM_READ_COST * sum(map(_reads, widths, flips, itertools.repeat(count)))


@dataclass(frozen=True, slots=True)
class Layout:
    """How codes are cut: consecutive slots of ``widths`` bits from bit 0.

    The widths may sum to less than the code length: bits past the last slot
    are verified but not indexed, which keeps every result exact.
    """

    widths: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.widths or not all(1 <= w <= MAX_SLOT_BITS for w in self.widths):
            raise ValueError(f"slot widths must be 1 to {MAX_SLOT_BITS} bits, got {self.widths}")

    @classmethod
    def even(cls, bits: int, slots: int) -> Layout:
        """``slots`` slots over ``bits`` bits, the first ``bits % slots`` one bit wider."""
        narrow, wider = divmod(bits, slots)
        return cls((narrow + 1,) * wider + (narrow,) * (slots - wider))

    @property
    def slots(self) -> int:
        return len(self.widths)

    @property
    def bits(self) -> int:
        """Bits indexed."""
        return sum(self.widths)

    def thresholds(self, radius: int, count: int) -> tuple[int, ...]:
        """Flips to probe per slot (-1: none) so that every code within ``radius``
        is found, at the fewest expected reads over ``count`` codes."""
        return _thresholds(self.widths, radius, count)

    def cost(self, count: int, radius: int) -> float:
        """Expected random reads per query, in units of one code of a flat scan."""
        return _cost(self.widths, radius, count)

    @classmethod
    def choose(cls, bits: int, count: int, radius: int) -> Layout:
        """The cheapest layout for ``count`` codes searched within ``radius``.

        Slots at least as long as log2(count) hold about one code per bucket, so
        the search reads few candidates beyond the probes it makes; none is
        more than a bit past that, where the bucket offsets would outweigh the
        rows.
        """
        widest = min(MAX_SLOT_BITS, max(MIN_SLOT_BITS, count.bit_length() + 1))
        best: Layout | None = None
        for slots in range(1, bits // MIN_SLOT_BITS + 1):
            layout = cls.even(min(bits, slots * widest), slots)
            if best is None or layout.cost(count, radius) < best.cost(count, radius):
                best = layout
        assert best is not None
        return best


class MultiIndex:
    """Immutable multi-index tables over a fixed array of codes.

    Codes sorted by their first slot (see :meth:`sort_order`) are held by
    reference (the owner keeps them alive); others are copied in that order,
    and ``order`` maps the tables' rows back to the caller's. ``alive`` marks
    the rows a search may return, so removals need no rebuild.
    """

    ARRAYS = ("slots", "bases", "offsets", "rows")
    """The tables' arrays by name, as :meth:`arrays` gives them and a snapshot stores them."""

    def __init__(
        self, codes: U8, layout: Layout, arrays: Mapping[str, npt.NDArray[Any]] | None = None
    ) -> None:
        """Build the tables over ``codes``, or take ``arrays`` built before (a snapshot).

        Raises ValueError if the layout does not fit the codes or the arrays do
        not fit the layout and the codes.
        """
        if codes.ndim != 2 or codes.shape[1] % 8:
            raise ValueError("codes must be a 2-D array of 64-bit multiples")
        if codes.shape[0] >= 2**32:
            raise ValueError("at most 2**32 - 1 codes per table")
        if layout.bits > codes.shape[1] * 8:
            raise ValueError(f"{layout} does not fit {codes.shape[1] * 8}-bit codes")
        self.codes = aligned(codes)
        self.layout = layout
        firsts = np.cumsum((0, *layout.widths[:-1]))
        self._shape = np.stack((firsts, layout.widths), axis=1).astype(np.int64)
        self._plans: dict[int, tuple[I64, I64]] = {}
        self.order: U32 | None = None
        """Row i of the tables is row ``order[i]`` of the codes given; None
        when those were in order already."""
        if arrays is None:
            self._build()
        else:
            self._adopt(arrays)

    @staticmethod
    def sort_order(codes: U8, layout: Layout) -> U32:
        """The stable order of ``codes`` by their value in the layout's first slot."""
        order = np.empty(codes.shape[0], np.uint32)
        starts = np.empty(2 ** layout.widths[0] + 1, np.uint32)
        _count_sort(np.ascontiguousarray(codes), 0, layout.widths[0], starts, order)
        return order

    def _build(self) -> None:
        n = self.codes.shape[0]
        if not _in_order(self.codes, 0, self.layout.widths[0]):
            self.order = self.sort_order(self.codes, self.layout)
            self.codes = aligned_take(self.codes, self.order)
        self.rows = np.empty((self.layout.slots - 1, n), np.uint32)
        starts = np.empty(2 ** max(self.layout.widths) + 1, np.uint32)
        first_rows = np.empty(n, np.uint32)  # the identity, as the codes are in order
        bases, offsets, sizes = [], [], []
        for s, (first, width) in enumerate(self._shape.tolist()):
            slot_starts = starts[: 2**width + 1]
            rows = self.rows[s - 1] if s else first_rows
            _count_sort(self.codes, first, width, slot_starts, rows)
            padded = _padded(width)
            widest = _widest_offset(slot_starts, padded)
            # One wide block (a skewed slot, many copies of a code) widens the
            # whole slot's offsets, never the other slots'.
            size = 1 if widest < 2**8 else 2 if widest < 2**16 else 4
            bases.append(np.empty((padded >> BLOCK_BITS) + 1, np.uint32))
            offsets.append(np.empty(padded * size, np.uint8))
            _compress(slot_starts, bases[-1], offsets[-1], size)
            sizes.append(size)
        del first_rows
        self.slots = np.array([self.layout.widths, sizes], np.int64).T.copy()
        self.bases = np.concatenate(bases)
        self.offsets = np.concatenate(offsets)

    def _adopt(self, arrays: Mapping[str, npt.NDArray[Any]]) -> None:
        slots, bases, offsets, rows = (arrays[name] for name in self.ARRAYS)
        n = self.codes.shape[0]
        if slots.dtype != np.int64 or slots.shape != (self.layout.slots, 2):
            raise ValueError("multi-index tables do not match the codes")
        widths, sizes = slots[:, 0].tolist(), slots[:, 1].tolist()
        padded = [_padded(w) for w in self.layout.widths]
        if (
            widths != list(self.layout.widths)
            or not set(sizes) <= {1, 2, 4}
            or bases.dtype != np.uint32
            or bases.shape != (sum((p >> BLOCK_BITS) + 1 for p in padded),)
            or offsets.dtype != np.uint8
            or offsets.shape != (sum(p * b for p, b in zip(padded, sizes, strict=True)),)
            or rows.dtype != np.uint32
            or rows.shape != (self.layout.slots - 1, n)
        ):
            raise ValueError("multi-index tables do not match the codes")
        self.slots = slots
        self.bases, self.offsets, self.rows = bases, offsets, rows
        for s in range(self.layout.slots):
            width, base_at, offset_at, size = self._slot_at(s)
            blocks = _padded(width) >> BLOCK_BITS
            if not _consistent(bases, offsets, base_at, offset_at, size, blocks, n):
                raise ValueError(f"multi-index tables: slot {s}'s bucket starts are damaged")
        if n and rows.size and int(rows.max()) >= n:
            raise ValueError("multi-index tables: a row number past the codes")
        _, _, offset_at, size = self._slot_at(0)
        if not _rows_in_buckets(
            self.codes, 0, self.layout.widths[0], bases, offsets, offset_at, size
        ):
            raise ValueError("multi-index tables: the codes are not in their first slot's order")

    def _slot_at(self, slot: int) -> tuple[int, int, int, int]:
        """(width, first base, first offset byte, offset bytes) of ``slot``."""
        widths, sizes = self.slots[:, 0].tolist(), self.slots[:, 1].tolist()
        padded = [_padded(w) for w in widths]
        base_at = sum((p >> BLOCK_BITS) + 1 for p in padded[:slot])
        offset_at = sum(p * b for p, b in zip(padded[:slot], sizes[:slot], strict=True))
        return widths[slot], base_at, offset_at, sizes[slot]

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The tables' arrays by name: (width, offset bytes) per slot, the block
        bases, the bucket offsets and the rows sorted by each slot but the first
        (whose order the codes are in)."""
        return {
            "slots": self.slots,
            "bases": self.bases,
            "offsets": self.offsets,
            "rows": self.rows,
        }

    @staticmethod
    def layout_of(arrays: Mapping[str, npt.NDArray[Any]]) -> Layout:
        """The layout stored arrays were built for; ValueError if they name none."""
        slots = arrays["slots"]
        if slots.ndim != 2 or slots.shape[1] != 2 or slots.dtype != np.int64:
            raise ValueError("multi-index tables: not a slot list")
        return Layout(tuple(slots[:, 0].tolist()))

    @property
    def nbytes(self) -> int:
        """Bytes of the tables (the codes themselves are the owner's)."""
        return int(self.slots.nbytes + self.bases.nbytes + self.offsets.nbytes + self.rows.nbytes)

    def thresholds(self, radius: int) -> tuple[int, ...]:
        """Flips probed per slot (-1: none) for a search exact to ``radius``."""
        return self.layout.thresholds(radius, self.codes.shape[0])

    def cost(self, radius: int) -> float:
        return self.layout.cost(self.codes.shape[0], radius)

    def _plan(self, radius: int) -> tuple[I64, I64]:
        """The probes of one query (a row each: slot, mask, where the slot's
        bases, offsets and rows start, offset bytes) and the thresholds."""
        plan = self._plans.get(radius)
        if plan is None:
            thresholds = self.thresholds(radius)
            rows: list[I64] = []
            for s, flips in enumerate(thresholds):
                if flips < 0:
                    continue
                _, base_at, offset_at, size = self._slot_at(s)
                masks = flip_masks(self.layout.widths[s], flips).astype(np.int64)
                # Where the slot's rows start in the flattened rows; -1: the first
                # slot, whose rows are the codes' own.
                rows_at = (s - 1) * self.codes.shape[0] if s else -1
                fixed = (s, base_at, offset_at, size, rows_at)
                columns = np.empty((len(masks), 6), np.int64)
                columns[:, [_SLOT, _BASES, _OFFSETS, _BYTES, _ROWS]] = fixed
                columns[:, _MASK] = masks
                rows.append(columns)
            plan = np.concatenate(rows), np.asarray(thresholds, np.int64)
            self._plans[radius] = plan
        return plan

    def search(
        self,
        queries: U8,
        radius: int,
        alive: npt.NDArray[np.bool_],
        probe_radius: int | None = None,
    ) -> Hits:
        """(query, row, distance) for every live row within ``radius``, each pair once.

        Exact when ``probe_radius`` is None or at least ``radius``; a smaller
        ``probe_radius`` probes only enough to be exact up to it, and finds
        codes beyond it only where one substring happens to be close enough.
        """
        probe = radius if probe_radius is None else min(radius, probe_radius)
        plan, thresholds = self._plan(probe)
        return _search(
            np.ascontiguousarray(queries),
            self.codes,
            self._shape,
            self.bases,
            self.offsets,
            self.rows,
            plan,
            thresholds,
            radius,
            alive,
        )
