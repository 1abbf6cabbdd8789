"""Shared by the snapshot tests: indexes filled with known codes, what they answer,
and the files a snapshot leaves."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from index import HashIndex
from index.binary import BinaryIndex
from tests.index.mih_helpers import model_truth, rows_of
from tests.index.test_binary import as_set, flip_bits, random_codes

Triples = set[tuple[int, int, int]]
HAMMING = {"pdq": 256, "phash": 64}
RADII = {"pdq": (0, 31, 51), "phash": (0, 6, 10)}
BOUNDED = {"pdq": (51, 31), "phash": (10, 6)}
"""(max_distance, exact_distance) for the approximate wide searches."""


def make_index() -> HashIndex:
    return HashIndex(HAMMING, ["sha256"])


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


@dataclass
class Filled:
    """An index and, per signal, the (code, key) pairs it should hold."""

    index: HashIndex
    model: dict[str, set[tuple[bytes, int]]] = field(default_factory=dict)
    queries: dict[str, list[bytes]] = field(default_factory=dict)

    def add(self, signal: str, pairs: list[tuple[bytes, int]]) -> None:
        self.index.add_many(signal, pairs)
        self.model.setdefault(signal, set()).update(pairs)

    def remove(self, signal: str, code: bytes, key: int) -> None:
        self.index.remove(signal, code, key)
        self.model[signal].discard((code, key))

    def hamming(self, signal: str) -> BinaryIndex:
        return self.index._hamming[signal]


def fill(seed: int = 0) -> Filled:
    """Codes in both segments of each Hamming signal, removals from both, codes
    owned by several keys, keys past 2**32 for PDQ, and SHA-256 digests."""
    rng = np.random.default_rng(seed)
    filled = Filled(make_index())
    for signal, bits in HAMMING.items():
        codes = rows_of(random_codes(rng, 1500, bits))
        big = 2**40 if signal == "pdq" else 0  # PDQ's keys take the int64 path
        near = [flip_bits(codes[i], d, rng) for i, d in enumerate(range(0, bits // 4, 3))]
        main = [(code, big + key) for key, code in enumerate(codes[:1000])]
        main += [(code, 5000 + i) for i, code in enumerate(near)]
        main += [(codes[1], 7), (codes[2], 7)]  # one key, several codes; one code, two keys
        filled.add(signal, main)
        filled.hamming(signal).merge()
        for key in range(0, 1000, 37):
            filled.remove(signal, codes[key], big + key)
        filled.add(signal, [(code, big + key) for key, code in enumerate(codes[1000:], 1000)])
        filled.add(signal, [(codes[0], big), (near[1], 6000)])  # back, and a new owner
        for key in range(1000, 1500, 41):
            filled.remove(signal, codes[key], big + key)
        assert filled.hamming(signal)._main.tables is not None
        assert len(filled.hamming(signal)._delta) > 400
        filled.queries[signal] = (
            codes[:60]
            + codes[1000:1060]
            + [flip_bits(codes[200 + i], int(d), rng) for i, d in enumerate(range(bits // 4))]
            + rows_of(random_codes(rng, 10, bits))
        )
    digests = [digest(str(i)) for i in range(300)]
    filled.add("sha256", [(code, key) for key, code in enumerate(digests)])
    filled.add("sha256", [(digests[0], 1000), (digests[1], 2**41)])
    for key in range(0, 300, 7):
        filled.remove("sha256", digests[key], key)
    filled.queries["sha256"] = digests[:50] + [digest("never added")]
    return filled


def answers(index: HashIndex, queries: dict[str, list[bytes]]) -> dict[str, Triples]:
    """Every search the tests compare, by signal, radius and exact distance."""
    out: dict[str, Triples] = {}
    for signal, radii in RADII.items():
        for radius in radii:
            out[f"{signal}@{radius}"] = as_set(index.search(signal, queries[signal], radius))
        widest, exact = BOUNDED[signal]
        hits = index.search(signal, queries[signal], widest, exact_distance=exact)
        out[f"{signal}@{widest}~{exact}"] = as_set(hits)
    out["sha256"] = as_set(index.search("sha256", queries["sha256"]))
    return out


def truth(filled: Filled) -> dict[str, Triples]:
    """The exact answers, by brute force over the model."""
    out: dict[str, Triples] = {}
    for signal, radii in RADII.items():
        for radius in radii:
            found = model_truth(filled.model[signal], filled.queries[signal], radius)
            out[f"{signal}@{radius}"] = set(found)
    queries = filled.queries["sha256"]
    out["sha256"] = {
        (q, key, 0)
        for q, query in enumerate(queries)
        for code, key in filled.model["sha256"]
        if code == query
    }
    return out


def snapshot_rows(index: HashIndex) -> int:
    """Rows a snapshot of ``index`` holds: each main segment whole (removed rows
    included, flagged dead), the live delta codes, and the live digests."""
    rows = 0
    for signal in HAMMING:
        hamming = index._hamming[signal]
        rows += hamming._main.rows + len(hamming._delta.live()[1])
    return rows + index.sizes()["sha256"]


def assert_empty(index: HashIndex) -> None:
    assert index.sizes() == {"pdq": 0, "phash": 0, "sha256": 0}
    assert index.search("pdq", [bytes(32)], 256) == []
    assert index.search("phash", [bytes(8)], 64) == []
    assert index.search("sha256", [digest("0")]) == []
