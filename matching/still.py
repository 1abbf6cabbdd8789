"""Searching the index for a still image's hashes, and grading each item found.

A still is searched by every orientation of every view of its picture (see
:mod:`hashing.pipeline`), the bands of its canvas, and its file digest; each
item found is graded once, on the best evidence of each kind, by
:func:`matching.rules.grade`. Then, unless that already settled the decision,
by its keypoints (:func:`search_still`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hashing.features import upload_features
from hashing.insets import insets
from hashing.pipeline import ImageHashes
from hashing.transforms import Transform, inverse
from hashing.types import HashValue, Signal
from index import HashIndex
from matching.decide import combine, decide, settled
from matching.local import search_index, search_inset
from matching.policy import MatchPolicy
from matching.rules import FAR, Strength, grade
from matching.types import Candidate, Decision, Evidence, ItemFacts


@dataclass(frozen=True, slots=True)
class QueryHash:
    """One hash to search, and the transform that was applied to the upload to get it."""

    value: HashValue
    applied: Transform = Transform.ORIGINAL
    part: str | None = None
    """``top`` or ``bottom`` for a band of the canvas: evidence only when both match."""


@dataclass(frozen=True, slots=True)
class Query:
    hashes: list[QueryHash]
    quality: int | None = None
    """PDQ quality of the upload; None when unknown (hashes sent without media)."""
    frame: npt.NDArray[np.uint8] | None = None
    """The upload's feature frame (:func:`hashing.features.upload_frame`), for the
    local tier (:mod:`matching.local`); None when it is not to be searched."""


def image_query(hashes: ImageHashes) -> Query:
    """All eight orientations of every view's perceptual hashes, the bands of the
    primary view's canvas when they were made, and the file digest."""
    items = [QueryHash(hashes.sha256)]
    for view in hashes.views:
        items += [QueryHash(v, t) for t, v in view.pdq.items()]
        items += [QueryHash(v, t) for t, v in view.phash.items()]
    if hashes.halves is not None:
        top, bottom = hashes.halves
        items += [QueryHash(top, part="top"), QueryHash(bottom, part="bottom")]
    return Query(items, hashes.quality, hashes.frame)


def hash_query(values: Sequence[HashValue]) -> Query:
    return Query([QueryHash(v) for v in values])


@dataclass
class _Evidence:
    """The best of each kind of evidence found for one item."""

    digest: bool = False
    pdq: int = FAR
    pdq_applied: Transform = Transform.ORIGINAL
    phash: int = FAR
    phash_applied: Transform = Transform.ORIGINAL
    bands: dict[str, int] = field(default_factory=dict)

    def candidate(self, item_id: int, low_quality: bool, policy: MatchPolicy) -> Candidate | None:
        if self.digest:
            return Candidate(item_id, Evidence.SHA256, 0, Transform.ORIGINAL, Decision.BLOCK)
        transform = inverse(self.pdq_applied)
        # A low-quality upload (a flat picture) collides with others: its whole
        # picture may send to review, but no corroboration or band blocks it.
        top, bottom = (
            (FAR, FAR)
            if low_quality
            else (self.bands.get("top", FAR), self.bands.get("bottom", FAR))
        )
        corroboration = FAR if low_quality else self.phash
        strength = Strength(int(grade(self.pdq, corroboration, top, bottom, policy)))
        if strength is Strength.STRONG:
            decision = Decision.REVIEW if low_quality else Decision.BLOCK
            if self.pdq <= policy.pdq_block or (
                self.pdq <= policy.pdq_corroborated and corroboration <= policy.phash_corroboration
            ):
                return Candidate(item_id, Evidence.PDQ, self.pdq, transform, decision)
            # Both bands: only a band across the middle (a caption) differs.
            return Candidate(item_id, Evidence.PDQ, max(top, bottom), Transform.ORIGINAL, decision)
        options = []
        if self.pdq <= policy.pdq_review:
            options.append(Candidate(item_id, Evidence.PDQ, self.pdq, transform, Decision.REVIEW))
        if self.phash <= policy.phash_review:
            block = policy.phash_block is not None and self.phash <= policy.phash_block
            decision = Decision.BLOCK if block and not low_quality else Decision.REVIEW
            applied = inverse(self.phash_applied)
            options.append(Candidate(item_id, Evidence.PHASH, self.phash, applied, decision))
        return min(options, key=Candidate.sort_key) if options else None


def search(index: HashIndex, query: Query, policy: MatchPolicy) -> list[Candidate]:
    """Every item the query finds within the review distance, graded, best first.

    The item's own quality and whether it is still active are applied by
    :func:`matching.decide`.
    """
    radius = {Signal.PDQ: policy.pdq_review, Signal.PHASH: policy.phash_radius, Signal.SHA256: 0}
    found: dict[int, _Evidence] = {}
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
            exact_distance=policy.exact_distance if signal is Signal.PDQ else None,
        )
        for hit in hits:
            entry = entries[hit.query]
            evidence = found.setdefault(hit.key, _Evidence())
            if signal is Signal.SHA256:
                evidence.digest = True
            elif entry.part is not None:
                evidence.bands[entry.part] = min(hit.distance, evidence.bands.get(entry.part, FAR))
            elif signal is Signal.PDQ and hit.distance < evidence.pdq:
                evidence.pdq, evidence.pdq_applied = hit.distance, entry.applied
            elif signal is Signal.PHASH and hit.distance < evidence.phash:
                evidence.phash, evidence.phash_applied = hit.distance, entry.applied
    low_quality = query.quality is not None and query.quality < policy.min_quality
    candidates = [
        c
        for item_id, evidence in found.items()
        if (c := evidence.candidate(item_id, low_quality, policy)) is not None
    ]
    return sorted(candidates, key=Candidate.sort_key)


FactsOf = Callable[[Sequence[int]], Mapping[int, ItemFacts]]
"""The facts of those of the given items that are active (the database's, for
the service)."""


def search_still(
    index: HashIndex, query: Query, policy: MatchPolicy, facts_of: FactsOf
) -> tuple[list[Candidate], dict[int, ItemFacts]]:
    """A still's candidates from both tiers, and the facts of their active items.

    The global hashes are searched first. When they block an active item on
    firm evidence (:func:`matching.decide.settled`) the local tier could only
    add items to the block, so the upload's keypoints are not even made: most
    re-uploads of registered pictures are settled so, at a third of the cost.
    Otherwise the local index is searched too and the tiers combined
    (:func:`matching.decide.combine`). When that does not block either, a
    picture set into the upload (:func:`hashing.insets.insets`) is searched
    again on its own (``policy.local_insets``; :func:`matching.local.search_inset`).
    """
    found = search(index, query, policy)
    facts = dict(facts_of([c.item_id for c in found]))
    if index.local is None or query.frame is None or settled(decide(found, facts, policy), policy):
        return found, facts
    features, frame = upload_features(query.frame)
    local = search_index(index.local, features, frame, policy)
    facts.update(facts_of([c.item_id for c in local if c.item_id not in facts]))
    both = combine(found, local, policy)
    if policy.local_insets == 0 or decide(both, facts, policy).decision is Decision.BLOCK:
        return both, facts
    # A picture set small into another (picture in picture) is under the
    # scales the whole upload's keypoints pair with: searched again on its own.
    inset = [
        c
        for box in insets(frame, policy.local_insets)
        for c in search_inset(index.local, frame, box, policy)
    ]
    if not inset:
        return both, facts
    facts.update(facts_of([c.item_id for c in inset if c.item_id not in facts]))
    return combine(found, [*local, *inset], policy), facts
