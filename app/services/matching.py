"""From query hashes to ranked matches and a decision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from app.schemas import Decision
from app.settings import Settings
from hashing.pipeline import ImageHashes
from hashing.transforms import Transform, inverse
from hashing.types import HashValue, Signal
from index import HashIndex

_DECISION_RANK = {Decision.BLOCK: 0, Decision.REVIEW: 1, Decision.ALLOW: 2}
_SIGNAL_RANK = {Signal.SHA256: 0, Signal.PDQ: 1, Signal.PHASH: 2}


@dataclass(frozen=True, slots=True)
class QueryHash:
    """One hash to search, and the transform that was applied to the upload to get it."""

    value: HashValue
    applied: Transform = Transform.ORIGINAL
    part: str | None = None
    """``top`` or ``bottom`` for a band of the image: evidence only when both match."""


@dataclass(frozen=True, slots=True)
class Query:
    hashes: list[QueryHash]
    quality: int | None = None
    """PDQ quality of the upload; None when unknown (hashes sent without media)."""


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of a clip matched an item (see :mod:`app.services.clips`)."""

    upload_share: float
    """Share of the upload's keyframes that matched the item."""
    item_share: float
    """Share of the item's keyframes found in the upload."""
    upload_span: tuple[float, float] | None
    """Seconds of the upload from the first to the last matching keyframe."""
    item_span: tuple[float, float] | None
    """Seconds of the item likewise; None for a still item."""


@dataclass(frozen=True, slots=True)
class Candidate:
    item_id: int
    signal: Signal
    distance: int
    transform: Transform
    """How the upload differs from the item."""
    decision: Decision
    coverage: Coverage | None = None

    def sort_key(self) -> tuple[int, int, float]:
        return (
            _DECISION_RANK[self.decision],
            _SIGNAL_RANK[self.signal],
            self.distance / self.signal.bits,
        )


@dataclass
class Outcome:
    decision: Decision
    candidates: list[Candidate] = field(default_factory=list)


def image_query(hashes: ImageHashes) -> Query:
    """All eight orientations of every view's perceptual hashes, plus the file digest."""
    items = [QueryHash(hashes.sha256)]
    for view in hashes.views:
        items += [QueryHash(v, t) for t, v in view.pdq.items()]
        items += [QueryHash(v, t) for t, v in view.phash.items()]
    top, bottom = hashes.halves
    items += [QueryHash(top, part="top"), QueryHash(bottom, part="bottom")]
    return Query(items, hashes.quality)


def hash_query(values: Sequence[HashValue]) -> Query:
    return Query([QueryHash(v) for v in values])


def _grade(signal: Signal, distance: int, low_quality: bool, settings: Settings) -> Decision:
    if signal is Signal.SHA256:
        return Decision.BLOCK
    if signal is Signal.PDQ:
        if distance <= settings.pdq_block_distance and not low_quality:
            return Decision.BLOCK
        return Decision.REVIEW
    block = settings.phash_block_distance
    if block is not None and distance <= block and not low_quality:
        return Decision.BLOCK
    return Decision.REVIEW


def search(index: HashIndex, query: Query, settings: Settings) -> list[Candidate]:
    """Every item within the review radius of any query hash, best evidence per item.

    A perceptual hit is only a ``review`` when the upload's PDQ quality is below
    the floor (flat images collide with each other); the item's own quality is
    applied by :func:`demote_low_quality_items` once items are loaded.
    """
    radius = {
        Signal.PDQ: settings.pdq_review_distance,
        Signal.PHASH: max(settings.phash_review_distance, settings.phash_corroboration_distance),
        Signal.SHA256: 0,
    }
    low_query = query.quality is not None and query.quality < settings.pdq_min_quality
    best: dict[int, Candidate] = {}
    phash_best: dict[int, int] = {}
    parts: dict[int, dict[str, int]] = {}
    for signal in Signal:
        # A hash that says nothing about a picture (a flat image's, or a flat
        # band's) would match every other such picture: never searched.
        entries = [q for q in query.hashes if q.value.signal is signal and q.value.informative]
        if not entries:
            continue
        hits = index.search(
            signal.value,
            [q.value.value for q in entries],
            radius[signal],
            exact_distance=settings.index_exact_distance if signal is Signal.PDQ else None,
        )
        for hit in hits:
            part = entries[hit.query].part
            if part is not None:
                if hit.distance <= settings.pdq_block_distance:
                    seen = parts.setdefault(hit.key, {})
                    seen[part] = min(hit.distance, seen.get(part, hit.distance))
                continue
            if signal is Signal.PHASH:
                phash_best[hit.key] = min(hit.distance, phash_best.get(hit.key, hit.distance))
                if hit.distance > settings.phash_review_distance:
                    continue  # corroborating evidence only, see below
            candidate = Candidate(
                item_id=hit.key,
                signal=signal,
                distance=hit.distance,
                transform=inverse(entries[hit.query].applied),
                decision=_grade(signal, hit.distance, low_query, settings),
            )
            current = best.get(hit.key)
            if current is None or candidate.sort_key() < current.sort_key():
                best[hit.key] = candidate
    if not low_query:
        for item_id, seen in parts.items():
            # Both bands of the upload match the item: only a band across the middle
            # (a caption, a banner) differs.
            current = best.get(item_id)
            if len(seen) == 2 and (current is None or current.decision is not Decision.BLOCK):
                best[item_id] = Candidate(
                    item_id, Signal.PDQ, max(seen.values()), Transform.ORIGINAL, Decision.BLOCK
                )
        for item_id, c in best.items():
            # Two independent hashes agreeing on one item: a PDQ near miss (a banner,
            # a tighter crop) becomes a block when the item's pHash is close too.
            if (
                c.signal is Signal.PDQ
                and c.decision is Decision.REVIEW
                and c.distance <= settings.pdq_corroborated_distance
                and phash_best.get(item_id, 1 << 30) <= settings.phash_corroboration_distance
            ):
                best[item_id] = Candidate(
                    c.item_id, c.signal, c.distance, c.transform, Decision.BLOCK
                )
    return sorted(best.values(), key=Candidate.sort_key)


def overall(candidates: Sequence[Candidate]) -> Decision:
    if not candidates:
        return Decision.ALLOW
    return min((c.decision for c in candidates), key=_DECISION_RANK.__getitem__)


def demote_low_quality_items(
    candidates: Sequence[Candidate], item_quality: dict[int, int | None], settings: Settings
) -> list[Candidate]:
    """Turn perceptual blocks on items registered from low-quality media into reviews."""
    out = []
    for c in candidates:
        quality = item_quality.get(c.item_id)
        if (
            c.decision is Decision.BLOCK
            and c.signal.perceptual
            and quality is not None
            and quality < settings.pdq_min_quality
        ):
            c = replace(c, decision=Decision.REVIEW)
        out.append(c)
    return sorted(out, key=Candidate.sort_key)
