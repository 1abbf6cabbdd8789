"""The local-feature index at scale: memory, search time and whether real items are
still found among a million others.

N synthetic items (:data:`hashing.features.ITEM_KEYPOINTS` keypoints each) are
written straight into the snapshot format of :class:`index.local.LocalIndex`
(building a million items one ``add`` at a time would take the bench longer than
the service takes to load them) and loaded as a restarting server loads them. A
synthetic item's descriptors are real ones with noise: each is a keypoint
descriptor of a dev photo that is not searched for (the unregistered ones) with
a fifth of its bits flipped at random, so the words fill as unevenly as real
pictures fill them. Positions and cells are random.

Then the corpus's dev-registered photos are added as real items, and each is
searched for with three hard edits (a crop keeping 55 %, a 2x2 collage, a phone
screenshot: :mod:`testkit.families`): the index's vote alone
(``LocalIndex.candidates``), then the service's ``search_index`` (vote, then
verify the best candidates), timed on one thread, beside the same uploads in an
index of the real items alone measured in the same run. Memory is the process's
resident set (``/proc/self/status``) before and after loading and after the
searches, split into its own memory and mapped snapshot pages, and the index's
arrays as it counts them.

    .venv/bin/python -m bench.local_scale [--size 1000000] [--keep DIR [--reuse]]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from app.repository.features import NewFeatures, entry_from
from app.settings import Settings
from bench.generalization import photo_bytes
from hashing.cells import CELL_GRID, cells
from hashing.decode import decode_image
from hashing.features import ITEM_KEYPOINTS, item_features, upload_features
from index.local import LocalIndex
from index.postings import SIGNATURE_WORDS, bucket_bits, build_postings
from index.vocabulary import Vocabulary
from matching.local import search_index
from testkit.corpus import load_corpus, split
from testkit.families import apply

FAMILIES = ("crop_55", "collage_2x2", "phone_screenshot")
NOISE_BITS = 51
"""Bits flipped in each seed descriptor: a fifth of 256."""
KEY_BASE = 100_000_000
"""Synthetic items' keys start here, far from the real items' 1, 2, ..."""


def rss_mb(field: str = "VmRSS") -> float:
    """The process's resident set in MB: all of it, or ``RssAnon`` (its own
    memory) or ``RssFile`` (pages of mapped files, shared with other processes
    mapping them and given back under memory pressure)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def synthetic_snapshot(
    directory: Path, size: int, seeds: npt.NDArray[np.uint8], vocabulary: Vocabulary
) -> None:
    """Write ``size`` synthetic items in :meth:`LocalIndex.save`'s format."""
    rng = np.random.default_rng(0)
    n = ITEM_KEYPOINTS
    total = size * n
    descriptors = np.empty((total, 32), np.uint8)
    words = np.empty(total, np.int32)
    chunk = 50_000 * n
    for start in range(0, total, chunk):
        end = min(total, start + chunk)
        picked = seeds[rng.integers(0, len(seeds), end - start)]
        flips = np.zeros((end - start, 256), np.bool_)
        cols = rng.integers(0, 256, (end - start, NOISE_BITS))
        np.put_along_axis(flips, cols, True, axis=1)
        descriptors[start:end] = picked ^ np.packbits(flips, axis=1)
        words[start:end] = vocabulary.words(descriptors[start:end])
    cells_n = CELL_GRID * CELL_GRID
    slots = np.repeat(np.arange(size, dtype=np.int32), n)
    arrays: dict[str, npt.NDArray[np.generic]] = {
        "xy": rng.uniform(0, 420, (total, 2)).astype(np.float32),
        "descriptors": descriptors.view(np.uint64).reshape(total, 4),
        "start": np.arange(0, total, n, dtype=np.int64),
        "count": np.full(size, n, np.int32),
        "size": np.tile(np.array([[420, 315]], np.int32), (size, 1)),
        "signatures": rng.integers(0, 2**63, (size, cells_n), dtype=np.uint64),
        "flat": np.zeros((size, cells_n), np.uint8),
        "at": np.full(size, np.nan),
        "alive": np.ones(size, np.bool_),
        "keys": np.arange(KEY_BASE, KEY_BASE + size, dtype=np.int64),
    }
    for name, values in arrays.items():
        np.save(directory / f"{name}.npy", values)
    signatures = np.ascontiguousarray(arrays["descriptors"][:, :SIGNATURE_WORDS])
    del arrays, descriptors
    holders = np.zeros(vocabulary.size, np.int64)
    item_words = np.unique(words.astype(np.int64) + slots.astype(np.int64) * vocabulary.size)
    np.add.at(holders, item_words % vocabulary.size, 1)
    del item_words
    np.save(directory / "holders.npy", holders)
    bits = bucket_bits(total, vocabulary.size)
    starts, posted_slots, posted = build_postings(words, slots, signatures, vocabulary.size, bits)
    np.save(directory / "word_starts.npy", starts)
    np.save(directory / "slots.npy", posted_slots)
    np.save(directory / "postings.npy", posted)


def q(values: Sequence[float], p: float) -> float:
    return float(np.percentile(values, p)) if values else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.local_scale", description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the snapshot here and keep it")
    parser.add_argument(
        "--reuse", action="store_true", help="load the snapshot --keep holds instead of writing"
    )
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    policy = Settings().match_policy()
    vocabulary = Vocabulary.bundled()
    photos = load_corpus()
    parts = split(sorted(photos))
    registered = list(parts.dev_registered)
    others = [photos[p] for p in parts.dev_unregistered][:6]
    items = {}
    for i, name in enumerate(registered, 1):
        luma = decode_image(photo_bytes(photos[name]), gray=True).pixels
        features, frame = item_features(luma)
        items[i] = NewFeatures(features, cells(frame))
    # Seeds from the photos that are not searched for: a million noisy copies of
    # the searched items' own patches would put each of their words among tens of
    # thousands of near-duplicates, which no real collection does.
    seeds = np.concatenate(
        [
            item_features(decode_image(photo_bytes(photos[name]), gray=True).pixels)[0].descriptors
            for name in parts.dev_unregistered
        ]
    )
    uploads = []
    for i, name in enumerate(registered, 1):
        for family in FAMILIES:
            data = apply(family, name, photos[name], others)
            uploads.append((i, upload_features(decode_image(data, gray=True).pixels)))

    out = [f"Started: RSS {rss_mb():.0f} MB.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        if not (args.reuse and args.keep):
            # In a child process, so that this one's resident set holds the index alone.
            child = multiprocessing.get_context("spawn").Process(
                target=synthetic_snapshot, args=(directory, args.size, seeds, vocabulary)
            )
            child.start()
            child.join()
            if child.exitcode != 0:
                raise SystemExit(f"writing the snapshot failed: exit code {child.exitcode}")
        written = time.perf_counter() - t0
        before = rss_mb()
        big = LocalIndex(vocabulary)
        t0 = time.perf_counter()
        big.load(directory, {"entries": args.size})
        loaded = time.perf_counter() - t0
        after = rss_mb()
        for key, new in items.items():
            big.add(key, entry_from(new))
        small = LocalIndex(vocabulary)
        for key, new in items.items():
            small.add(key, entry_from(new))
        times: dict[str, list[float]] = {"small": [], "big": []}
        votes: dict[str, list[float]] = {"small": [], "big": []}
        found: dict[str, int] = {"small": 0, "big": 0}
        for _ in range(2):
            for own, (features, frame) in uploads:
                query = features.descriptors
                if features.mirrored is not None:
                    query = np.concatenate([query, features.mirrored])
                for name, index in (("small", small), ("big", big)):
                    t0 = time.perf_counter()
                    index.candidates(query, policy.local_candidates, len(features))
                    votes[name].append(1000 * (time.perf_counter() - t0))
                    t0 = time.perf_counter()
                    result = search_index(index, features, frame, policy)
                    times[name].append(1000 * (time.perf_counter() - t0))
                    found[name] += any(c.item_id == own for c in result)
        origin = (
            f"read from {directory} (written by an earlier run)"
            if args.reuse and args.keep
            else f"written in {written:.0f} s (in a child process)"
        )
        out += [
            f"{args.size:,} synthetic items of {ITEM_KEYPOINTS} keypoints {origin}, "
            f"loaded from the snapshot in {loaded:.1f} s; RSS {before:.0f} MB before loading, "
            f"{after:.0f} MB after (+{after - before:.0f} MB); after the searches RSS "
            f"{rss_mb():.0f} MB, of which its own memory (RssAnon) {rss_mb('RssAnon'):.0f} MB "
            f"and pages of mapped files (RssFile) {rss_mb('RssFile'):.0f} MB. The index's "
            f"arrays in memory {big.memory_bytes() / 2**20:.0f} MB, memory-mapped from the "
            f"snapshot {big.mapped_bytes() / 2**20:.0f} MB.",
            "",
            f"{len(uploads)} uploads ({', '.join(FAMILIES)} of {len(registered)} dev photos), "
            "each searched twice, one thread:",
            "",
            "| index | items | vote p50 ms | p90 ms | search p50 ms | p90 ms | own item found |",
            "|---|---|---|---|---|---|---|",
        ]
        for label, name, count in (
            ("real items alone", "small", len(small)),
            ("with synthetic", "big", len(big)),
        ):
            out.append(
                f"| {label} | {count:,} | {q(votes[name], 50):.2f} | {q(votes[name], 90):.2f} | "
                f"{q(times[name], 50):.2f} | {q(times[name], 90):.2f} | "
                f"{found[name] // 2}/{len(uploads)} |"
            )
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
