"""How close do unrelated or merely similar photos come? The false-match side of
the thresholds.

Every photo in a folder is hashed as a check would hash it (every view, all
eight orientations) and compared with every other photo as registered (every
view, original orientation). Prints the closest pairs by PDQ and by pHash, so a
folder of different shots of one scene (burst photos, a series of the same
room) shows where the realistic impostors start.

    .venv/bin/python -m bench.impostors FOLDER [--top 15]
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from pathlib import Path

from hashing.decode import DecodeError
from hashing.pipeline import ImageHashes, hash_image_bytes
from hashing.transforms import Transform
from hashing.types import HashValue

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def closest(query: ImageHashes, item: ImageHashes, signal: str) -> int:
    """The smallest distance a check of ``query`` finds to registered ``item``
    (its views' original orientation and, for PDQ, its crop and rotation variants)."""
    stored: list[HashValue] = [getattr(r, signal)[Transform.ORIGINAL] for r in item.views]
    if signal == "pdq":
        stored += [value for _, value in item.variants]
    asked: list[HashValue] = [getattr(q, signal)[t] for q in query.views for t in Transform]
    return min(a.distance(b) for a in asked for b in stored)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.impostors", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--top", type=int, default=15, help="closest pairs to print")
    args = parser.parse_args(argv)
    hashes: dict[str, ImageHashes] = {}
    for path in sorted(args.folder.iterdir()):
        if path.suffix.lower() in SUFFIXES:
            try:
                hashes[path.name] = hash_image_bytes(path.read_bytes(), variants=True)
            except DecodeError as exc:
                print(f"skipped {path.name}: {exc.code}")
    pairs = []
    for a, b in itertools.combinations(sorted(hashes), 2):
        pdq = min(closest(hashes[a], hashes[b], "pdq"), closest(hashes[b], hashes[a], "pdq"))
        phash = min(closest(hashes[a], hashes[b], "phash"), closest(hashes[b], hashes[a], "phash"))
        pairs.append((pdq, phash, a, b))
    print(f"{len(hashes)} photos, {len(pairs)} pairs from {args.folder}")
    for key, name in ((0, "PDQ (of 256)"), (1, "pHash (of 64)")):
        print(f"\nClosest pairs by {name}:\n\n| pdq | phash | photo | photo |\n|---|---|---|---|")
        for pdq, phash, a, b in sorted(pairs, key=lambda p: p[key])[: args.top]:
            print(f"| {pdq} | {phash} | {a} | {b} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
