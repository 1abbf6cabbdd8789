"""Matching a clip (a video or an animated image) against registered items.

A clip's keyframes are searched in the same index as stills, so a registered
photo shown in an uploaded video matches, and so does a screenshot of a
registered video (that direction is a still check, :mod:`matching.still`).

The index only finds candidate items. For each, every keyframe of the upload is
then compared with every keyframe of the item (PDQ, all views, all eight
orientations of the upload), which gives the two shares a decision rests on:
how much of the upload is the item, and how much of the item is in the upload.
An excerpt of a registered video scores high on the first; a whole video whose
excerpt was registered scores high on the second. Either blocks.

Keyframes with local features also go through the local tier (:func:`search_local`),
which finds a registered picture inside a keyframe (a reframe, an inset, a large
crop) and shares out its evidence over time the same way.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace

import numpy as np

from hashing.transforms import Transform
from hashing.types import Signal
from index import HashIndex
from index.local import LocalIndex
from matching.clip_compare import compare, time_share, time_span, whole_span
from matching.clip_frames import ClipQuery, FramesLoader
from matching.decide import best_per_item
from matching.local import as_candidate, verified
from matching.policy import MatchPolicy
from matching.types import Candidate, Coverage, Decision, Evidence

# Candidates compared frame by frame, most-hit first: bounds a check's work when a
# common picture (a logo card) is in many items.
MAX_CANDIDATES = 64


def search_clip(
    index: HashIndex, query: ClipQuery, load: FramesLoader, policy: MatchPolicy
) -> list[Candidate]:
    """Candidates for a clip, each with its coverage, best first."""
    results: dict[int, Candidate] = {}
    exact: set[int] = set()
    if query.sha256 is not None:
        exact = {h.key for h in index.search(Signal.SHA256.value, [query.sha256.value], 0)}
    if len(query.codes):
        hits = index.search(
            Signal.PDQ.value,
            [bytes(row) for row in query.codes],
            policy.pdq_review,
            exact_distance=policy.exact_distance,
        )
        frames_hit: dict[int, set[int]] = {}
        for hit in hits:
            frames_hit.setdefault(hit.key, set()).add(int(query.frame[hit.query]))
        ranked = sorted(frames_hit, key=lambda k: -len(frames_hit[k]))[:MAX_CANDIDATES]
        for item_id, frames in load(sorted(set(ranked) | exact)).items():
            candidate = compare(item_id, query, frames, policy)
            if candidate is not None:
                results[item_id] = candidate
    for item_id in exact:
        # The same file: a block whatever the frames say; their coverage says where.
        found = results.get(item_id)
        results[item_id] = Candidate(
            item_id,
            Evidence.SHA256,
            0,
            Transform.ORIGINAL,
            Decision.BLOCK,
            found.coverage
            if found is not None
            else Coverage(1.0, 1.0, whole_span(query.times), None),
        )
    if index.local is not None and query.local:
        return best_per_item([*results.values(), *search_local(index.local, query, policy)])
    return sorted(results.values(), key=Candidate.sort_key)


def search_local(index: LocalIndex, query: ClipQuery, policy: MatchPolicy) -> list[Candidate]:
    """Candidates of the local tier: each of the upload's keyframes with local
    features searched as a still is (:func:`matching.local.verified`).

    An item blocks as a clip does on hashes: strongly verified in
    ``clip_min_frames`` keyframes (fewer when the upload has fewer) covering
    ``clip_block_share`` of the upload's time or of the item's (its entries'
    times; an item that is a still is all or nothing). Anything else verified
    is a review.
    """
    times = [k.at for k in query.local]
    hits: dict[int, list[tuple[int, int, Candidate]]] = defaultdict(list)
    limit = policy.local_keyframe_candidates
    for i, keyframe in enumerate(query.local):
        for found, match in verified(index, keyframe.features, keyframe.frame, policy, limit):
            hits[found.key].append((i, found.slot, as_candidate(found.key, match)))
    out: list[Candidate] = []
    for item_id, found_in in hits.items():
        # An entry replaced since the search (the change feed re-adding the item)
        # is no longer among the item's: it still counts for the upload's side.
        item_times = index.times(item_id)
        position = {slot: j for j, slot in enumerate(item_times)}
        strong = np.zeros(len(times), np.bool_)
        seen = np.zeros(len(times), np.bool_)
        item_strong = np.zeros(len(position), np.bool_)
        item_seen = np.zeros(len(position), np.bool_)
        for i, slot, c in found_in:
            j = position.get(slot)
            seen[i] = True
            if j is not None:
                item_seen[j] = True
            if c.decision is Decision.BLOCK:
                strong[i] = True
                if j is not None:
                    item_strong[j] = True
        upload_share = time_share(times, strong)
        item_share = time_share(list(item_times.values()), item_strong)
        enough = int(strong.sum()) >= min(policy.clip_min_frames, len(times))
        covered = max(upload_share, item_share) >= policy.clip_block_share
        best = min((c for _, _, c in found_in), key=Candidate.sort_key)
        turns = Counter(c.transform for _, _, c in found_in if c.decision is Decision.BLOCK)
        out.append(
            replace(
                best,
                decision=Decision.BLOCK if enough and covered else Decision.REVIEW,
                transform=turns.most_common(1)[0][0] if turns else best.transform,
                coverage=Coverage(
                    round(upload_share, 4),
                    round(item_share, 4),
                    time_span(times, strong if strong.any() else seen),
                    time_span(
                        list(item_times.values()), item_strong if strong.any() else item_seen
                    ),
                ),
            )
        )
    return sorted(out, key=Candidate.sort_key)
