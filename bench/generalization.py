"""Matching that generalizes: every edit family and every impostor, decided
three ways in one run, on the dev photos and on the held-out photos apart.

For each part of the corpus split (:mod:`testkit.corpus`), the part's registered
photos are registered in memory as ``POST /register`` stores them (global
hashes into a :class:`index.HashIndex`, and the item's local features and cells
for the local tier), and so is the registered side of every impostor pair
(:mod:`testkit.overlay_impostors`, made from the part's unregistered photos).
Then every edit family (:mod:`testkit.families`) is applied to every photo of the
part, registered or not, and every impostor upload is checked, decided by:

* **PDQ alone**: the reference PDQ of the decoded pixels, a match within 31
  bits of a registered photo's, no trimming, no rotations;
* **global**: the service's global hashes alone (``matching.still``), as before
  the local tier;
* **global + local**: the service with its local tier, as it checks when every
  item has keypoints (``matching.still.search_still``: the global hashes
  without the layout views, then, unless they settled it, the items the
  descriptor index proposes, verified).

A registered photo's edit counts when it is blocked *with its own item*; any
block of an unregistered photo's edit, or with another item, or of an impostor
upload, is a false block.

    .venv/bin/python -m bench.generalization [--part dev|held|both] [--draws N] [--family NAME]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product

import cv2
import numpy as np

import matching
from app.repository.features import entry_from, media_features
from app.repository.hashes import media_hashes
from app.services.index_store import new_index
from app.settings import Settings
from hashing.decode import decode_image
from hashing.hashers import pdq
from hashing.pipeline import hash_image_bytes
from hashing.types import HashValue
from index import HashIndex
from index.local import LocalIndex
from index.vocabulary import Vocabulary
from matching import Decision, ItemFacts, MatchPolicy
from matching.still import image_query, search, search_still
from testkit.corpus import load_corpus, split
from testkit.edits import Pixels
from testkit.families import FAMILIES, apply
from testkit.overlay_impostors import ImpostorPair, impostor_pairs, scene_pairs

BASELINE_PDQ = 31
SYSTEMS = ("pdq alone", "global", "global + local")


@dataclass(slots=True)
class Registry:
    """One part's registered items, in memory."""

    index: HashIndex = field(default_factory=new_index)
    """Global hashes as registered without the local tier (with the crop and
    rotation variants): the "global" system."""
    served: HashIndex = field(default_factory=new_index)
    """Global hashes as registered with it (no variants): the service's."""
    local: LocalIndex = field(default_factory=lambda: LocalIndex(Vocabulary.bundled()))
    pdq: dict[int, HashValue] = field(default_factory=dict)
    facts: dict[int, ItemFacts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.served.local = self.local

    def register(self, item: int, data: bytes) -> None:
        hashes = hash_image_bytes(data, variants=True)
        for new in media_hashes(hashes):
            self.index.add(new.value.signal.value, new.value.value, item)
        hashes = hash_image_bytes(data, local=True, item=True, layouts=False)
        for new in media_hashes(hashes):
            self.served.add(new.value.signal.value, new.value.value, item)
        for features in media_features(hashes):
            self.local.add(item, entry_from(features))
        self.pdq[item] = pdq(decode_image(data).pixels)[0]
        self.facts[item] = ItemFacts("other", hashes.quality, clip=False)

    def facts_of(self, items: Sequence[int]) -> dict[int, ItemFacts]:
        return {i: self.facts[i] for i in items if i in self.facts}


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: Decision
    item: int | None


def decide_three(data: bytes, registry: Registry, policy: MatchPolicy) -> dict[str, Outcome]:
    out: dict[str, Outcome] = {}
    own = pdq(decode_image(data).pixels)[0]
    near = [(own.distance(v), k) for k, v in registry.pdq.items()]
    d, k = min(near)
    out["pdq alone"] = (
        Outcome(Decision.BLOCK, k) if d <= BASELINE_PDQ else Outcome(Decision.ALLOW, None)
    )
    hashes = hash_image_bytes(data)
    found = search(registry.index, image_query(hashes), policy)
    verdict = matching.decide(found, registry.facts, policy)
    out["global"] = Outcome(
        verdict.decision, verdict.candidates[0].item_id if verdict.candidates else None
    )
    # As the service checks when every item has keypoints: no layout views.
    query = image_query(hash_image_bytes(data, local=True, layouts=False))
    found, facts = search_still(registry.served, query, policy, registry.facts_of)
    verdict = matching.decide(found, facts, policy)
    out["global + local"] = Outcome(
        verdict.decision, verdict.candidates[0].item_id if verdict.candidates else None
    )
    return out


@dataclass(slots=True)
class Tally:
    right: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    review: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    false: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    innocent_review: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    registered: int = 0
    uploads: int = 0


def run_part(
    name: str,
    photos: dict[str, Pixels],
    registered: Sequence[str],
    unregistered: Sequence[str],
    sources: Sequence[str],
    partners: Sequence[str],
    draws: int = 1,
    only: Sequence[str] = (),
) -> list[str]:
    """``unregistered`` photos are registered nowhere; ``sources`` make the
    impostor pairs (A registered under an overlay, B uploaded under the same),
    with ``partners`` as the collage impostors' shared tiles (photos this part
    neither registers nor uploads). Each family is applied ``draws`` times to
    each photo, its parameters drawn again each time; ``only`` names the
    families to apply (all when empty)."""
    policy = Settings().match_policy()
    registry = Registry()
    ids = {photo: i + 1 for i, photo in enumerate(registered)}
    for photo, item in ids.items():
        registry.register(item, photo_bytes(photos[photo]))
    pairs: list[ImpostorPair] = impostor_pairs(photos, sources, partners=partners)
    for i, pair in enumerate(pairs):
        registry.register(10_000 + i, pair.registered)
    hosts = [photos[p] for p in unregistered]
    falses: list[str] = []
    groups: dict[str, Tally] = defaultdict(Tally)
    families: dict[str, Tally] = defaultdict(Tally)
    started = time.perf_counter()
    for family, spec in FAMILIES.items():
        if only and family not in only:
            continue
        for photo, draw in product([*registered, *unregistered], range(draws)):
            others = [h for p, h in zip(unregistered, hosts, strict=True) if p != photo][:6]
            data = apply(family, photo, photos[photo], others, draw)
            outcomes = decide_three(data, registry, policy)
            for tally in (groups[spec.group], families[family]):
                tally.uploads += 1
                tally.registered += photo in ids
                for system, o in outcomes.items():
                    own = ids.get(photo)
                    if o.decision is Decision.BLOCK and own is not None and o.item == own:
                        tally.right[system] += 1
                    elif o.decision is Decision.BLOCK:
                        tally.false[system] += 1
                        if system == "global + local":
                            falses.append(
                                f"{family} of {photo} (draw {draw}): blocked with item {o.item}"
                            )
                    elif o.decision is Decision.REVIEW and own is not None:
                        tally.review[system] += 1
                    elif o.decision is Decision.REVIEW:
                        tally.innocent_review[system] += 1
    impostors: dict[str, Tally] = defaultdict(Tally)
    # Each scene pair is checked against its registered shot alone: the pairs
    # run both ways round, and the corpus holds one of the shots as a photo, so
    # in the shared registry each upload would find itself registered.
    scenes = [(pair, Registry()) for pair in scene_pairs()]
    for i, (pair, alone) in enumerate(scenes):
        alone.register(20_000 + i, pair.registered)
    for pair, against in [*((p, registry) for p in pairs), *scenes]:
        outcomes = decide_three(pair.upload, against, policy)
        tally = impostors[pair.kind]
        tally.uploads += 1
        for system, o in outcomes.items():
            if o.decision is Decision.BLOCK:
                tally.false[system] += 1
                if system == "global + local":
                    falses.append(f"impostor {pair.kind} {pair.upload_photo}: item {o.item}")
            elif o.decision is Decision.REVIEW:
                tally.review[system] += 1
    elapsed = time.perf_counter() - started
    lines = report(name, groups, families, impostors, len(registered), len(unregistered), elapsed)
    names = (
        {item: photo for photo, item in ids.items()}
        | {10_000 + i: f"{p.kind}:{p.registered_photo}" for i, p in enumerate(pairs)}
        | {20_000 + i: f"same_scene:{p.registered_photo}" for i, (p, _) in enumerate(scenes)}
    )
    return lines + [f"- false block: {f} ({names.get(int(f.split()[-1]), '?')})" for f in falses]


def photo_bytes(pixels: Pixels) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def pct(n: int, d: int) -> str:
    return f"{n}/{d} ({100 * n / d:.0f}%)" if d else "-"


def report(
    name: str,
    groups: dict[str, Tally],
    families: dict[str, Tally],
    impostors: dict[str, Tally],
    n_reg: int,
    n_unreg: int,
    elapsed: float,
) -> list[str]:
    lines = [
        f"### {name}: {n_reg} registered and {n_unreg} unregistered photos",
        "",
        "Blocked with the right item, of the registered photos' edits (reviews in brackets); "
        "false blocks of all edits (unregistered photos', or with another item).",
        "",
        "| family | " + " | ".join(SYSTEMS) + " | false blocks (pdq / global / local) |",
        "|---|" + "---|" * len(SYSTEMS) + "---|",
    ]
    total = Tally()
    for label, tally in [*sorted(groups.items()), *[("— " + f, t) for f, t in families.items()]]:
        cells_ = [f"{pct(tally.right[s], tally.registered)} [{tally.review[s]}]" for s in SYSTEMS]
        false = " / ".join(str(tally.false[s]) for s in SYSTEMS)
        lines.append(f"| {label} | " + " | ".join(cells_) + f" | {false} |")
        if not label.startswith("—"):
            total.registered += tally.registered
            total.uploads += tally.uploads
            for s in SYSTEMS:
                total.right[s] += tally.right[s]
                total.review[s] += tally.review[s]
                total.false[s] += tally.false[s]
                total.innocent_review[s] += tally.innocent_review[s]
    lines.append(
        "| **all** | "
        + " | ".join(f"**{pct(total.right[s], total.registered)}**" for s in SYSTEMS)
        + " | "
        + " / ".join(str(total.false[s]) for s in SYSTEMS)
        + " |"
    )
    innocent = total.uploads - total.registered
    lines += [
        "",
        f"Reviews of the {innocent} edits of unregistered photos: "
        + ", ".join(f"{s} {total.innocent_review[s]}" for s in SYSTEMS)
        + ".",
        "",
        "Impostors (must never block): blocks / reviews of the impostor uploads.",
        "",
        "| kind | uploads | " + " | ".join(SYSTEMS) + " |",
        "|---|---|" + "---|" * len(SYSTEMS),
    ]
    for kind, tally in sorted(impostors.items()):
        lines.append(
            f"| {kind} | {tally.uploads} | "
            + " | ".join(f"{tally.false[s]} / {tally.review[s]}" for s in SYSTEMS)
            + " |"
        )
    lines += ["", f"({elapsed:.0f} s)", ""]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generalization", description=__doc__)
    parser.add_argument("--part", choices=("dev", "held", "both"), default="both")
    parser.add_argument(
        "--draws",
        type=int,
        default=1,
        help="apply each family this many times to each photo, parameters drawn anew "
        "(the first draw is the published one)",
    )
    parser.add_argument(
        "--family",
        action="append",
        default=[],
        choices=sorted(FAMILIES),
        help="apply only this family (repeatable); the impostors are checked all the same",
    )
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    photos = load_corpus()
    parts = split(sorted(photos))
    # Every other unregistered photo of either part makes impostor pairs; the rest
    # stay registered nowhere (innocent uploads, collage partners, hosts).
    sources = sorted([*parts.dev_unregistered, *parts.held_unregistered])[0::2]

    def innocent(names: Sequence[str]) -> list[str]:
        return [n for n in names if n not in sources]

    dev, held = innocent(parts.dev_unregistered), innocent(parts.held_unregistered)
    lines: list[str] = []
    if args.part in ("dev", "both"):
        lines += run_part(
            "dev", photos, parts.dev_registered, dev, sources, held, args.draws, args.family
        )
    if args.part in ("held", "both"):
        lines += run_part(
            "held-out", photos, parts.held_registered, held, sources, dev, args.draws, args.family
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
