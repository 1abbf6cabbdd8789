"""Speed and memory of ``index.BinaryIndex`` with many registered PDQ codes.

For each index size (100k and 1M synthetic random 256-bit codes by default):

* range-search time of one check: the 8 orientations as one ``search`` call of
  8 queries, at radius 51 (review) and 31 (block), against brute force in numpy
  over the same packed ``uint8`` matrix in the same run: XOR plus a 256-entry
  popcount lookup table, and XOR plus ``np.bitwise_count`` on 64-bit words;
* memory: resident-set growth per code, and the Python-side share;
* time to add all codes (``add_many``), to add one more, and to remove one.

FAISS runs on one OpenMP thread, as the service sets it.

    .venv/bin/python -m bench.index_speed [--sizes 100000,1000000] [--searches 200]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from index import BinaryIndex

BITS = 256
CODE_BYTES = BITS // 8
RADII = (51, 31)
POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
"""Set bits of every byte value: the lookup table of the brute-force baseline."""

Codes = npt.NDArray[np.uint8]


def q(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    return float(np.percentile(np.asarray(values), p, method="inverted_cdf"))


def rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def python_bytes(binary: BinaryIndex) -> int | None:
    """What the index's Python dicts, sets, byte strings and ints take (getsizeof);
    None if the index no longer keeps its maps in ``_ids`` and ``_owners``."""
    ids = getattr(binary, "_ids", None)
    owners = getattr(binary, "_owners", None)
    if not isinstance(ids, dict) or not isinstance(owners, dict):
        return None
    total = sys.getsizeof(ids) + sys.getsizeof(owners)
    total += sum(sys.getsizeof(code) + sys.getsizeof(i) for code, i in ids.items())
    for keys in owners.values():
        total += sys.getsizeof(keys) + sum(sys.getsizeof(k) for k in keys)
    return total


def flip_bits(code: Codes, count: int, rng: np.random.Generator) -> Codes:
    bits = np.unpackbits(code)
    where = rng.choice(BITS, size=count, replace=False)
    bits[where] ^= 1
    return np.packbits(bits)


def make_queries(codes: Codes, searches: int, rng: np.random.Generator) -> list[list[bytes]]:
    """``searches`` batches of 8 codes: 7 random and one 20 bits from a stored code,
    so every search walks the hit path once, as a check of a registered photo does."""
    batches = []
    for _ in range(searches):
        batch = [rng.integers(0, 256, CODE_BYTES, dtype=np.uint8).tobytes() for _ in range(7)]
        near = codes[int(rng.integers(len(codes)))]
        batch.insert(int(rng.integers(8)), flip_bits(near, 20, rng).tobytes())
        batches.append(batch)
    return batches


def brute_lut(codes: Codes, queries: Sequence[bytes], radius: int) -> list[npt.NDArray[np.intp]]:
    out = []
    for query in queries:
        x = np.bitwise_xor(codes, np.frombuffer(query, dtype=np.uint8))
        distances = POPCOUNT[x].sum(axis=1, dtype=np.uint16)
        out.append(np.flatnonzero(distances <= radius))
    return out


def brute_words(
    words: npt.NDArray[np.uint64], queries: Sequence[bytes], radius: int
) -> list[npt.NDArray[np.intp]]:
    out = []
    for query in queries:
        x = np.bitwise_xor(words, np.frombuffer(query, dtype=np.uint64))
        distances = np.bitwise_count(x).sum(axis=1, dtype=np.uint16)
        out.append(np.flatnonzero(distances <= radius))
    return out


def timings(fn: Callable[[list[bytes]], object], batches: Sequence[list[bytes]]) -> list[float]:
    out = []
    for batch in batches:
        started = time.perf_counter()
        fn(batch)
        out.append((time.perf_counter() - started) * 1000)
    return out


@dataclass(frozen=True, slots=True)
class SizeResult:
    lines: list[str]
    summary: list[str]


def bench_size(n: int, searches: int, baseline_searches: int, seed: int) -> SizeResult:
    rng = np.random.default_rng(seed)
    codes: Codes = rng.integers(0, 256, (n, CODE_BYTES), dtype=np.uint8)
    words = codes.view(np.uint64)
    gc.collect()
    before = rss_bytes()
    binary = BinaryIndex(BITS)
    entries = [(codes[i].tobytes(), i) for i in range(n)]
    started = time.perf_counter()
    binary.add_many(entries)
    add_s = time.perf_counter() - started
    del entries
    gc.collect()
    grown = rss_bytes() - before
    py = python_bytes(binary)

    batches = make_queries(codes, searches, rng)
    base_batches = batches[:baseline_searches]
    # One untimed call of each warms caches and FAISS's lazy set-up.
    binary.search(batches[0], RADII[0])
    brute_lut(codes, batches[0][:1], RADII[0])
    rows = []
    for radius in RADII:
        hw = timings(lambda b: binary.search(b, radius), batches)  # noqa: B023
        # Same-size subsets interleaved so machine noise hits all alike.
        hw_sub = timings(lambda b: binary.search(b, radius), base_batches)  # noqa: B023
        lut = timings(lambda b: brute_lut(codes, b, radius), base_batches)  # noqa: B023
        wrd = timings(lambda b: brute_words(words, b, radius), base_batches)  # noqa: B023
        # The same answers: every planted near code is found by all three.
        for batch in base_batches[:3]:
            faiss_hits = {(h.query, h.key) for h in binary.search(batch, radius)}
            lut_hits = {
                (i, int(k)) for i, ks in enumerate(brute_lut(codes, batch, radius)) for k in ks
            }
            if faiss_hits != lut_hits:
                raise SystemExit(f"FAISS and brute force disagree at radius {radius}")
        rows += [
            f"| {n:,} | {radius} | BinaryIndex.search (FAISS, 1 thread) | {len(hw)} "
            f"| {q(hw, 50):.2f} | {q(hw, 99):.2f} | 1.0 |",
            f"| {n:,} | {radius} | numpy XOR + 256-entry popcount table | {len(lut)} "
            f"| {q(lut, 50):.2f} | {q(lut, 99):.2f} | {q(lut, 50) / q(hw_sub, 50):.1f} |",
            f"| {n:,} | {radius} | numpy XOR + np.bitwise_count on uint64 | {len(wrd)} "
            f"| {q(wrd, 50):.2f} | {q(wrd, 99):.2f} | {q(wrd, 50) / q(hw_sub, 50):.1f} |",
        ]

    extra = rng.integers(0, 256, (50, CODE_BYTES), dtype=np.uint8)
    add_one = []
    for i, code in enumerate(extra):
        started = time.perf_counter()
        binary.add(code.tobytes(), n + i)
        add_one.append((time.perf_counter() - started) * 1000)
    removals = min(20, n)
    victims = rng.choice(n, size=removals, replace=False)
    remove_one = []
    for i in victims:
        started = time.perf_counter()
        binary.remove(codes[int(i)].tobytes(), int(i))
        remove_one.append((time.perf_counter() - started) * 1000)

    per_code = grown / n
    lines = rows
    summary = [
        f"| {n:,} | {add_s:.2f} s ({1e6 * add_s / n:.2f} us/code) | {q(add_one, 50):.3f} "
        f"| {q(remove_one, 50):.1f} (max {max(remove_one):.1f}) | {per_code:.0f} "
        f"| {'n/a' if py is None else f'{py / n:.0f}'} | {CODE_BYTES} |"
    ]
    return SizeResult(lines, summary)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.index_speed",
        description="BinaryIndex range search vs numpy brute force; memory, add and remove.",
    )
    parser.add_argument(
        "--sizes", default="100000,1000000", help="comma-separated index sizes (codes)"
    )
    parser.add_argument("--searches", type=int, default=200, help="timed searches per radius")
    parser.add_argument(
        "--baseline-searches",
        type=int,
        default=10,
        help="searches timed for the numpy baselines (slow at 1M)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if not sizes or min(sizes) < 100:
        parser.error("sizes must be >= 100")

    faiss.omp_set_num_threads(1)
    out = [
        f"Started with {load_average()}. numpy {np.__version__}, faiss {faiss.__version__}.",
        "",
        "One search = one check's 8 orientations as a single `search` call of 8 queries "
        "(7 random codes and one 20 bits from a stored code). Ratio = p50 of the method "
        "over BinaryIndex's p50 on the same searches, timed in the same run.",
        "",
        "| codes | radius | method | searches | p50 ms | p99 ms | x BinaryIndex |",
        "|---|---|---|---|---|---|---|",
    ]
    summary = [
        "| codes | add_many of all | add one (ms, p50) | remove one (ms, p50) "
        "| RSS growth bytes/code | of which Python bytes/code | FAISS code bytes |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in sizes:
        result = bench_size(n, args.searches, min(args.baseline_searches, args.searches), args.seed)
        out += result.lines
        summary += result.summary
    out += ["", *summary, "", f"Finished with {load_average()}."]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
