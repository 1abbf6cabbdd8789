"""The other way round: an item registered as it circulated (a screenshot, a meme,
a reframe, a collage) and the bare photo uploaded.

Non-consensual images are often reported as the copy that was found, inside an
app's frame or under a caption, and later come back bare. For each registered
photo of each part of the corpus split (:mod:`testkit.corpus`) and each family
below, the photo's edit (:mod:`testkit.families`) is registered alone, in memory,
and the photo itself (PNG) is checked against it, decided three ways as
:mod:`bench.generalization` does: PDQ alone, the global hashes, global + local.

    .venv/bin/python -m bench.registered_edits [--part dev|held|both]
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence

import cv2
import numpy as np

from app.settings import Settings
from bench.generalization import SYSTEMS, Registry, decide_three, photo_bytes
from matching import Decision
from testkit.corpus import load_corpus, split
from testkit.edits import Pixels
from testkit.families import apply

FAMILIES = (
    "phone_screenshot",
    "browser_screenshot",
    "meme_text",
    "caption_banner",
    "reframe_9x16",
    "collage_2x2",
    "stickers",
)


def run_part(
    name: str, photos: dict[str, Pixels], registered: Sequence[str], hosts: Sequence[str]
) -> list[str]:
    policy = Settings().match_policy()
    others = [photos[h] for h in hosts][:6]
    blocked: Counter[tuple[str, str]] = Counter()
    reviewed: Counter[tuple[str, str]] = Counter()
    for family in FAMILIES:
        for photo in registered:
            registry = Registry()
            registry.register(1, apply(family, photo, photos[photo], others))
            outcomes = decide_three(photo_bytes(photos[photo]), registry, policy)
            for system, outcome in outcomes.items():
                if outcome.decision is Decision.BLOCK:
                    blocked[family, system] += 1
                elif outcome.decision is Decision.REVIEW:
                    reviewed[family, system] += 1
    n = len(registered)
    lines = [
        f"### {name}: {n} photos, each registered as the edit, checked bare",
        "",
        "Blocked (reviews in brackets).",
        "",
        "| registered as | " + " | ".join(SYSTEMS) + " |",
        "|---|" + "---|" * len(SYSTEMS),
    ]
    for family in FAMILIES:
        cells = [f"{blocked[family, s]}/{n} [{reviewed[family, s]}]" for s in SYSTEMS]
        lines.append(f"| {family} | " + " | ".join(cells) + " |")
    total = n * len(FAMILIES)
    lines.append(
        "| **all** | "
        + " | ".join(f"**{sum(blocked[f, s] for f in FAMILIES)}/{total}**" for s in SYSTEMS)
        + " |"
    )
    return [*lines, ""]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.registered_edits", description=__doc__)
    parser.add_argument("--part", choices=("dev", "held", "both"), default="both")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    photos = load_corpus()
    parts = split(sorted(photos))
    lines: list[str] = []
    if args.part in ("dev", "both"):
        lines += run_part("dev", photos, parts.dev_registered, parts.dev_unregistered)
    if args.part in ("held", "both"):
        lines += run_part("held-out", photos, parts.held_registered, parts.held_unregistered)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
