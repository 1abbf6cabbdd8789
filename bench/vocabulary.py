"""Train the visual vocabulary shipped in ``index/data/orb-vocabulary.npz``.

Descriptors are gathered as the service makes them: an item's keypoints
(:func:`hashing.features.item_features`) of every dev photo, registered or not,
and an upload's (:func:`hashing.features.upload_features`, mirrored ones too)
of every edit family applied to each. The held-out photos are never looked at,
so the matching benchmark's held-out results are not flattered by a
vocabulary that has seen them. App chrome, captions and stickers are among the
edits, so their corners get words of their own (which many items share, and
the index then weighs little).

    .venv/bin/python -m bench.vocabulary [--coarse 256] [--fanout 256]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from hashing.features import item_features, upload_features
from hashing.types import u8
from index.vocabulary import BUNDLED, train
from testkit.corpus import load_corpus, split
from testkit.families import FAMILIES, apply


def luma(data: bytes) -> npt.NDArray[np.uint8]:
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert pixels is not None, "every family's output decodes (tests/bench)"
    return u8(pixels)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.vocabulary", description=__doc__)
    parser.add_argument("--coarse", type=int, default=256)
    parser.add_argument("--fanout", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    started = time.perf_counter()
    photos = load_corpus()
    parts = split(sorted(photos))
    dev = [*parts.dev_registered, *parts.dev_unregistered]
    hosts = [photos[name] for name in parts.dev_unregistered]
    chunks: list[npt.NDArray[np.uint8]] = []
    for name in dev:
        gray = u8(cv2.cvtColor(photos[name], cv2.COLOR_RGB2GRAY))
        chunks.append(item_features(gray)[0].descriptors)
        for family in FAMILIES:
            features, _ = upload_features(luma(apply(family, name, photos[name], hosts[:6])))
            chunks.append(features.descriptors)
            if features.mirrored is not None:
                chunks.append(features.mirrored)
    descriptors = np.concatenate(chunks)
    gathered = time.perf_counter() - started
    vocabulary = train(descriptors, args.coarse, args.fanout, iterations=args.iterations)
    BUNDLED.parent.mkdir(parents=True, exist_ok=True)
    vocabulary.save(BUNDLED)
    used = int(vocabulary.fine_counts.sum())
    print(
        f"{len(descriptors):,} descriptors from {len(dev)} dev photos and {len(FAMILIES)} "
        f"edit families ({gathered:.0f} s); {len(vocabulary.coarse)} x {args.fanout} "
        f"vocabulary, {used:,} words in use, trained in "
        f"{time.perf_counter() - started - gathered:.0f} s; written to {BUNDLED}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
