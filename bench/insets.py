"""How well :func:`hashing.insets.insets` finds a picture set into another, how
often it proposes one in a photo that has none, and what it costs.

For each part of the corpus split (:mod:`testkit.corpus`): every photo of the
part as a 1-MP JPEG upload, checked for insets (each proposal there costs a
second local search); and every photo set into another photo of the part as
the picture-in-picture family draws it (:class:`testkit.families.PictureInPicture`:
a quarter to two fifths of the width, a corner, a margin, half of them with a
border), ``--draws`` times, found when the first proposal is within 3 pixels
(and the border's width) of where the picture was set. Where it was set is
read from the pixels (where the upload differs from the host alone), not from
the layout's arithmetic. Cost: the finder's time a frame beside the upload's
keypoints' (:func:`hashing.features.upload_features`) in the same run, and what
it adds to the search of each of the part's unregistered photos (with its
second search where it proposes an inset), the two alternated upload by upload.

    .venv/bin/python -m bench.insets [--draws 4]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import replace

import cv2
import numpy as np

from app.settings import Settings
from bench.generalization import Registry, photo_bytes
from hashing.features import upload_features
from hashing.insets import Box, insets
from hashing.pipeline import hash_image_bytes
from hashing.types import u8
from matching.still import image_query, search_still
from testkit.compositing import resized
from testkit.corpus import load_corpus, seeded, split
from testkit.edits import Pixels, jpeg
from testkit.scenes import PictureInPicture, picture_in_picture_pixels

MEGAPIXEL = (1155, 866)
ROUNDS = 5


def frame_of(data: bytes) -> np.ndarray:
    frame = hash_image_bytes(data, local=True).frame
    assert frame is not None
    return frame


def where_set(upload: Pixels, host: Pixels, width: int) -> Box:
    """The box of the pixels where ``upload`` differs from the host alone."""
    hh, hw = host.shape[:2]
    alone = resized(host, width, round(hh * width / hw))
    changed = np.abs(upload.astype(np.int16) - alone.astype(np.int16)).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    return Box(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def scaled(box: Box, sx: float, sy: float) -> Box:
    return Box(round(box.x0 * sx), round(box.y0 * sy), round(box.x1 * sx), round(box.y1 * sy))


def near(found: Box, expected: Box, slack: float) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(found, expected, strict=True))


def check_cost(
    photos: dict[str, Pixels], registered: Sequence[str], unregistered: Sequence[str]
) -> str:
    """What finding insets adds to checking an unregistered 1-MP JPEG: the
    still's search (:func:`matching.still.search_still`) with and without it,
    paired per upload and alternated, over an index of ``registered``."""
    registry = Registry()
    for i, photo in enumerate(registered):
        registry.register(i + 1, photo_bytes(photos[photo]))
    policy = Settings().match_policy()
    without = replace(policy, local_insets=0)
    queries = [
        image_query(
            hash_image_bytes(jpeg(resized(photos[n], *MEGAPIXEL)), local=True, layouts=False)
        )
        for n in unregistered
    ]
    times: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(ROUNDS):
        for i, query in enumerate(queries):
            for on in (True, False) if (round_ + i) % 2 else (False, True):
                started = time.perf_counter()
                search_still(registry.served, query, policy if on else without, registry.facts_of)
                times[on].append(time.perf_counter() - started)
    with_, without_ = (1000 * float(np.median(times[k])) for k in (True, False))
    added = np.subtract(times[True], times[False])
    median, mean = 1000 * float(np.median(added)), 1000 * float(np.mean(added))
    return (
        f"  checking {len(unregistered)} unregistered photos ({ROUNDS} rounds): still search p50"
        f" {with_:.2f} ms with insets, {without_:.2f} ms without (ratio {with_ / without_:.2f});"
        f" added per upload, median {median:.2f} ms, mean {mean:.2f} ms"
    )


def run_part(name: str, photos: dict[str, Pixels], names: Sequence[str], draws: int) -> list[str]:
    plain = [frame_of(jpeg(resized(photos[n], *MEGAPIXEL))) for n in names]
    proposing = [n for n, f in zip(names, plain, strict=True) if insets(f)]
    found = {True: 0, False: 0}
    tried = {True: 0, False: 0}
    frames = list(plain)
    for picture in names:
        for draw in range(draws):
            rng = seeded("insets", picture, str(draw))
            host = photos[str(rng.choice([n for n in names if n != picture]))]
            layout = PictureInPicture.draw(rng)
            upload = picture_in_picture_pixels(photos[picture], host, layout)
            frame = frame_of(layout.encoding.encode(upload))
            frames.append(frame)
            truth = where_set(upload, host, layout.host_width)
            h, w = upload.shape[:2]
            sx, sy = frame.shape[1] / w, frame.shape[0] / h
            bordered = layout.border > 0
            slack = 3 + layout.border * layout.host_width * sx
            proposal = insets(frame)
            tried[bordered] += 1
            found[bordered] += bool(proposal) and near(proposal[0], scaled(truth, sx, sy), slack)
    started = time.perf_counter()
    for frame in frames:
        insets(frame)
    finder = (time.perf_counter() - started) / len(frames)
    started = time.perf_counter()
    for frame in frames:
        upload_features(u8(frame))
    keypoints = (time.perf_counter() - started) / len(frames)
    return [
        f"{name}: {len(names)} photos; {len(proposing)} propose an inset of their own"
        f" ({', '.join(proposing) or 'none'})",
        f"  picture in picture found: no border {found[False]}/{tried[False]},"
        f" with a border {found[True]}/{tried[True]}",
        f"  cost a frame: finder {1000 * finder:.2f} ms, upload keypoints"
        f" {1000 * keypoints:.2f} ms (ratio {finder / keypoints:.2f})",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=4)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    photos = load_corpus()
    parts = split(sorted(photos))
    lines = run_part("dev", photos, [*parts.dev_registered, *parts.dev_unregistered], args.draws)
    lines.append(check_cost(photos, parts.dev_registered, parts.dev_unregistered))
    lines += run_part(
        "held-out", photos, [*parts.held_registered, *parts.held_unregistered], args.draws
    )
    lines.append(check_cost(photos, parts.held_registered, parts.held_unregistered))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
