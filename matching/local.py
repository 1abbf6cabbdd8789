"""The local-feature tier: finding a registered picture inside an upload, and
judging whether what was found is the item's own content.

For each candidate item (found by the descriptor index, :mod:`index.local`):

1. **Correspondences.** Each of the item's keypoints is paired with the
   upload keypoint of the nearest descriptor (Hamming distance), kept when it is
   near enough and clearly nearer than the second nearest (Lowe's ratio test:
   text and app chrome repeat the same corners, and such pairs are ambiguous).
   The upload's mirrored descriptors are tried too.
2. **Geometry.** Where the item lies in the upload is modelled three ways, a
   similarity, an affine map and a homography (:class:`matching.geometry.Model`), each fitted
   robustly and then refitted to the pairs it predicts (guided pairing, which
   finds the true pairs the ratio test dropped). Each hypothesis must be
   supported by enough inliers and draw a plausible picture of the item: a
   convex, orientation-keeping quadrilateral, not squeezed or stretched out of
   proportion, nor too small to hold its keypoints.
3. **Content.** Keypoints match text, app chrome, logos, watermarks and
   stickers as readily as a photograph's own content, so a registered
   screenshot and another picture in the same app frame can agree on dozens of
   inliers. So the upload is warped into the item's frame and its cells
   compared with the item's cell signatures (:func:`hashing.cells.cells`).
   Only cells of the item's natural content count (cells mostly flat, which is
   what chrome, banners and text backgrounds are made of, do not); a cell of the
   upload that disagrees but is partly flat is an overlay (a sticker, a caption)
   and is excused. The share of counted cells that agree is the agreement. An
   item a layout cuts off (a tile or a pane cropping it to its own shape, text
   across its top) is judged on the part the layout shows, where the upload
   has a straight seam at the cut (:func:`matching.seams.layout_cut`).

A block needs many inliers and the item's own content agreeing over enough of
it; weaker evidence goes to review. Of the hypotheses, the one that makes the
strongest match counts. Thresholds are in :class:`MatchPolicy`; step 2 is
:mod:`matching.geometry`, step 3 :mod:`matching.agreement` and
:mod:`matching.seams`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

from hashing.cells import Cells
from hashing.features import UPLOAD_AREA, LocalFeatures, upload_features
from hashing.insets import Box
from hashing.transforms import Transform
from hashing.types import u8
from index.local import Found, LocalIndex
from matching.agreement import (
    QUARTER_AGREEMENT,
    ItemLocal,
    compare_cells,
    graded,
)
from matching.decide import best_per_item
from matching.geometry import MIN_PAIRS, U8, Hypothesis, hypotheses, nearest_pairs
from matching.policy import MatchPolicy
from matching.rules import Strength
from matching.seams import layout_cut
from matching.types import Candidate, Coverage, Decision, Evidence

SIDE_VOTES = 0.25
"""A side of the upload (as is, or mirrored) giving less than this share of a
candidate's votes is not tried on it."""


@dataclass(frozen=True, slots=True)
class LocalMatch:
    """An item found inside an upload."""

    inliers: int
    upload_share: float
    """Share of the upload's frame that the item covers."""
    item_share: float
    """Share of the item's frame that lies inside the upload."""
    mirrored: bool
    """The upload shows the item mirrored."""
    agreement: float
    """Share of the counted cells of the item whose content the upload agrees with."""
    counted: int
    """Cells counted: inside the upload, of the item's natural content, not excused."""
    corners: tuple[tuple[float, float], ...]
    """Where the item's frame corners land in the upload, as shares of its width
    and height (top left, top right, bottom right, bottom left)."""
    strength: Strength
    refuted: bool = False
    """A quarter of the item the upload shows is other content: the upload
    shares only part of the item (see :data:`matching.agreement.QUARTER_AGREEMENT`)."""


@dataclass(frozen=True, slots=True)
class Side:
    """An upload as verification reads it: as it is, or mirrored (descriptors of
    the flipped frame, positions and pixels flipped, so a homography to it keeps
    orientation)."""

    mirrored: bool
    descriptors: U8
    xy: npt.NDArray[np.float32]
    frame: U8


def sides(upload: LocalFeatures, frame: U8) -> tuple[Side, ...]:
    """The upload as it is and, when it has mirrored descriptors, mirrored."""
    out = [Side(False, upload.descriptors, upload.xy, frame)]
    if upload.mirrored is not None:
        flipped = upload.xy.copy()
        flipped[:, 0] = upload.width - 1 - flipped[:, 0]
        out.append(Side(True, upload.mirrored, flipped, u8(cv2.flip(frame, 1))))
    return tuple(out)


def verify(
    upload: LocalFeatures, upload_frame: U8, item: ItemLocal, policy: MatchPolicy
) -> LocalMatch | None:
    """Whether ``item`` is inside the upload, and how strong the evidence is;
    None when it is not found at all."""
    return verify_sides(upload, sides(upload, upload_frame), item, policy)


def verify_sides(
    upload: LocalFeatures, tries: Sequence[Side], item: ItemLocal, policy: MatchPolicy
) -> LocalMatch | None:
    """:func:`verify` of the given sides of the upload only.

    Every hypothesis (:func:`matching.geometry.hypotheses`) of every side may make a block, and
    the first that does is the match. A review rests on the plain homography
    only (the one with most inliers of either side): its bar, half the cells,
    is low enough that half a dozen geometries tried on each of an upload's
    candidates, and of a clip's sixteen keyframes, would pass it by chance now
    and then; a block's bar is not."""
    near: LocalMatch | None = None
    for side in tries:
        rows, cols = nearest_pairs(item.features.descriptors, side.descriptors)
        if len(rows) < MIN_PAIRS:
            continue
        for guess in hypotheses(item.features, rows, side.descriptors, side.xy, cols):
            if guess.inliers < (
                policy.local_review_inliers if guess.plain else policy.local_block_inliers
            ):
                continue
            match = _judged(upload, side, item, guess, policy)
            if match is None:
                continue
            if match.strength is Strength.STRONG:
                return match
            if guess.plain and (near is None or match.inliers > near.inliers):
                near = match
    return near


def _judged(
    upload: LocalFeatures, side: Side, item: ItemLocal, guess: Hypothesis, policy: MatchPolicy
) -> LocalMatch | None:
    """The match a model of the item in ``side`` makes, graded by its inliers and
    cells; None when it is too weak to send to review."""
    inliers, points = guess.inliers, guess.corners.copy()
    compared = compare_cells(side.frame, guess.h, points, item)
    found = compared.within()
    strength = graded(inliers, found, policy)
    if strength is not Strength.STRONG:
        cut = layout_cut(compared, side.frame, guess.h, item, inliers, policy)
        if cut is not None:
            found, strength = cut, Strength.STRONG
    if strength is Strength.NONE:
        return None
    upload_share, item_share = _shares(points, upload.width, upload.height)
    if side.mirrored:
        points[:, 0] = upload.width - 1 - points[:, 0]
    corners = tuple(
        (round(float(x) / upload.width, 4), round(float(y) / upload.height, 4)) for x, y in points
    )
    return LocalMatch(
        inliers,
        round(upload_share, 4),
        round(item_share, 4),
        side.mirrored,
        round(found.share, 4),
        found.counted,
        corners,
        strength,
        found.weakest_quarter < QUARTER_AGREEMENT,
    )


def _shares(points: npt.NDArray[np.float64], width: int, height: int) -> tuple[float, float]:
    """How much of the upload the item covers, and how much of the item is in it."""
    frame = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    quad = points.astype(np.float32)
    overlap, _ = cv2.intersectConvexConvex(frame, quad)
    quad_area = abs(float(cv2.contourArea(quad)))
    upload_share = min(1.0, float(overlap) / (width * height))
    item_share = min(1.0, float(overlap) / quad_area) if quad_area > 0 else 0.0
    return upload_share, item_share


def as_candidate(item_id: int, match: LocalMatch) -> Candidate:
    """A local match as a candidate of the decision: strong evidence blocks, the
    rest sends to review; its distance is the percent of the item's counted
    cells that disagree, its coverage how much of each picture is the other."""
    decision = Decision.BLOCK if match.strength is Strength.STRONG else Decision.REVIEW
    transform = Transform.FLIP_HORIZONTAL if match.mirrored else Transform.ORIGINAL
    distance = round(100 * (1 - match.agreement))
    coverage = Coverage(match.upload_share, match.item_share, None, None)
    return Candidate(
        item_id, Evidence.LOCAL, distance, transform, decision, coverage=coverage, local=match
    )


def verified(
    index: LocalIndex,
    upload: LocalFeatures,
    frame: U8,
    policy: MatchPolicy,
    limit: int | None = None,
) -> list[tuple[Found, LocalMatch]]:
    """The entries the local index proposes for an upload, verified: the best
    ``limit`` (``policy.local_candidates`` unless given) by shared keypoints,
    each checked by :func:`verify_sides`; those that matched, best voted first.

    Every one of them is verified, however few votes it has beside the first:
    an upload's app chrome, text or stickers vote for every item registered
    under the same, and the item whose picture the upload shows, small, in a
    corner of it, may have a tenth of their votes."""
    if len(upload) == 0:
        return []
    query = upload.descriptors
    if upload.mirrored is not None:
        query = np.concatenate([query, upload.mirrored])
    limit = policy.local_candidates if limit is None else limit
    found = index.candidates(query, limit, mirrored_from=len(upload))
    if not found:
        return []
    both = sides(upload, frame)
    matched: list[tuple[Found, LocalMatch]] = []
    for proposed in found:
        entry = index.entry(proposed.slot)
        if entry is None:
            continue
        item = ItemLocal(
            LocalFeatures(entry.xy, entry.descriptors, entry.width, entry.height),
            Cells(entry.signatures, entry.flat),
        )
        # A side that gave little of the votes would not find the item either.
        shares = (1 - proposed.mirrored, proposed.mirrored)
        tries = [side for side in both if shares[side.mirrored] >= SIDE_VOTES]
        match = verify_sides(upload, tries, item, policy)
        if match is not None:
            matched.append((proposed, match))
    return matched


def search_index(
    index: LocalIndex,
    upload: LocalFeatures,
    frame: U8,
    policy: MatchPolicy,
    limit: int | None = None,
) -> list[Candidate]:
    """The items the local index finds in an upload (:func:`verified`, its best
    ``limit`` proposals), one candidate per item (its best entry), best first."""
    return best_per_item(
        [as_candidate(f.key, m) for f, m in verified(index, upload, frame, policy, limit)]
    )


INSET_MARGIN = 2
"""Pixels left off each side of an inset: its seam, blurred across them."""
INSET_AREA = 0.25
"""The frame an inset's keypoints are found in, as a share of an upload's: about
the inset's own size (a quarter to two fifths of the upload's width), so that
the upload's keypoints, all of them now on the inset, are found at its own
scale. Measured on four draws of picture in picture: 0.25 and 0.35-1.0 found
the same held-out insets, 0.25 one dev inset more than 0.35-0.5 and three more
than 1.0, 0.15 fewer (docs/benchmarks.md)."""


def search_inset(index: LocalIndex, frame: U8, box: Box, policy: MatchPolicy) -> list[Candidate]:
    """:func:`search_index` of the picture inside ``box`` of an upload's feature
    frame (:func:`hashing.insets.insets`), its keypoints found again in a frame
    of its own (:data:`INSET_AREA`); where each item lies, and how much of the
    upload it covers, are given in the whole upload."""
    edge = INSET_MARGIN
    x0, y0, x1, y1 = box.x0 + edge, box.y0 + edge, box.x1 - edge, box.y1 - edge
    if min(x1 - x0, y1 - y0) < 16:
        return []
    features, own_frame = upload_features(
        np.ascontiguousarray(frame[y0:y1, x0:x1]), round(INSET_AREA * UPLOAD_AREA)
    )
    height, width = frame.shape[:2]
    share = (x1 - x0) * (y1 - y0) / (width * height)

    def placed(match: LocalMatch) -> LocalMatch:
        corners = tuple(
            (
                round((x0 + x * (x1 - x0)) / width, 4),
                round((y0 + y * (y1 - y0)) / height, 4),
            )
            for x, y in match.corners
        )
        return replace(match, corners=corners, upload_share=round(match.upload_share * share, 4))

    found = search_index(index, features, own_frame, policy, policy.local_inset_candidates)
    return [as_candidate(c.item_id, placed(c.local)) for c in found if c.local is not None]
