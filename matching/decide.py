"""The one decision: from the candidates a search graded to the answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from hashing.features import U8, content_outside
from matching.policy import MatchPolicy
from matching.types import DECISION_RANK, Candidate, Decision, Evidence, ItemFacts


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    candidates: list[Candidate]
    """The active items matched, best first, at most ``max_matches``."""


def best_per_item(candidates: Sequence[Candidate]) -> list[Candidate]:
    """One candidate per item, its best evidence (one tier may find what the
    other does not, or grade it differently)."""
    best: dict[int, Candidate] = {}
    for c in candidates:
        if c.item_id not in best or c.sort_key() < best[c.item_id].sort_key():
            best[c.item_id] = c
    return sorted(best.values(), key=Candidate.sort_key)


def combine(
    found: Sequence[Candidate], local: Sequence[Candidate], policy: MatchPolicy
) -> list[Candidate]:
    """Both tiers' candidates for a still, one per item (:func:`best_per_item`).

    A global block on a near miss (PDQ beyond ``pdq_block``, through pHash's
    corroboration) guesses that the upload is the item changed a little. When
    the local tier aligned the same item and found a quarter of it to be other
    content, the guess is refuted and the near miss sends to review: an upload
    sharing three of a registered collage's four pictures is that close.
    """
    refuted = {c.item_id for c in local if c.local is not None and c.local.refuted}
    kept = [
        replace(c, decision=Decision.REVIEW)
        if c.item_id in refuted and _refutable(c, policy)
        else c
        for c in found
    ]
    return best_per_item([*kept, *local])


def _refutable(candidate: Candidate, policy: MatchPolicy) -> bool:
    """A global block on a near miss, which :func:`combine` sends to review when
    the local tier refutes it."""
    return (
        candidate.decision is Decision.BLOCK
        and candidate.signal is Evidence.PDQ
        and candidate.distance > policy.pdq_block
    )


def settled(verdict: Verdict, policy: MatchPolicy) -> bool:
    """Whether a still's verdict from the global hashes is one the local tier
    cannot change: a block of an active item on firm evidence (its file digest,
    or PDQ within ``pdq_block``), which :func:`combine` never refutes. The local
    tier could only add more items to such a block, so it is not run."""
    return verdict.decision is Decision.BLOCK and any(
        c.decision is Decision.BLOCK and not _refutable(c, policy) for c in verdict.candidates
    )


def holds(candidate: Candidate, policy: MatchPolicy, frame: U8 | None = None) -> bool:
    """Whether a candidate's item already holds the upload, so that registering
    the upload would add nothing: a block covering ``duplicate_share`` of the
    upload (of a clip's time; of the picture for a match by keypoints, where an
    item found as an inset is only a part of the upload).

    Given a still's feature ``frame``, a match by keypoints is judged by what
    the upload shows beside the item instead, flat pixels not counted: at most
    the rest of that share. A rotation's filled corners, bars or a caption's
    plain band are nothing to register; another picture beside the item is."""
    if candidate.decision is not Decision.BLOCK:
        return False
    local = candidate.local
    if local is not None and frame is not None:
        return content_outside(frame, local.corners) <= 1 - policy.duplicate_share
    coverage = candidate.coverage
    if coverage is not None and coverage.upload_share < policy.duplicate_share:
        return False
    return local is None or local.upload_share >= policy.duplicate_share


def decide(
    candidates: Sequence[Candidate], facts: Mapping[int, ItemFacts], policy: MatchPolicy
) -> Verdict:
    """Decide on an upload from the candidates its search found.

    ``facts`` holds the candidates' items that are still active: any other was
    deactivated since the index was searched, and no longer matches. A
    perceptual block on an item registered from media under the quality floor
    becomes a review (flat pictures collide with each other). The decision is
    the best candidate's: ``allow`` when none is left.
    """
    kept: list[Candidate] = []
    for c in candidates:
        item = facts.get(c.item_id)
        if item is None:
            continue
        if (
            c.decision is Decision.BLOCK
            and c.signal.perceptual
            and item.quality is not None
            and item.quality < policy.min_quality
        ):
            c = replace(c, decision=Decision.REVIEW)
        kept.append(c)
    kept.sort(key=Candidate.sort_key)
    kept = kept[: policy.max_matches]
    decision = min(
        (c.decision for c in kept), key=DECISION_RANK.__getitem__, default=Decision.ALLOW
    )
    return Verdict(decision, kept)
