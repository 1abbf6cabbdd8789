"""Shared by the multi-index hashing tests: a brute-force Hamming oracle, codes
planted at known distances, a 20,000-code corpus, and a gate that holds a merge."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from index import BinaryIndex, mih
from index.mih import (
    Layout,
    MultiIndex,
)
from index.segments import MainSegment
from tests.index.test_binary import as_set, flip_bits, random_codes

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
Triples = set[tuple[int, int, int]]


# --- brute force and planted neighbours ----------------------------------------------


def distances(queries: U8, codes: U8) -> I64:
    """The Hamming distance of every query to every code, by brute force."""
    q = np.ascontiguousarray(queries).view(np.uint64)
    c = np.ascontiguousarray(codes).view(np.uint64)
    found: I64 = np.bitwise_count(q[:, None, :] ^ c[None, :, :]).sum(axis=2, dtype=np.int64)
    return found


def brute_force(
    queries: U8, codes: U8, radius: int, alive: npt.NDArray[np.bool_] | None = None
) -> Triples:
    """Every (query, row, distance) within ``radius``, live rows only."""
    found = distances(queries, codes)
    mask = found <= radius
    if alive is not None:
        mask &= alive[None, :]
    q, r = np.nonzero(mask)
    return set(zip(q.tolist(), r.tolist(), found[q, r].tolist(), strict=True))


def uniform(slots: int, slot_bits: int) -> Layout:
    return Layout((slot_bits,) * slots)


def spread_flips(
    code: bytes,
    distance: int,
    layout: Layout,
    rng: np.random.Generator,
    thresholds: tuple[int, ...] | None = None,
) -> bytes:
    """``code`` with ``distance`` bits flipped, spread so that as few slots as
    possible stay within their threshold.

    Flips go round the slots one at a time in a random order, each slot taking
    at most its threshold + 1 (without thresholds: as many as it has bits), then
    to the bits past the last slot, then anywhere. With thresholds summing to
    ``radius - slots + 1``, a neighbour at ``radius`` then has one slot exactly
    at its threshold, the case the pigeonhole bound is tight for, and one at
    ``radius + 1`` has none.
    """
    bits = np.unpackbits(np.frombuffer(code, np.uint8))
    firsts = np.cumsum((0, *layout.widths[:-1]))
    free = [
        list(first + rng.permutation(w)) for first, w in zip(firsts, layout.widths, strict=True)
    ]
    caps = layout.widths if thresholds is None else tuple(t + 1 for t in thresholds)
    order = rng.permutation(layout.slots).tolist()
    chosen: list[int] = []
    taken = [0] * layout.slots
    while len(chosen) < distance:
        open_slots = [s for s in order if taken[s] < caps[s] and free[s]]
        if not open_slots:
            break
        for s in open_slots[: distance - len(chosen)]:
            chosen.append(free[s].pop())
            taken[s] += 1
    rest = list(rng.permutation(np.arange(layout.bits, bits.size))) + [
        b for s in order for b in free[s]
    ]
    chosen += rest[: distance - len(chosen)]
    assert len(set(chosen)) == distance
    bits[chosen] ^= 1
    return np.packbits(bits).tobytes()


def tail_flips(code: bytes, count: int, layout: Layout, rng: np.random.Generator) -> bytes:
    """``code`` with ``count`` of the bits past the last slot (never indexed) flipped."""
    bits = np.unpackbits(np.frombuffer(code, np.uint8))
    bits[rng.choice(np.arange(layout.bits, bits.size), size=count, replace=False)] ^= 1
    return np.packbits(bits).tobytes()


def matrix(codes: Iterable[bytes]) -> U8:
    rows = list(codes)
    return np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), -1).copy()


def rows_of(codes: U8) -> list[bytes]:
    return [row.tobytes() for row in codes]


def table_hits(
    tables: MultiIndex,
    queries: U8,
    radius: int,
    alive: npt.NDArray[np.bool_],
    probe_radius: int | None = None,
) -> Triples:
    """The tables' answer as a set, in the caller's row numbers; a row found
    through several slots comes back once."""
    order = np.arange(len(alive)) if tables.order is None else tables.order
    q, rows, d = tables.search(queries, radius, alive[order], probe_radius)
    r = order[rows]
    triples = list(zip(q.tolist(), r.tolist(), d.tolist(), strict=True))
    per_pair = Counter((query, row) for query, row, _ in triples)
    assert not per_pair or max(per_pair.values()) == 1
    return set(triples)


# --- BinaryIndex's main segment on 20,000 codes --------------------------------------

PLANTED = {256: (0, 1, 2, 15, 30, 31, 32, 40, 51), 64: (0, 1, 2, 5, 6, 7, 10, 11)}
RADII = {256: (0, 31, 32, 51), 64: (0, 6, 10)}
COUNT = 20_000


@dataclass(frozen=True)
class Corpus:
    """A merged index whose key for each code is the code's row in ``codes``."""

    index: BinaryIndex
    codes: U8
    queries: U8

    def truth(self, radius: int, queries: U8 | None = None) -> Triples:
        return brute_force(self.queries if queries is None else queries, self.codes, radius)

    def search(self, radius: int, exact_distance: int | None = None) -> Triples:
        hits = self.index.search(rows_of(self.queries), radius, exact_distance=exact_distance)
        return as_set(hits)


@cache
def corpus(bits: int) -> Corpus:
    """20,000 random codes plus neighbours planted at known distances of some,
    merged into a main segment with tables; built once per code length."""
    rng = np.random.default_rng(bits)
    codes = rows_of(random_codes(rng, COUNT, bits))
    planted = PLANTED[bits]
    # Stored neighbours of codes[0..], found by querying those codes.
    codes += [flip_bits(codes[i], d, rng) for i, d in enumerate(planted)]
    index = BinaryIndex(bits)
    index.add_many((code, key) for key, code in enumerate(codes))
    index.merge()
    tables = index._main.tables
    assert tables is not None
    # Queries near codes[100..] spread over the slots actually built (as few
    # as can be left within the thresholds of the index's radius), and at
    # random near codes[200..]; then codes nothing is near.
    thresholds = tables.thresholds(index.radius)
    queries = codes[: len(planted)]
    queries += [
        spread_flips(codes[100 + i], d, tables.layout, rng, thresholds)
        for i, d in enumerate(planted)
    ]
    queries += [flip_bits(codes[200 + i], d, rng) for i, d in enumerate(planted)]
    queries += rows_of(random_codes(rng, 10, bits))
    return Corpus(index, matrix(codes), matrix(queries))


def spy_paths(monkeypatch: pytest.MonkeyPatch, force: str | None = None) -> Counter[str]:
    """Count main-segment searches by path; ``force`` overrides the cost model."""
    calls: Counter[str] = Counter()
    flat_search = mih.scan
    table_search = MultiIndex.search

    def counting_flat(*args: Any, **kwargs: Any) -> Any:
        calls["flat"] += 1
        return flat_search(*args, **kwargs)

    def counting_tables(self: MultiIndex, *args: Any, **kwargs: Any) -> Any:
        calls["tables"] += 1
        return table_search(self, *args, **kwargs)

    monkeypatch.setattr(mih, "scan", counting_flat)
    monkeypatch.setattr(MultiIndex, "search", counting_tables)
    if force is not None:
        cost = 0.0 if force == "tables" else float("inf")

        def forced(_self: MultiIndex, _radius: int) -> float:
            return cost

        monkeypatch.setattr(MultiIndex, "cost", forced)
    return calls


def small_index(
    rng: np.random.Generator, count: int, bits: int = 256, **options: Any
) -> tuple[BinaryIndex, list[bytes]]:
    codes = rows_of(random_codes(rng, count, bits))
    index = BinaryIndex(bits, **options)
    index.add_many((code, key) for key, code in enumerate(codes))
    return index, codes


def model_truth(
    pairs: Iterable[tuple[bytes, int]], queries: list[bytes], radius: int
) -> set[tuple[int, int, int]]:
    """(query, key, distance) by brute force over a model's (code, key) pairs."""
    held = sorted(pairs, key=lambda pair: pair[1])
    if not held or not queries:
        return set()
    found = brute_force(matrix(queries), matrix(code for code, _ in held), radius)
    return {(q, held[row][1], d) for q, row, d in found}


class MergeGate:
    """Holds a merge inside its table build until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.errors: list[BaseException] = []
        build = MainSegment.build

        def gated(bits: int, codes: U8, keys: I64, radius: int) -> MainSegment:
            self.entered.set()
            assert self.release.wait()
            if fail:
                raise MemoryError("no room for the new segment")
            return build(bits, codes, keys, radius)

        monkeypatch.setattr(MainSegment, "build", staticmethod(gated))

    def start(self, index: BinaryIndex) -> threading.Thread:
        def run() -> None:
            try:
                index.merge()
            except BaseException as exc:
                self.errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        assert self.entered.wait()
        return thread

    def finish(self, thread: threading.Thread) -> None:
        self.release.set()
        thread.join()
        assert not thread.is_alive()


def brute_distance(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()
