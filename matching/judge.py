"""Searching for an upload and deciding on it, against items read through a port.

The search and the decision are pure; what they need of the registered items
(their facts, a clip's keyframes) comes through :class:`Items`, which the
application implements over its database. Checks and registrations' duplicate
checks both judge so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from hashing.types import Signal
from index import HashIndex
from matching.clip import search_clip
from matching.clip_compare import still_coverage
from matching.clip_frames import ClipQuery, ItemFrames
from matching.decide import Verdict, decide
from matching.policy import MatchPolicy
from matching.still import Query, search_still
from matching.types import Candidate, ItemFacts


class Items(Protocol):
    """What judging reads of the registered items."""

    def facts(self, item_ids: Sequence[int]) -> dict[int, ItemFacts]:
        """Category, quality and kind of those of ``item_ids`` still active."""
        ...

    def frames(self, item_ids: Sequence[int], *, timed_only: bool = False) -> dict[int, ItemFrames]:
        """Each item's stored PDQ and pHash hashes grouped by keyframe;
        ``timed_only`` leaves out hashes without a keyframe time (a still's)."""
        ...


def judge(
    index: HashIndex, query: Query | ClipQuery, policy: MatchPolicy, items: Items
) -> tuple[Verdict, dict[int, ItemFacts]]:
    """Search the index for a still or a clip and decide (:func:`matching.decide`);
    returns the verdict and the facts of the active items it names."""
    candidates: list[Candidate]
    if isinstance(query, ClipQuery):
        candidates = search_clip(index, query, items.frames, policy)
        facts = items.facts([c.item_id for c in candidates])
    else:
        candidates, facts = search_still(index, query, policy, items.facts)
        # The facts say which items are clips: only those have keyframes to load,
        # so a still matching a still costs no query more.
        clip_ids = [c.item_id for c in candidates if c.item_id in facts and facts[c.item_id].clip]
        if clip_ids:
            frames = items.frames(clip_ids, timed_only=True)
            candidates = with_still_coverage(query, candidates, frames, policy)
    return decide(candidates, facts, policy), facts


def with_still_coverage(
    query: Query, candidates: list[Candidate], frames: dict[int, ItemFrames], policy: MatchPolicy
) -> list[Candidate]:
    """A still's candidates, those that matched a clip item's keyframes (a
    screenshot of a video, ``frames``) saying where in it."""
    codes = [q.value.value for q in query.hashes if q.value.signal is Signal.PDQ and not q.part]
    covered = list(candidates)
    for i, c in enumerate(covered):
        if c.item_id in frames:
            coverage = still_coverage(codes, frames[c.item_id], policy)
            if coverage is not None:
                covered[i] = replace(c, coverage=coverage)
    return covered
