"""Searching a still with both tiers: the local tier runs only when the global
hashes leave the decision open."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from app.repository.features import entry_from, media_features
from app.repository.hashes import media_hashes
from app.services.index_store import new_index
from hashing.decode import decode_image
from hashing.pipeline import hash_image_bytes
from hashing.transforms import Transform
from index import HashIndex
from matching import Candidate, Decision, Evidence, ItemFacts, MatchPolicy, decide
from matching.decide import Verdict, settled
from matching.still import image_query, search_still
from tests.conftest import PHOTOS

POLICY = MatchPolicy()
GLOBAL_ONLY, LOCAL_ONLY = 1, 2


def encoded(luma: npt.NDArray[np.uint8]) -> bytes:
    ok, buf = cv2.imencode(".jpg", luma, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return buf.tobytes()


def split_index(data: bytes) -> HashIndex:
    """One photo registered twice: its global hashes as one item, its keypoints
    as another, so which tier answered shows in the items found."""
    index = new_index()
    assert index.local is not None
    hashes = hash_image_bytes(data, local=True, item=True)
    for new in media_hashes(hashes):
        index.add(new.value.signal.value, new.value.value, GLOBAL_ONLY)
    for features in media_features(hashes):
        index.local.add(LOCAL_ONLY, entry_from(features))
    return index


def facts_of(items: Sequence[int]) -> dict[int, ItemFacts]:
    return {i: ItemFacts("ncii", 100, clip=False) for i in items}


def test_a_firm_global_block_does_not_run_the_local_tier() -> None:
    data = PHOTOS[3].read_bytes()
    index = split_index(data)
    luma = decode_image(data, gray=True).pixels
    query = image_query(hash_image_bytes(encoded(luma), local=True))
    found, facts = search_still(index, query, POLICY, facts_of)
    assert [c.item_id for c in found] == [GLOBAL_ONLY]
    assert decide(found, facts, POLICY).decision is Decision.BLOCK


def test_an_upload_the_global_hashes_miss_goes_through_the_local_tier() -> None:
    data = PHOTOS[3].read_bytes()
    index = split_index(data)
    luma = decode_image(data, gray=True).pixels
    h, w = luma.shape
    half = np.ascontiguousarray(luma[: h * 3 // 4, : w * 2 // 3])  # half of it, a corner
    query = image_query(hash_image_bytes(encoded(half), local=True))
    found, facts = search_still(index, query, POLICY, facts_of)
    assert [c.item_id for c in found] == [LOCAL_ONLY]
    assert found[0].signal is Evidence.LOCAL
    assert decide(found, facts, POLICY).decision is Decision.BLOCK


def pdq(item: int, distance: int, decision: Decision = Decision.BLOCK) -> Candidate:
    return Candidate(item, Evidence.PDQ, distance, Transform.ORIGINAL, decision)


def test_only_a_block_the_local_tier_cannot_refute_settles() -> None:
    digest = Candidate(1, Evidence.SHA256, 0, Transform.ORIGINAL, Decision.BLOCK)
    assert settled(Verdict(Decision.BLOCK, [digest]), POLICY)
    assert settled(Verdict(Decision.BLOCK, [pdq(1, POLICY.pdq_block)]), POLICY)
    # A near miss blocked through pHash's corroboration may be refuted.
    assert not settled(Verdict(Decision.BLOCK, [pdq(1, POLICY.pdq_block + 1)]), POLICY)
    assert not settled(Verdict(Decision.REVIEW, [pdq(1, 40, Decision.REVIEW)]), POLICY)
    assert not settled(Verdict(Decision.ALLOW, []), POLICY)


def picture_in_picture(picture: int, host: int) -> npt.NDArray[np.uint8]:
    """Photo ``picture`` at a quarter of the width of photo ``host`` (900 pixels
    wide), 20 pixels from its top left corner."""
    base = decode_image(PHOTOS[host].read_bytes(), gray=True).pixels
    out = cv2.resize(base, (900, round(base.shape[0] * 900 / base.shape[1])))
    small = decode_image(PHOTOS[picture].read_bytes(), gray=True).pixels
    inset = cv2.resize(
        small, (225, round(small.shape[0] * 225 / small.shape[1])), interpolation=cv2.INTER_AREA
    )
    h, w = inset.shape[:2]
    out[20 : 20 + h, 20 : 20 + w] = inset
    return np.asarray(out, np.uint8)


def registered(picture: int) -> HashIndex:
    index = new_index()
    assert index.local is not None
    hashes = hash_image_bytes(PHOTOS[picture].read_bytes(), local=True, item=True)
    for new in media_hashes(hashes):
        index.add(new.value.signal.value, new.value.value, picture)
    for features in media_features(hashes):
        index.local.add(picture, entry_from(features))
    return index


@pytest.mark.parametrize("picture", [0, 9, 36])
def test_a_small_picture_in_a_corner_is_found_by_searching_its_inset(picture: int) -> None:
    """At a quarter of the upload's width, the picture's keypoints are too few
    and too blurred to find it in the whole upload (no insets: not a block);
    its inset, searched again on its own, blocks, placed in the whole upload."""
    index = registered(picture)
    query = image_query(hash_image_bytes(encoded(picture_in_picture(picture, 40)), local=True))
    alone = replace(POLICY, local_insets=0)
    found, facts = search_still(index, query, alone, facts_of)
    assert decide(found, facts, alone).decision is not Decision.BLOCK
    found, facts = search_still(index, query, POLICY, facts_of)
    assert decide(found, facts, POLICY).decision is Decision.BLOCK
    (match,) = [c for c in found if c.item_id == picture]
    assert match.local is not None
    assert 0.03 < match.local.upload_share < 0.1
    xs, ys = zip(*match.local.corners, strict=True)
    assert max(xs) < 0.3, match.local.corners
    assert max(ys) < 0.5, match.local.corners


def test_another_picture_in_the_same_corner_is_not_blocked() -> None:
    index = registered(0)
    query = image_query(hash_image_bytes(encoded(picture_in_picture(3, 40)), local=True))
    found, facts = search_still(index, query, POLICY, facts_of)
    assert decide(found, facts, POLICY).decision is Decision.ALLOW
