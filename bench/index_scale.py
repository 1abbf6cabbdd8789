"""The PDQ index at 10 million hashes: speed, exactness, memory, snapshot load.

The index holds N synthetic random 256-bit codes plus the registered hashes of
real photos (``../shared/corpus-dev`` by default) and PDQ hashes of random crops
of them, so real, non-uniform codes share the buckets. Queries:

* **synthetic**: 8 codes per check, as the 8 orientations of one upload: one a
  planted neighbour of a stored code at a random distance up to 51, seven random;
* **real**: every PDQ code the service searches for an edited photo (all views,
  all 8 orientations and the caption bands), for 10 edits of each registered photo.

Methods, timed in the same run on one thread:

* Hashwall's ``BinaryIndex`` (multi-index tables over the FAISS codes) at the
  block radius 31, and at the review radius 51 with ``exact_distance=31``, with
  the layout the cost model chooses and, alternating with it check by check on
  the same codes, a baseline layout (``--baseline``, by default 11 slots of 22
  bits, the layout before per-slot widths);
* FAISS ``IndexBinaryFlat`` (exact brute force);
* FAISS ``IndexBinaryMultiHash`` with 16 slots of 16 bits and 1 flip (the
  reference service's configuration; exact up to 31 bits).

Exactness is checked against a brute-force oracle (``np.bitwise_count`` over the
whole matrix) on a sample of checks. Then the index is written as a snapshot
and read back, as a restarting server does.

    .venv/bin/python -m bench.index_scale [--size 10000000] [--checks 300] [--baseline 22x11]
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import faiss
import numpy as np
import numpy.typing as npt
import pdqhash

from hashing.pipeline import hash_image_bytes
from hashing.types import Signal
from index import BinaryIndex, HashIndex, snapshot
from index.mih import Layout
from index.segments import MainSegment
from matching.still import image_query
from testkit import edits

BITS = 256
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus-dev"
Codes = npt.NDArray[np.uint8]
Check = list[bytes]


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def pct(values: Sequence[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p, method="inverted_cdf"))


def flip(code: Codes, count: int, rng: np.random.Generator) -> Codes:
    out = code.copy()
    for bit in rng.choice(BITS, size=count, replace=False):
        out[bit // 8] ^= np.uint8(1 << (7 - bit % 8))
    return out


def real_codes(
    corpus: Path, crops: int, rng: np.random.Generator
) -> tuple[list[bytes], list[Check]]:
    """Registered PDQ hashes of the corpus photos (with their crop and rotation
    variants, as a registration stores) plus PDQ of random crops; and the PDQ
    codes the service searches for 10 edits of each photo."""
    photos = sorted(p for p in corpus.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    registered: list[bytes] = []
    checks: list[Check] = []
    for path in photos:
        data = path.read_bytes()
        hashes = hash_image_bytes(data, variants=True)
        registered.extend(view.pdq[min(view.pdq)].value for view in hashes.views)
        registered.extend(value.value for _, value in hashes.variants)
        pixels = edits.load_rgb(str(path))
        for edited in (
            edits.jpeg(pixels, 50),
            edits.jpeg(edits.mirror(pixels)),
            edits.jpeg(edits.rotate90(pixels)),
            edits.jpeg(edits.resize(pixels, 0.5)),
            edits.jpeg(edits.crop_center(pixels, 0.8)),
            edits.jpeg(edits.pad(pixels, 0.1)),
            edits.jpeg(edits.banner(pixels)),
            edits.jpeg(edits.grayscale(pixels)),
            edits.jpeg(edits.rotate_small(pixels, 5)),
            edits.jpeg(edits.screenshot(pixels)),
        ):
            query = image_query(hash_image_bytes(edited))
            checks.append([q.value.value for q in query.hashes if q.value.signal is Signal.PDQ])
    for _ in range(crops):
        pixels = edits.load_rgb(str(photos[int(rng.integers(len(photos)))]))
        h, w = pixels.shape[:2]
        ch, cw = int(h * rng.uniform(0.3, 0.9)), int(w * rng.uniform(0.3, 0.9))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = cv2.resize(pixels[y : y + ch, x : x + cw], (256, 256), interpolation=cv2.INTER_AREA)
        bits, _ = pdqhash.compute(crop)
        registered.append(np.packbits(bits.astype(np.uint8)).tobytes())
    return registered, checks


def synthetic_checks(
    codes: Codes, count: int, rng: np.random.Generator
) -> tuple[list[Check], list[int]]:
    checks: list[Check] = []
    distances: list[int] = []
    for _ in range(count):
        distance = int(rng.integers(0, 52))
        planted = flip(codes[int(rng.integers(len(codes)))], distance, rng)
        others = rng.integers(0, 256, (7, 32), dtype=np.uint8)
        checks.append([planted.tobytes(), *(row.tobytes() for row in others)])
        distances.append(distance)
    return checks, distances


def time_alternating(
    searches: dict[str, Callable[[Check], object]], checks: Sequence[Check]
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """ms per check for each search, wall-clock and the thread's CPU time (which
    leaves out the time it waited for a core), taking turns on each check and
    rotating which goes first, so the machine's load falls on all alike."""
    for search in searches.values():
        search(checks[0])  # compile and warm
    wall: dict[str, list[float]] = {name: [] for name in searches}
    cpu: dict[str, list[float]] = {name: [] for name in searches}
    names = list(searches)
    for i, check in enumerate(checks):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            started, started_cpu = time.perf_counter(), time.thread_time()
            searches[name](check)
            cpu[name].append((time.thread_time() - started_cpu) * 1e3)
            wall[name].append((time.perf_counter() - started) * 1e3)
    return wall, cpu


def baseline_index(index: BinaryIndex, widths: tuple[int, ...]) -> BinaryIndex:
    """An index over the same code and key arrays with tables of ``widths``."""
    main = index._main
    other = BinaryIndex(BITS, radius=index.radius)
    other._main = MainSegment(main.codes, main.keys, Layout(widths))
    return other


def memory(index: BinaryIndex) -> str:
    """The main segment's arrays and their size in MB."""
    main = index._main
    parts = {"codes": main.codes, "keys": main.keys, "live flags": main.alive}
    if main.tables is not None:
        parts.update(main.tables.arrays())
    return ", ".join(f"{name} {array.nbytes / 1e6:.0f}" for name, array in parts.items())


def time_checks(search: Callable[[Check], object], checks: Sequence[Check]) -> list[float]:
    search(checks[0])  # compile and warm
    times = []
    for check in checks:
        started = time.perf_counter()
        search(check)
        times.append((time.perf_counter() - started) * 1e3)
    return times


def oracle(words: npt.NDArray[np.uint64], check: Check, radius: int) -> set[tuple[int, int]]:
    """(query, row) pairs within ``radius`` by brute force."""
    found: set[tuple[int, int]] = set()
    for q, code in enumerate(check):
        query = np.frombuffer(code, np.uint64)
        distance = np.bitwise_count(words ^ query).sum(axis=1, dtype=np.int32)
        found.update((q, int(row)) for row in np.flatnonzero(distance <= radius))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000_000, help="random codes")
    parser.add_argument("--checks", type=int, default=300, help="synthetic checks timed")
    parser.add_argument("--flat-checks", type=int, default=20, help="checks timed on the flat scan")
    parser.add_argument("--oracle-checks", type=int, default=20)
    parser.add_argument("--crops", type=int, default=20_000, help="real crop hashes added")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--skip-multihash", action="store_true")
    parser.add_argument(
        "--baseline",
        default="22x11",
        help="slot bits x slots of a layout timed alternately with the chosen one; none: skip",
    )
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(7)

    started = time.perf_counter()
    registered, real = real_codes(args.corpus, args.crops, rng)
    print(
        f"real photos: {len(registered):,} registered codes, {len(real)} edited checks "
        f"({np.mean([len(c) for c in real]):.0f} PDQ codes each) "
        f"in {time.perf_counter() - started:.0f} s"
    )
    codes = np.concatenate(
        [
            rng.integers(0, 256, (args.size, 32), dtype=np.uint8),
            np.frombuffer(b"".join(registered), np.uint8).reshape(-1, 32),
        ]
    )
    keys = np.arange(len(codes), dtype=np.int64)
    n = len(codes)
    synthetic, planted = synthetic_checks(codes[: args.size], args.checks, rng)

    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    index = BinaryIndex(BITS, radius=31)
    index.reset(codes, keys)
    build_s = time.perf_counter() - started
    grown = rss_mb() - before
    tables = index._main.tables
    assert tables is not None
    print(
        f"\n## {n:,} codes; Hashwall slots of {tables.layout.widths} bits, "
        f"thresholds at 31: {tables.thresholds(31)}, {len(tables._plan(31)[0])} probes a code; "
        f"built in {build_s:.1f} s; index {index.nbytes / 1e6:.0f} MB "
        f"({memory(index)} MB); RSS grew {grown:.0f} MB"
    )
    hashwall = {"Hashwall": index}
    if args.baseline != "none":
        bits, slots = (int(v) for v in args.baseline.split("x"))
        started = time.perf_counter()
        other = baseline_index(index, (bits,) * slots)
        assert other._main.tables is not None
        print(
            f"baseline: {slots} slots of {bits} bits, thresholds at 31: "
            f"{other._main.tables.thresholds(31)}, "
            f"{len(other._main.tables._plan(31)[0])} probes a code; "
            f"built in {time.perf_counter() - started:.1f} s; "
            f"tables {other._main.tables.nbytes / 1e6:.0f} MB"
        )
        hashwall[f"Hashwall {slots} x {bits} bits"] = other
        del other

    words = codes.view(np.uint64).reshape(n, 4)
    results: dict[str, dict[str, list[float]]] = {}
    cpu_times: dict[str, dict[str, list[float]]] = {}

    def hw(ix: BinaryIndex, radius: int, exact: int | None = None) -> Callable[[Check], object]:
        return lambda check: ix.search(check, radius, exact_distance=exact)

    # The first pass over fresh tables ran 1.7x slower than later ones (pages
    # touched for the first time), so every method is timed after one pass.
    for ix in hashwall.values():
        for check in synthetic:
            ix.search(check, 31)
    for radius, exact, label in (
        (31, None, "radius 31 (exact)"),
        (51, 31, "radius 51, exact to 31"),
    ):
        searches = {name: hw(ix, radius, exact) for name, ix in hashwall.items()}
        by_kind = {
            kind: time_alternating(searches, checks)
            for kind, checks in (("synthetic", synthetic), ("real", real))
        }
        for name in hashwall:
            results[f"{name}, {label}"] = {kind: t[0][name] for kind, t in by_kind.items()}
            cpu_times[f"{name}, {label}"] = {kind: t[1][name] for kind, t in by_kind.items()}
    hashwall.clear()
    gc.collect()

    flat = faiss.IndexBinaryFlat(BITS)
    flat.add(codes)

    def faiss_search(ix: faiss.IndexBinary, radius: int) -> Callable[[Check], object]:
        return lambda check: ix.range_search(
            np.frombuffer(b"".join(check), np.uint8).reshape(-1, 32), radius + 1
        )

    results["FAISS IndexBinaryFlat, radius 31"] = {
        "synthetic": time_checks(faiss_search(flat, 31), synthetic[: args.flat_checks]),
        "real": time_checks(faiss_search(flat, 31), real[: args.flat_checks]),
    }
    del flat
    gc.collect()

    if not args.skip_multihash:
        before = rss_mb()
        started = time.perf_counter()
        multi = faiss.IndexBinaryMultiHash(BITS, 16, 16)
        multi.nflip = 1
        multi.add(codes)
        print(
            "FAISS IndexBinaryMultiHash(16 x 16, nflip 1): "
            f"built in {time.perf_counter() - started:.0f} s, "
            f"RSS grew {rss_mb() - before:.0f} MB"
        )
        results["FAISS IndexBinaryMultiHash 16x16 nflip 1, radius 31"] = {
            "synthetic": time_checks(
                faiss_search(multi, 31), synthetic[: max(args.flat_checks, 50)]
            ),
            "real": time_checks(faiss_search(multi, 31), real[: max(args.flat_checks, 50)]),
        }
        del multi
        gc.collect()

    base = results["Hashwall, radius 31 (exact)"]
    print(
        "\n| method | checks | synthetic p50 ms | p99 ms | real checks | real p50 ms "
        "| p99 ms | x Hashwall p50 (synthetic) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, times in results.items():
        ratio = pct(times["synthetic"], 50) / pct(base["synthetic"], 50)
        print(
            f"| {name} | {len(times['synthetic'])} | {pct(times['synthetic'], 50):.2f} | "
            f"{pct(times['synthetic'], 99):.2f} | {len(times['real'])} | "
            f"{pct(times['real'], 50):.2f} | "
            f"{pct(times['real'], 99):.2f} | {ratio:.1f}x |"
        )
    print(
        "\nThe same Hashwall checks in the thread's CPU time (without waits for a core):\n"
        "\n| method | synthetic p50 ms | p99 ms | real p50 ms | p99 ms |\n|---|---:|---:|---:|---:|"
    )
    for name, times in cpu_times.items():
        print(
            f"| {name} | {pct(times['synthetic'], 50):.2f} | {pct(times['synthetic'], 99):.2f} | "
            f"{pct(times['real'], 50):.2f} | {pct(times['real'], 99):.2f} |"
        )

    # Exactness against brute force.
    missed = extra = checked = 0
    band_found = band_total = 0
    sample = synthetic[: args.oracle_checks // 2] + real[: args.oracle_checks // 2]
    for check in sample:
        truth51 = oracle(words, check, 51)
        truth31 = {(q, r) for q, r in truth51 if _distance(words[r], check[q]) <= 31}
        got31 = _pairs(index, check, 31, None)
        got51 = _pairs(index, check, 51, 31)
        missed += len(truth31 - got31) + len(truth31 - got51)
        extra += len(got31 - truth31) + len(got51 - truth51)
        band = truth51 - truth31
        band_total += len(band)
        band_found += len(band & got51)
        checked += len(truth31)
    planted_in_band = sum(1 for d in planted if d > 31)
    print(
        f"\nexactness on {len(sample)} checks against brute force: {checked} true pairs within 31, "
        f"{missed} missed, {extra} wrong; radius 51 exact to 31 found "
        f"{band_found}/{band_total} of the pairs at 32-51"
    )
    found_band = sum(
        1
        for check, d in zip(synthetic, planted, strict=True)
        if d > 31 and any(h.query == 0 for h in index.search(check, 51, exact_distance=31))
    )
    print(
        "planted neighbours at 32-51 bits found with exact_distance=31: "
        f"{found_band}/{planted_in_band}"
    )

    # Snapshot write and read, as a restart does.
    hash_index = HashIndex({"pdq": BITS}, [], radius={"pdq": 31})
    hash_index._hamming["pdq"] = index
    with tempfile.TemporaryDirectory(dir=Path("var") if Path("var").is_dir() else None) as tmp:
        started = time.perf_counter()
        path = snapshot.write(Path(tmp), hash_index, checkpoint=1)
        write_s = time.perf_counter() - started
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        fresh = HashIndex({"pdq": BITS}, [], radius={"pdq": 31})
        started = time.perf_counter()
        loaded = snapshot.read(Path(tmp), fresh)
        read_s = time.perf_counter() - started
        assert loaded is not None
        assert fresh.sizes() == hash_index.sizes()
        check = real[0]
        assert {(h.query, h.key) for h in fresh.search("pdq", check, 31)} == {
            (h.query, h.key) for h in index.search(check, 31)
        }
    print(
        f"snapshot: {size / 1e6:.0f} MB written in {write_s:.1f} s (fsynced), "
        f"read back in {read_s:.1f} s"
    )


def _distance(row: npt.NDArray[np.uint64], code: bytes) -> int:
    return int(np.bitwise_count(row ^ np.frombuffer(code, np.uint64)).sum())


def _pairs(
    index: BinaryIndex, check: Check, radius: int, exact: int | None
) -> set[tuple[int, int]]:
    return {(h.query, h.key) for h in index.search(check, radius, exact_distance=exact)}


if __name__ == "__main__":
    main()
