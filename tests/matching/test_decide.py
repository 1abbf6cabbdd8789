"""Deciding from both tiers: a local refutation turns a near-miss block into a review."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hashing.transforms import Transform
from matching import Candidate, Coverage, Decision, Evidence, MatchPolicy, combine, holds
from matching.local import LocalMatch
from matching.rules import Strength

POLICY = MatchPolicy()


def pdq_block(item: int, distance: int) -> Candidate:
    return Candidate(item, Evidence.PDQ, distance, Transform.ORIGINAL, Decision.BLOCK)


def local(item: int, *, refuted: bool) -> Candidate:
    corners = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    found = LocalMatch(30, 1.0, 1.0, False, 0.8, 50, corners, Strength.NEAR, refuted)
    return Candidate(item, Evidence.LOCAL, 20, Transform.ORIGINAL, Decision.REVIEW, local=found)


@pytest.mark.parametrize(
    ("distance", "refuted", "expected"),
    [
        (44, True, Decision.REVIEW),  # a corroborated near miss, refuted
        (44, False, Decision.BLOCK),  # not refuted: the global block stands
        (POLICY.pdq_block, True, Decision.BLOCK),  # within the block distance: stands
    ],
)
def test_a_refuted_near_miss_is_sent_to_review(
    distance: int, refuted: bool, expected: Decision
) -> None:
    combined = combine([pdq_block(1, distance)], [local(1, refuted=refuted)], POLICY)
    assert [c.item_id for c in combined] == [1]
    assert combined[0].decision is expected


def test_a_refutation_of_one_item_leaves_another_blocked() -> None:
    combined = combine([pdq_block(1, 44), pdq_block(2, 44)], [local(1, refuted=True)], POLICY)
    assert {c.item_id: c.decision for c in combined} == {1: Decision.REVIEW, 2: Decision.BLOCK}


def inset(share: float, time_share: float) -> Candidate:
    """A local block: the item over ``share`` of the upload's picture, found in
    ``time_share`` of its time."""
    corners = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    found = LocalMatch(40, share, 1.0, False, 0.95, 50, corners, Strength.STRONG)
    coverage = Coverage(time_share, 1.0, (0.0, 20.0), None)
    return Candidate(
        1, Evidence.LOCAL, 5, Transform.ORIGINAL, Decision.BLOCK, coverage=coverage, local=found
    )


def test_an_item_holds_an_upload_only_when_it_is_most_of_it() -> None:
    """A registration is a duplicate of an item that blocks it over most of its
    time and, found by keypoints, most of its picture: an item found as an inset
    throughout is only a part of what is being registered."""
    assert holds(pdq_block(1, 10), POLICY)
    assert holds(inset(0.95, 1.0), POLICY)
    assert not holds(inset(0.2, 1.0), POLICY)
    assert not holds(inset(0.95, 0.5), POLICY)
    assert not holds(replace(pdq_block(1, 10), decision=Decision.REVIEW), POLICY)


def test_an_item_holds_a_still_that_shows_nothing_else_but_flat_pixels() -> None:
    """Given the still's frame, what it shows beside the item decides: the item
    over the left 70% of the frame, the rest flat fill (a rotation's corners, a
    bar) or another picture."""
    rng = np.random.default_rng(2)
    frame = rng.integers(0, 256, (300, 400), dtype=np.uint8)
    region = ((0.0, 0.0), (0.7, 0.0), (0.7, 1.0), (0.0, 1.0))
    found = LocalMatch(40, 0.7, 1.0, False, 0.95, 50, region, Strength.STRONG)
    coverage = Coverage(0.7, 1.0, None, None)
    candidate = Candidate(
        1, Evidence.LOCAL, 5, Transform.ORIGINAL, Decision.BLOCK, coverage=coverage, local=found
    )
    assert not holds(candidate, POLICY)  # without the frame: 70% of it only
    assert not holds(candidate, POLICY, frame)  # another picture beside it
    filled = frame.copy()
    filled[:, 280:] = 255
    assert holds(candidate, POLICY, filled)
    assert not holds(replace(candidate, decision=Decision.REVIEW), POLICY, filled)
