"""Searching a still with both tiers: the local tier runs only when the global
hashes leave the decision open."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from app.services.index_store import new_index
from app.services.items import media_features, media_hashes
from app.services.local_features import entry_from
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
