"""The local-feature index at scale: memory, search time and whether real items are
still found among a million others.

N synthetic items (:data:`hashing.features.ITEM_KEYPOINTS` keypoints each) are
written straight into the snapshot format of :class:`index.local.LocalIndex`
(building a million items one ``add`` at a time would take the bench longer than
the service takes to load them) and loaded as a restarting server loads them. A
synthetic item's descriptors are real ones with noise: each is a keypoint
descriptor of a corpus photo with a fifth of its bits flipped at random, so the
words fill as unevenly as real pictures fill them. Positions and cells are random.

Then the corpus's dev-registered photos are added as real items, and each is
searched for with three hard edits (a crop keeping 55 %, a 2x2 collage, a phone
screenshot: :mod:`bench.families`) and the service's ``search_index`` (vote,
then verify the best candidates), timed on one thread, beside a search of the
same uploads in an index of the real items alone measured in the same run.
Memory is the process's resident set (``/proc/self/status``) before and after
loading, and the arrays' own size.

    .venv/bin/python -m bench.local_scale [--size 1000000] [--keep DIR]
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

from app.services.local_features import NewFeatures, entry_from
from app.settings import Settings
from bench.corpus import load_corpus, split
from bench.families import apply
from bench.generalization import photo_bytes
from hashing.decode import decode_image
from hashing.features import CELL_GRID, ITEM_KEYPOINTS, cells, item_features, upload_features
from index.local import LocalIndex
from index.vocabulary import Vocabulary
from matching.local import search_index

FAMILIES = ("crop_55", "collage_2x2", "phone_screenshot")
NOISE_BITS = 51
"""Bits flipped in each seed descriptor: a fifth of 256."""
KEY_BASE = 100_000_000
"""Synthetic items' keys start here, far from the real items' 1, 2, ..."""


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
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
    arrays: dict[str, npt.NDArray[np.generic]] = {
        "xy": rng.uniform(0, 420, (total, 2)).astype(np.float32),
        "descriptors": descriptors.view(np.uint64).reshape(total, 4),
        "words": words,
        "slot_of_keypoint": np.repeat(np.arange(size, dtype=np.int32), n),
        "start": np.arange(0, total, n, dtype=np.int64),
        "count": np.full(size, n, np.int32),
        "size": np.tile(np.array([[420, 315]], np.int32), (size, 1)),
        "signatures": rng.integers(0, 2**63, (size, cells_n), dtype=np.uint64),
        "flat": np.zeros((size, cells_n), np.uint8),
        "alive": np.ones(size, np.bool_),
        "keys": np.arange(KEY_BASE, KEY_BASE + size, dtype=np.int64),
    }
    order = np.argsort(words, kind="stable")
    starts = np.zeros(vocabulary.size + 1, np.int64)
    np.cumsum(np.bincount(words, minlength=vocabulary.size), out=starts[1:])
    holders = np.zeros(vocabulary.size, np.int64)
    item_words = np.unique(words.astype(np.int64) + np.repeat(np.arange(size) * vocabulary.size, n))
    np.add.at(holders, item_words % vocabulary.size, 1)
    for name, values in arrays.items():
        np.save(directory / f"{name}.npy", values)
    np.save(directory / "word_starts.npy", starts)
    np.save(directory / "postings.npy", order.astype(np.int32))
    np.save(directory / "holders.npy", holders)


def q(values: Sequence[float], p: float) -> float:
    return float(np.percentile(values, p)) if values else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.local_scale", description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the snapshot here and keep it")
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
    seeds = np.concatenate([f.features.descriptors for f in items.values()])
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
        found: dict[str, int] = {"small": 0, "big": 0}
        for _ in range(2):
            for own, (features, frame) in uploads:
                for name, index in (("small", small), ("big", big)):
                    t0 = time.perf_counter()
                    result = search_index(index, features, frame, policy)
                    times[name].append(1000 * (time.perf_counter() - t0))
                    found[name] += any(c.item_id == own for c in result)
        out += [
            f"{args.size:,} synthetic items of {ITEM_KEYPOINTS} keypoints "
            f"written in {written:.0f} s (in a child process), "
            f"loaded from the snapshot in {loaded:.1f} s; RSS {before:.0f} MB before loading, "
            f"{after:.0f} MB after (+{after - before:.0f} MB); the index's arrays "
            f"{big.memory_bytes() / 2**20:.0f} MB.",
            "",
            f"{len(uploads)} uploads ({', '.join(FAMILIES)} of {len(registered)} dev photos), "
            "each searched twice, one thread:",
            "",
            "| index | items | search p50 ms | p90 ms | own item found |",
            "|---|---|---|---|---|",
        ]
        for label, name, count in (
            ("real items alone", "small", len(small)),
            ("with synthetic", "big", len(big)),
        ):
            out.append(
                f"| {label} | {count:,} | {q(times[name], 50):.2f} | {q(times[name], 90):.2f} | "
                f"{found[name] // 2}/{len(uploads)} |"
            )
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
