"""Matching quality of the global hashes: what Hashwall decides for 30 re-upload
edits of real photos with its global tier alone, as a deployment with the local
tier off (``HASHWALL_LOCAL_FEATURES=false``, or a category in
``LOCAL_FEATURES_OFF``) registers and checks. ``bench.generalization`` measures
the service with both tiers.

Every other photo of a folder (sorted by name) is registered into an in-memory
index as ``POST /register`` stores it without local features: the SHA-256 of the
file, the crop and rotation variants, and the ``original``
orientation of every PDQ and pHash the service hashes (the entries of
``image_query`` whose transform is ``original``: one PDQ and one pHash per view of
the image), with the photo's PDQ quality. Every edit in :data:`testkit.edits.EDITS`
is then applied to every photo, registered or not, and decided by the service's
own logic (``matching.still.image_query`` -> ``search`` -> ``matching.decide``).

Two baselines run on the same edited bytes in the same run:

* **PDQ alone**: the reference PDQ (``hashing.hashers.pdq``) of the pixels
  ``hashing.decode.decode_image`` returns, no border trim, no rotations; a match
  is a distance <= 31 bits (of 256) to a registered photo's hash made the same way.
* **pHash alone**: ``imagehash.phash`` of the whole PIL image, no rotations; a
  match is a distance <= 8 bits (of 64).

Then the distance distributions behind the thresholds, and a recommendation.

    .venv/bin/python -m bench.robustness [PHOTO_DIR] [--pdq-block-distance N ...]
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import faiss
import imagehash
import numpy as np
import numpy.typing as npt
from PIL import Image

import matching
from app.repository.hashes import media_hashes
from app.services.index_store import new_index
from app.settings import Settings
from hashing.decode import decode_image
from hashing.hashers import pdq
from hashing.pipeline import ImageHashes, hash_image_bytes
from hashing.types import HashValue, Signal
from index import HashIndex
from matching import Candidate, Decision, Evidence, ItemFacts
from matching.still import image_query, search
from testkit.edits import EDITS, Pixels, load_rgb

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "corpus-dev"
SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")

BASELINE_PDQ_DISTANCE = 31
"""PDQ's published starting point: <= 31 of 256 bits is a match."""
BASELINE_PHASH_DISTANCE = 8
"""A common imagehash pHash cut-off: <= 8 of 64 bits."""

# Edits the target names: Hashwall must beat PDQ alone on these.
TARGET_GROUPS: dict[str, tuple[str, ...]] = {
    "flips": ("mirror",),
    "rotations by 90 degrees": ("rotate_90", "rotate_180"),
    "padding": (
        "pad_10_black",
        "pad_20_black",
        "pad_10_white",
        "pad_20_white",
        "pad_20_colour",
        "letterbox",
    ),
}

Bits = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Photo:
    name: str
    item: int | None
    """The item id it is registered as; None for the unregistered half."""


@dataclass(frozen=True, slots=True)
class Registered:
    hashes: ImageHashes
    stored: list[HashValue]
    """What the index holds for the item."""
    pdq_full: HashValue
    phash_full: HashValue

    def stored_of(self, signal: Signal) -> list[HashValue]:
        return [v for v in self.stored if v.signal is signal]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one edited upload got from Hashwall and the two baselines."""

    decision: Decision
    evidence: Evidence | None
    """Signal of the best candidate, when there is one."""
    right_block: bool
    wrong_block: bool
    pdq_own: int | None
    """Hashwall's PDQ distance to the photo's own item, best over every hash searched."""
    pdq_impostor: int
    """Hashwall's PDQ distance to the closest other item, best over every hash searched."""
    phash_own: int | None
    phash_impostor: int
    base_pdq_right: bool
    base_pdq_wrong: bool
    base_phash_right: bool
    base_phash_wrong: bool


@dataclass(slots=True)
class EditRows:
    registered: list[Outcome] = field(default_factory=list)
    unregistered: list[Outcome] = field(default_factory=list)


@dataclass(slots=True)
class Pairs:
    """Histogram of every impostor distance: each hash a check searches (every
    orientation of every view) against each hash of every item that is not the
    upload's own photo, and how many such hashes there were."""

    pdq: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(257, dtype=np.int64))
    phash: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(65, dtype=np.int64))
    queries: dict[Signal, list[int]] = field(
        default_factory=lambda: {Signal.PDQ: [], Signal.PHASH: []}
    )
    """Hashes searched per check, by signal."""
    codes_per_item: dict[Signal, float] = field(default_factory=dict)
    """Hashes the index holds per registered item, by signal."""

    def per_item(self, signal: Signal) -> float:
        """Hash pairs compared per check and registered item."""
        return float(np.mean(self.queries[signal])) * self.codes_per_item[signal]


def list_photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)


def phash_full(data: bytes) -> HashValue:
    with Image.open(io.BytesIO(data)) as im:
        value = imagehash.phash(im)
    return HashValue(Signal.PHASH, np.packbits(value.hash.flatten()).tobytes())


def pdq_full(data: bytes) -> HashValue:
    return pdq(decode_image(data).pixels)[0]


def searched(hashes: ImageHashes, signal: Signal) -> list[HashValue]:
    """The hashes of ``signal`` a check of these hashes searches."""
    return [h.value for h in image_query(hashes).hashes if h.value.signal is signal]


def stored(hashes: ImageHashes) -> list[HashValue]:
    """What ``POST /register`` stores for media without local features
    (``app.repository.hashes.media_hashes``)."""
    out: list[HashValue] = []
    for new in media_hashes(hashes):
        if new.value not in out:
            out.append(new.value)
    return out


def register(index: HashIndex, item: int, values: Sequence[HashValue]) -> None:
    """What ``register_item`` puts in the index: each distinct hash, owned by the item."""
    for value in values:
        index.add(value.signal.value, value.value, item)


def decide(
    index: HashIndex, hashes: ImageHashes, quality: dict[int, int | None], settings: Settings
) -> tuple[Decision, list[Candidate]]:
    """What ``app.services.checking.check_upload`` decides with the global tier alone,
    without the database: every registered item (``quality``) is active."""
    policy = settings.match_policy()
    facts = {item: ItemFacts("other", q, clip=False) for item, q in quality.items()}
    verdict = matching.decide(search(index, image_query(hashes), policy), facts, policy)
    return verdict.decision, verdict.candidates


def unpack(values: Sequence[HashValue]) -> Bits:
    raw = np.frombuffer(b"".join(v.value for v in values), dtype=np.uint8)
    return np.unpackbits(raw.reshape(len(values), -1), axis=1)


class Gallery:
    """Registered hashes of one signal (any number per item) as a bit matrix."""

    def __init__(self, items: dict[int, list[HashValue]]) -> None:
        self.owners = np.asarray([k for k, values in items.items() for _ in values])
        self.bits = unpack([v for values in items.values() for v in values])

    @property
    def codes_per_item(self) -> float:
        return len(self.owners) / len(set(self.owners.tolist()))

    def distances(self, queries: Sequence[HashValue]) -> npt.NDArray[np.int64]:
        """(queries, stored codes) Hamming distances."""
        q = unpack(queries)
        diff: npt.NDArray[np.int64] = (q[:, None, :] != self.bits[None, :, :]).sum(
            axis=2, dtype=np.int64
        )
        return diff

    def split(
        self, queries: Sequence[HashValue], own: int | None, histogram: npt.NDArray[np.int64]
    ) -> tuple[int | None, int]:
        """(best distance to ``own``, best distance to any other item); adds every
        distance to another item's codes to ``histogram``."""
        d = self.distances(queries)
        mine = self.owners == own
        others = d[:, ~mine]
        histogram += np.bincount(others.ravel(), minlength=histogram.size)
        own_d = int(d[:, mine].min()) if mine.any() else None
        return own_d, int(others.min())

    def hits(self, query: HashValue, limit: int) -> set[int]:
        d = self.distances([query])[0]
        return {int(k) for k in self.owners[d <= limit]}


def evaluate(
    photos: list[Photo],
    pixels: dict[str, Pixels],
    registered: dict[int, Registered],
    index: HashIndex,
    settings: Settings,
    edits: Sequence[str],
    base_pdq: int,
    base_phash: int,
) -> tuple[dict[str, EditRows], Pairs]:
    quality: dict[int, int | None] = {k: r.hashes.quality for k, r in registered.items()}
    own_pdq = Gallery({k: r.stored_of(Signal.PDQ) for k, r in registered.items()})
    own_phash = Gallery({k: r.stored_of(Signal.PHASH) for k, r in registered.items()})
    full_pdq = Gallery({k: [r.pdq_full] for k, r in registered.items()})
    full_phash = Gallery({k: [r.phash_full] for k, r in registered.items()})
    rows = {name: EditRows() for name in edits}
    pairs = Pairs()
    pairs.codes_per_item = {
        Signal.PDQ: own_pdq.codes_per_item,
        Signal.PHASH: own_phash.codes_per_item,
    }
    for photo in photos:
        rgb = pixels[photo.name]
        for name in edits:
            data = EDITS[name](rgb)
            hashes = hash_image_bytes(data)
            decision, candidates = decide(index, hashes, quality, settings)
            blockers = {c.item_id for c in candidates if c.decision is Decision.BLOCK}
            pdq_q = searched(hashes, Signal.PDQ)
            ph_q = searched(hashes, Signal.PHASH)
            pairs.queries[Signal.PDQ].append(len(pdq_q))
            pairs.queries[Signal.PHASH].append(len(ph_q))
            pdq_own, pdq_imp = own_pdq.split(pdq_q, photo.item, pairs.pdq)
            ph_own, ph_imp = own_phash.split(ph_q, photo.item, pairs.phash)
            pdq_hits = full_pdq.hits(pdq_full(data), base_pdq)
            ph_hits = full_phash.hits(phash_full(data), base_phash)
            outcome = Outcome(
                decision=decision,
                evidence=candidates[0].signal if candidates else None,
                right_block=photo.item in blockers,
                wrong_block=bool(blockers - {photo.item}),
                pdq_own=pdq_own,
                pdq_impostor=pdq_imp,
                phash_own=ph_own,
                phash_impostor=ph_imp,
                base_pdq_right=photo.item in pdq_hits,
                base_pdq_wrong=bool(pdq_hits - {photo.item}),
                base_phash_right=photo.item in ph_hits,
                base_phash_wrong=bool(ph_hits - {photo.item}),
            )
            if photo.item is None:
                rows[name].unregistered.append(outcome)
            else:
                rows[name].registered.append(outcome)
    return rows, pairs


def pct(count: int, total: int) -> str:
    return f"{100 * count / total:.0f}%" if total else "-"


def frac(count: int, total: int) -> str:
    return f"{count}/{total}"


Test = Callable[[Outcome], bool]


def false_blocks(rows: EditRows, right: Test, wrong: Test) -> int:
    """Unregistered uploads blocked at all, plus registered ones blocked with a wrong item."""
    unreg = sum(1 for o in rows.unregistered if right(o) or wrong(o))
    return unreg + sum(1 for o in rows.registered if wrong(o))


def merged(rows: dict[str, EditRows]) -> EditRows:
    total = EditRows()
    for r in rows.values():
        total.registered += r.registered
        total.unregistered += r.unregistered
    return total


def quality_table(
    rows: dict[str, EditRows], n_reg: int, n_unreg: int, base_pdq: int, base_phash: int
) -> list[str]:
    lines = [
        f"Each edit is applied to the {n_reg} registered and the {n_unreg} unregistered "
        f"photos. Block and review count the registered photos' edits (of {n_reg}); false "
        f"blocks count unregistered photos' edits blocked plus registered photos' edits "
        f"blocked with a wrong item (of {n_reg + n_unreg}).",
        "",
        "| edit | Hashwall block (right item) | Hashwall review | Hashwall false blocks "
        f"| Hashwall: unregistered sent to review | PDQ alone (<= {base_pdq}) block "
        f"| PDQ alone false blocks | pHash alone (<= {base_phash}) block "
        "| pHash alone false blocks |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    total = merged(rows)
    for name, r in [*rows.items(), ("**all edits**", total)]:
        nr, nu = len(r.registered), len(r.unregistered)
        block = sum(o.right_block for o in r.registered)
        review = sum(o.decision is Decision.REVIEW for o in r.registered)
        unreg_review = sum(o.decision is Decision.REVIEW for o in r.unregistered)
        b_pdq = sum(o.base_pdq_right for o in r.registered)
        b_ph = sum(o.base_phash_right for o in r.registered)
        cells = [
            name,
            frac(block, nr),
            frac(review, nr),
            frac(false_blocks(r, lambda o: o.right_block, lambda o: o.wrong_block), nr + nu),
            frac(unreg_review, nu),
            frac(b_pdq, nr),
            frac(false_blocks(r, lambda o: o.base_pdq_right, lambda o: o.base_pdq_wrong), nr + nu),
            frac(b_ph, nr),
            frac(
                false_blocks(r, lambda o: o.base_phash_right, lambda o: o.base_phash_wrong),
                nr + nu,
            ),
        ]
        if r is total:
            for i, count in ((1, block), (2, review), (5, b_pdq), (7, b_ph)):
                cells[i] = f"**{cells[i]} ({pct(count, nr)})**"
        lines.append("| " + " | ".join(cells) + " |")
    evidence = {
        (d, s): sum(1 for o in total.registered if o.decision is d and o.evidence is s)
        for d in (Decision.BLOCK, Decision.REVIEW)
        for s in Evidence
    }
    lines += [
        "",
        "Hashwall's best evidence for the registered photos' edits: "
        + ", ".join(f"{d} by {s}: {n}" for (d, s), n in evidence.items() if n),
    ]
    return lines


def target_table(rows: dict[str, EditRows]) -> list[str]:
    lines = [
        "| target edits | Hashwall block | PDQ alone block | beats PDQ alone? |",
        "|---|---|---|---|",
    ]
    for group, names in TARGET_GROUPS.items():
        present = [rows[n] for n in names if n in rows]
        if not present:
            continue
        outs = [o for r in present for o in r.registered]
        hw = sum(o.right_block for o in outs)
        base = sum(o.base_pdq_right for o in outs)
        verdict = "yes" if hw > base else "no"
        lines.append(
            f"| {group} ({', '.join(n for n in names if n in rows)}) | {frac(hw, len(outs))} "
            f"| {frac(base, len(outs))} | {verdict} |"
        )
    worse = [
        f"{name} ({sum(o.right_block for o in r.registered)} vs "
        f"{sum(o.base_pdq_right for o in r.registered)})"
        for name, r in rows.items()
        if sum(o.right_block for o in r.registered) < sum(o.base_pdq_right for o in r.registered)
    ]
    lines += [
        "",
        "Edits where Hashwall blocks fewer than PDQ alone: " + (", ".join(worse) or "none"),
    ]
    return lines


def q(values: Sequence[int], p: float) -> int:
    """Nearest-rank percentile of integer distances."""
    return int(np.percentile(np.asarray(values), p, method="inverted_cdf"))


def distance_table(rows: dict[str, EditRows]) -> list[str]:
    lines = [
        "Distance of each registered photo's edit to its own item (best over every hash "
        "Hashwall searches: 8 orientations of each view) and the closest impostor: the "
        "smallest distance "
        "of any unregistered photo's edit to any registered item. Nearest-rank percentiles.",
        "",
        "| edit | PDQ own p50 | p90 | p95 | max | PDQ closest impostor "
        "| pHash own p50 | p90 | p95 | max | pHash closest impostor |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        pdq_own = [o.pdq_own for o in r.registered if o.pdq_own is not None]
        ph_own = [o.phash_own for o in r.registered if o.phash_own is not None]
        cells = [name]
        cells += [str(q(pdq_own, p)) for p in (50, 90, 95, 100)]
        cells.append(str(min(o.pdq_impostor for o in r.unregistered)))
        cells += [str(q(ph_own, p)) for p in (50, 90, 95, 100)]
        cells.append(str(min(o.phash_impostor for o in r.unregistered)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


@dataclass(frozen=True, slots=True)
class Tail:
    n: int
    minimum: int
    p1: int
    p5: int
    p50: int


def tail(values: Sequence[int]) -> Tail:
    return Tail(len(values), min(values), q(values, 1), q(values, 5), q(values, 50))


def impostor_table(rows: dict[str, EditRows]) -> tuple[list[str], dict[Signal, list[int]]]:
    """Closest-impostor tails per signal; returns the lines and every closest impostor."""
    total = merged(rows)
    sets = {
        (Signal.PDQ, "unregistered photos' edits vs any item"): [
            o.pdq_impostor for o in total.unregistered
        ],
        (Signal.PDQ, "registered photos' edits vs the other items"): [
            o.pdq_impostor for o in total.registered
        ],
        (Signal.PHASH, "unregistered photos' edits vs any item"): [
            o.phash_impostor for o in total.unregistered
        ],
        (Signal.PHASH, "registered photos' edits vs the other items"): [
            o.phash_impostor for o in total.registered
        ],
    }
    lines = [
        "Closest impostor of each edited upload (best over every hash a check searches and "
        "every item "
        "that is not the photo's own):",
        "",
        "| signal | impostor set | n | min | p1 | p5 | p50 |",
        "|---|---|---|---|---|---|---|",
    ]
    merged_sets: dict[Signal, list[int]] = {Signal.PDQ: [], Signal.PHASH: []}
    for (signal, label), values in sets.items():
        t = tail(values)
        lines.append(
            f"| {signal} ({signal.bits} bits) | {label} | {t.n} | {t.minimum} | {t.p1} "
            f"| {t.p5} | {t.p50} |"
        )
        merged_sets[signal] += values
    return lines, merged_sets


@dataclass(frozen=True, slots=True)
class Model:
    """A normal fit to every impostor pair distance, to extrapolate to a large index."""

    n: int
    mean: float
    std: float

    @classmethod
    def fit(cls, histogram: npt.NDArray[np.int64]) -> Model:
        d = np.arange(histogram.size)
        n = int(histogram.sum())
        mean = float((histogram * d).sum() / n)
        std = float(math.sqrt((histogram * (d - mean) ** 2).sum() / n))
        return cls(n, mean, std)

    def cdf(self, distance: int) -> float:
        """P(pair distance <= ``distance``), continuity-corrected."""
        return 0.5 * math.erfc(-(distance + 0.5 - self.mean) / (self.std * math.sqrt(2)))

    def hits_per_check(self, distance: int, items: int, per_item: float) -> float:
        """Expected impostor pairs within ``distance`` in one check against ``items``
        items, ``per_item`` hash pairs compared per item."""
        return per_item * items * self.cdf(distance)


def empirical_quantile(histogram: npt.NDArray[np.int64], share: float) -> int:
    cumulative = np.cumsum(histogram)
    return int(np.searchsorted(cumulative, share * cumulative[-1]))


def inverse_cdf(model: Model, share: float) -> float:
    lo, hi = -1000.0, 1000.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(-(mid - model.mean) / (model.std * math.sqrt(2))) < share:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True, slots=True)
class Choice:
    block: int
    review: int
    lines: list[str]


def recommend(
    signal: Signal,
    own: Sequence[int],
    closest: Sequence[int],
    histogram: npt.NDArray[np.int64],
    *,
    items: int,
    per_item: float,
    block_risk: float,
    review_risk: float,
    show: Sequence[int],
) -> Choice:
    """Block and review distances from the observed distributions.

    A distance is allowed for blocking when no impostor of the corpus is at or
    below it and the normal model of impostor pairs expects at most ``block_risk``
    impostors within it per check against ``items`` registered items; likewise
    for review with ``review_risk``. Of the allowed distances the one chosen is
    the smallest that blocks (reviews) as many own-item edits as the largest.
    """
    model = Model.fit(histogram)
    first = min(closest)
    top = signal.bits

    def allowed(d: int, risk: float) -> bool:
        return d < first and model.hits_per_check(d, items, per_item) <= risk

    def covered(d: int) -> int:
        return sum(x <= d for x in own)

    def pick(risk: float) -> int:
        ok = [d for d in range(top + 1) if allowed(d, risk)]
        if not ok:
            return -1
        best = covered(ok[-1])
        return min(d for d in ok if covered(d) == best)

    block = pick(block_risk)
    review = max(block, pick(review_risk))
    block_text = f"block <= {block}" if block >= 0 else "no distance is safe to block on"
    lines = [
        f"Impostor pairs (every hash a check searches vs every hash of every other item; "
        f"{per_item:.1f} pairs per check and item): "
        f"n={model.n}, mean {model.mean:.1f}, sd {model.std:.2f} bits; "
        f"empirical vs normal quantiles: "
        + ", ".join(
            f"q{share:g} {empirical_quantile(histogram, share)} vs {inverse_cdf(model, share):.1f}"
            for share in (1e-2, 1e-3, 1e-4)
        ),
        "",
        f"| {signal} distance <= | own-item edits within (of {len(own)}) "
        f"| corpus closest impostors within (of {len(closest)}) "
        f"| model: impostors per check at {items:,} items |",
        "|---|---|---|---|",
    ]
    for d in sorted({*show, block, review} - {-1}):
        lines.append(
            f"| {d} | {covered(d)} ({pct(covered(d), len(own))}) "
            f"| {sum(x <= d for x in closest)} | {model.hits_per_check(d, items, per_item):.1e} |"
        )
    lines += [
        "",
        f"Corpus impostors start at {first} bits; the model allows blocking up to the "
        f"last distance with <= {block_risk:g} expected impostors per check and review up to "
        f"<= {review_risk:g}. Chosen: {block_text} ({covered(block)}/{len(own)} own-item "
        f"edits), review <= {review} ({covered(review)} own-item edits within, "
        f"{covered(review) - covered(block)} of them beyond the block distance).",
    ]
    return Choice(block, review, lines)


def project(
    outcomes: Sequence[Outcome],
    pdq_block: int,
    pdq_review: int,
    ph_block: int | None,
    ph_review: int,
) -> tuple[int, int]:
    """(blocks, reviews) the thresholds would give the registered photos' edits, from
    the own-item distances alone (quality demotion ignored)."""
    blocks = reviews = 0
    for o in outcomes:
        pdq_d = o.pdq_own if o.pdq_own is not None else 1 << 30
        ph_d = o.phash_own if o.phash_own is not None else 1 << 30
        if pdq_d <= pdq_block or (ph_block is not None and ph_d <= ph_block):
            blocks += 1
        elif pdq_d <= pdq_review or ph_d <= ph_review:
            reviews += 1
    return blocks, reviews


def main(argv: Sequence[str] | None = None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m bench.robustness",
        description="Matching quality of Hashwall vs PDQ alone and pHash alone on real photos.",
    )
    parser.add_argument(
        "photos",
        nargs="?",
        type=Path,
        default=DEFAULT_PHOTOS,
        help="folder of photos (default: ../shared/corpus-dev beside the repository)",
    )
    parser.add_argument("--pdq-block-distance", type=int, default=defaults.pdq_block_distance)
    parser.add_argument("--pdq-review-distance", type=int, default=defaults.pdq_review_distance)
    parser.add_argument(
        "--phash-block-distance",
        type=int,
        default=defaults.phash_block_distance,
        help="default: none, a pHash match alone never blocks",
    )
    parser.add_argument("--phash-review-distance", type=int, default=defaults.phash_review_distance)
    parser.add_argument(
        "--pdq-corroborated-distance", type=int, default=defaults.pdq_corroborated_distance
    )
    parser.add_argument(
        "--phash-corroboration-distance", type=int, default=defaults.phash_corroboration_distance
    )
    parser.add_argument("--pdq-min-quality", type=int, default=defaults.pdq_min_quality)
    parser.add_argument(
        "--baseline-pdq-distance",
        type=int,
        default=BASELINE_PDQ_DISTANCE,
        help="match threshold of the PDQ-alone baseline (default: 31 of 256 bits)",
    )
    parser.add_argument(
        "--baseline-phash-distance",
        type=int,
        default=BASELINE_PHASH_DISTANCE,
        help="match threshold of the pHash-alone baseline (default: 8 of 64 bits)",
    )
    parser.add_argument(
        "--scale-items",
        type=int,
        default=1_000_000,
        help="index size the threshold recommendation extrapolates to (default: 1,000,000)",
    )
    parser.add_argument(
        "--block-risk",
        type=float,
        default=1e-9,
        help="expected false blocks per check allowed at --scale-items (default: 1e-9)",
    )
    parser.add_argument(
        "--review-risk",
        type=float,
        default=1e-4,
        help="expected impostor reviews per check allowed at --scale-items (default: 1e-4)",
    )
    parser.add_argument(
        "--edits", default="", help="comma-separated subset of testkit.edits.EDITS (default: all)"
    )
    args = parser.parse_args(argv)
    settings = Settings(
        pdq_block_distance=args.pdq_block_distance,
        pdq_review_distance=args.pdq_review_distance,
        phash_block_distance=args.phash_block_distance,
        phash_review_distance=args.phash_review_distance,
        pdq_corroborated_distance=args.pdq_corroborated_distance,
        phash_corroboration_distance=args.phash_corroboration_distance,
        pdq_min_quality=args.pdq_min_quality,
    )
    edits = [e for e in args.edits.split(",") if e] or list(EDITS)
    unknown = [e for e in edits if e not in EDITS]
    if unknown:
        parser.error(f"unknown edits: {', '.join(unknown)}")
    paths = list_photos(args.photos)
    if len(paths) < 4:
        parser.error(f"{args.photos} holds {len(paths)} photos; at least 4 are needed")

    # As the service's lifespan does: with OpenMP's default threads a search of 27
    # codes took 8 ms instead of 40 us on this 2-core machine.
    faiss.omp_set_num_threads(settings.faiss_threads)
    cv2.setNumThreads(1)
    started = time.perf_counter()
    index = new_index()
    registered: dict[int, Registered] = {}
    photos: list[Photo] = []
    pixels: dict[str, Pixels] = {}
    for position, path in enumerate(paths):
        data = path.read_bytes()
        pixels[path.name] = load_rgb(str(path))
        item: int | None = None
        if position % 2 == 0:
            hashes = hash_image_bytes(data, variants=True)
            active: dict[int, int | None] = {k: r.hashes.quality for k, r in registered.items()}
            decision, candidates = decide(index, hashes, active, settings)
            if decision is Decision.BLOCK:
                # The service would answer "duplicate of" and store nothing new.
                item = candidates[0].item_id
                print(f"note: {path.name} registers as a duplicate of item {item}", file=sys.stderr)
            else:
                item = position + 1
                values = stored(hashes)
                register(index, item, values)
                registered[item] = Registered(hashes, values, pdq_full(data), phash_full(data))
        photos.append(Photo(path.name, item))
    n_reg = sum(p.item is not None for p in photos)
    names = {p.item: p.name for p in photos if p.item is not None}
    low = sorted(
        (r.hashes.quality, names[k])
        for k, r in registered.items()
        if r.hashes.quality < settings.pdq_min_quality
    )
    rows, pairs = evaluate(
        photos,
        pixels,
        registered,
        index,
        settings,
        edits,
        args.baseline_pdq_distance,
        args.baseline_phash_distance,
    )
    elapsed = time.perf_counter() - started

    out: list[str] = [
        "### Matching quality",
        "",
        f"Photos: `{args.photos}` ({len(photos)} files, every other one registered). "
        f"Hashwall settings: pdq_block_distance={settings.pdq_block_distance}, "
        f"pdq_review_distance={settings.pdq_review_distance}, phash_block_distance="
        f"{settings.phash_block_distance}, phash_review_distance="
        f"{settings.phash_review_distance}, pdq_min_quality={settings.pdq_min_quality}. "
        f"Baselines: PDQ alone matches at <= {args.baseline_pdq_distance} of 256 bits, "
        f"pHash alone at <= {args.baseline_phash_distance} of 64 bits. The index holds "
        f"{index.sizes()} distinct hashes for {len(registered)} items.",
        "",
    ]
    if low:
        out += [
            f"Registered below PDQ quality {settings.pdq_min_quality} (their matches can only "
            "be reviews): " + ", ".join(f"{name} ({qv})" for qv, name in low),
            "",
        ]
    out += quality_table(
        rows, n_reg, len(photos) - n_reg, args.baseline_pdq_distance, args.baseline_phash_distance
    )
    out += ["", "### Against PDQ alone", ""] + target_table(rows)
    out += ["", "### Distance distributions", ""] + distance_table(rows)
    imp_lines, closest = impostor_table(rows)
    out += [""] + imp_lines
    own_pdq = [o.pdq_own for o in merged(rows).registered if o.pdq_own is not None]
    own_ph = [o.phash_own for o in merged(rows).registered if o.phash_own is not None]
    pdq_choice = recommend(
        Signal.PDQ,
        own_pdq,
        closest[Signal.PDQ],
        pairs.pdq,
        items=args.scale_items,
        per_item=pairs.per_item(Signal.PDQ),
        block_risk=args.block_risk,
        review_risk=args.review_risk,
        show=(31, 41, 51, 61, 63, 71, 81, 91),
    )
    ph_choice = recommend(
        Signal.PHASH,
        own_ph,
        closest[Signal.PHASH],
        pairs.phash,
        items=args.scale_items,
        per_item=pairs.per_item(Signal.PHASH),
        block_risk=args.block_risk,
        review_risk=args.review_risk,
        show=(0, 2, 4, 6, 8, 10, 12),
    )
    out += [
        "",
        "### Threshold recommendation",
        "",
        "PDQ (Hashwall's canvas, every orientation of every view):",
        "",
    ]
    out += pdq_choice.lines
    out += ["", "pHash (Hashwall's thumbnail, every orientation of every view):", ""]
    out += ph_choice.lines
    registered_outcomes = merged(rows).registered
    now = project(
        registered_outcomes,
        settings.pdq_block_distance,
        settings.pdq_review_distance,
        settings.phash_block_distance,
        settings.phash_review_distance,
    )
    new = project(
        registered_outcomes, pdq_choice.block, pdq_choice.review, ph_choice.block, ph_choice.review
    )
    n_own = len(registered_outcomes)
    out += [
        "",
        f"Projected from the own-item distances (quality demotion ignored), of {n_own} "
        f"registered photos' edits: these settings block {now[0]} ({pct(now[0], n_own)}) and "
        f"review {now[1]} ({pct(now[1], n_own)}); the recommended ones would block {new[0]} "
        f"({pct(new[0], n_own)}) and review {new[1]} ({pct(new[1], n_own)}). Re-run with the "
        "recommended flags for the full table.",
    ]
    out += [
        "",
        f"**Recommended: pdq_block_distance={pdq_choice.block}, pdq_review_distance="
        f"{pdq_choice.review}, phash_review_distance={ph_choice.review}"
        + (
            f", phash_block_distance={ph_choice.block}"
            if ph_choice.block >= 0
            else " (no pHash distance is safe to block on at this scale, not even 0: pHash "
            "should only ever send to review)"
        )
        + ".**",
        "",
        f"({len(photos) * len(edits)} edited uploads in {elapsed:.0f} s)",
        *(
            ["(Only some edits were run: the recommendation fits those alone.)"]
            if len(edits) < len(EDITS)
            else []
        ),
    ]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
