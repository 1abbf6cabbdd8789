"""Where a registered item lies in an upload: its keypoints paired with the upload's,
and models of the item's frame in the upload fitted to the pairs and judged
plausible (step 2 of :mod:`matching.local`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

import cv2
import numpy as np
import numpy.typing as npt

from hashing.features import LocalFeatures
from index.bits import nearest_two

F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]


MAX_DESCRIPTOR_DISTANCE = 64
"""Bits (of 256) within which two descriptors may be the same patch."""


RATIO = 0.85
"""A pair is kept when its distance is under this share of the second nearest's."""


MIN_PAIRS = 8
"""Fewer candidate pairs than this are not worth a homography."""


REPROJECTION_PIXELS = 5.0
"""USAC's inlier threshold, in pixels of the upload's frame (about 512x384)."""


MAX_ANISOTROPY = 4.0
"""Largest ratio of the picture's stretch along one axis to the other."""


MIN_SCALE = 0.2
"""Smallest size of the item in the upload, as a share of its own frame's side:
under the scales the item's and the upload's pyramids can pair (1/3.6 at best),
and a model that shrinks the item to a dot makes every pair near it an inlier."""


def nearest_pairs(item: U8, upload: U8) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Indices (item, upload) of the unambiguous nearest pairs."""
    if len(item) == 0 or len(upload) < 2:
        empty = np.zeros(0, np.intp)
        return empty, empty
    best, best_d, second_d = nearest_two(item.view(np.uint64), upload.view(np.uint64))
    keep = (best_d <= MAX_DESCRIPTOR_DISTANCE) & (best_d < RATIO * second_d)
    rows = np.flatnonzero(keep)
    return rows, best[rows].astype(np.intp)


class Model(IntEnum):
    """A transform from an item's frame to an upload's, by its degrees of freedom."""

    SIMILARITY = 4
    """Scale, rotation, translation: a picture resized, turned, cropped or placed
    on a canvas (a screenshot, a collage, a reframe), which is most edits."""
    AFFINE = 6
    """Also stretched one way more than the other, or sheared."""
    HOMOGRAPHY = 8
    """Also in perspective: a picture photographed at an angle."""


def hypotheses(
    item: LocalFeatures,
    rows: npt.NDArray[np.intp],
    descriptors: U8,
    xy: npt.NDArray[np.float32],
    cols: npt.NDArray[np.intp],
) -> Iterator[Hypothesis]:
    """Where the item may lie in the upload, from the pairs of its keypoints
    ``rows`` with the upload's ``cols``: each kind of :class:`Model` fitted
    robustly (RANSAC for the affine ones, USAC's MAGSAC++ for a homography), and
    each refined by guided pairing (:func:`_guided`); the plausible ones
    (:func:`_plausible`), with their inliers.

    Inliers alone do not tell these apart: with a dozen true pairs among wrong
    ones, a homography's extra degrees bend it to two or three wrong pairs and
    skew the item's frame, while a mildly tilted monitor photo leaves a
    similarity as many inliers as a homography at a few pixels' tolerance. Either
    way the cells of the misdrawn frame disagree, so the caller tries them in
    turn until one makes a block.

    The first, when plausible, is the plain homography: the only one a review
    may rest on (:func:`matching.local.verify_sides`). Made lazily: most true matches block on
    it, and the rest cost nothing then."""
    for model in reversed(Model):
        fitted = _estimate(model, item.xy[rows], xy[cols])
        if fitted is None:
            continue
        h, inliers = fitted
        if model is Model.HOMOGRAPHY and inliers < FREEST_INLIERS:
            return
        corners = _plausible(h, item.width, item.height)
        if corners is None:
            continue
        yield Hypothesis(h, inliers, corners, plain=model is Model.HOMOGRAPHY)
        if inliers >= GUIDE_FROM:
            guided = _guided(h, inliers, model, item, descriptors, xy)
            if guided is not None:
                yield guided


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """A plausible model of where the item lies in the upload, and its inliers."""

    h: F64
    inliers: int
    corners: F64
    """The item frame's corners in the upload (:func:`_plausible`)."""
    plain: bool
    """The homography fitted to the ratio-tested pairs, not refitted."""


def _estimate(
    model: Model, source: npt.NDArray[np.float32], target: npt.NDArray[np.float32]
) -> tuple[F64, int] | None:
    """A model fitted robustly, as a 3x3 matrix, and its inliers."""
    if model is Model.HOMOGRAPHY:
        fitted, mask = cv2.findHomography(source, target, cv2.USAC_MAGSAC, REPROJECTION_PIXELS)
    else:
        estimate = (
            cv2.estimateAffinePartial2D if model is Model.SIMILARITY else cv2.estimateAffine2D
        )
        fitted, mask = estimate(
            source, target, method=cv2.RANSAC, ransacReprojThreshold=REPROJECTION_PIXELS
        )
        if fitted is not None:
            fitted = np.vstack([fitted, [0.0, 0.0, 1.0]])
    if fitted is None or mask is None:
        return None
    return np.asarray(fitted, np.float64), int(mask.sum())


FREEST_INLIERS = 6
"""When the homography, the freest model, explains fewer pairs than this, the
stiffer models are not fitted: they would not explain the 10 a block needs, nor
the 8 a guided refit starts from. Most candidates an upload's vote proposes
are not in it, and their chance pairs end here, at two thirds of the cost of
fitting all three (docs/benchmarks.md, "Votes counted once a keypoint")."""


GUIDE_FROM = 8
"""A model with this many inliers is refined by guided pairing (:func:`_guided`)."""


GUIDE_PIXELS = 2 * REPROJECTION_PIXELS
"""How far from where a model puts an item keypoint its partner is looked for."""


def _guided(
    h: F64,
    inliers: int,
    model: Model,
    item: LocalFeatures,
    descriptors: U8,
    xy: npt.NDArray[np.float32],
) -> Hypothesis | None:
    """The model refitted (the same kind) to guided pairs, when they explain more
    and it stays plausible; None otherwise.

    The ratio test of :func:`nearest_pairs` drops every pair whose second nearest
    descriptor anywhere in the upload is nearly as close: in a picture shown
    small, or among repeated texture, that is most true pairs, and a model
    fitted to the few left is too loose for its cells to agree. Once a model
    says where each item keypoint should be, its partner is the nearest
    descriptor (within :data:`MAX_DESCRIPTOR_DISTANCE`) among the upload
    keypoints near there, which are few, and the ratio test is asked of those
    few only."""
    ones = np.hstack([item.xy.astype(np.float64), np.ones((len(item), 1))])
    mapped = ones @ h.T
    depth = mapped[:, 2:3]
    if np.any(np.abs(depth) <= 1e-9):
        return None
    projected = (mapped[:, :2] / depth).astype(np.float32)
    dx = projected[:, 0:1] - xy[None, :, 0]
    dy = projected[:, 1:2] - xy[None, :, 1]
    rows, cols = np.nonzero(dx * dx + dy * dy <= GUIDE_PIXELS**2)
    if len(rows) < MIN_PAIRS:
        return None
    item_words = item.descriptors.view(np.uint64)
    upload_words = descriptors.view(np.uint64)
    bits = np.bitwise_count(item_words[rows] ^ upload_words[cols]).sum(axis=1)
    # Sorted by (row, bits): each item keypoint's nearest descriptor nearby comes
    # first, its second nearest nearby next.
    order = np.lexsort((bits, rows))
    rows, cols, bits = rows[order], cols[order], bits[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    after = np.minimum(starts + 1, len(rows) - 1)
    second = np.where(
        (after > starts) & (rows[after] == rows[starts]), bits[after], MAX_DESCRIPTOR_DISTANCE * 4
    )
    nearest = bits[starts]
    keep = (nearest <= MAX_DESCRIPTOR_DISTANCE) & (nearest < RATIO * second)
    rows, cols = rows[starts][keep], cols[starts][keep]
    if len(rows) <= inliers:
        return None
    fitted = _estimate(model, item.xy[rows], xy[cols])
    if fitted is None or fitted[1] <= inliers:
        return None
    corners = _plausible(fitted[0], item.width, item.height)
    if corners is None:
        return None
    return Hypothesis(*fitted, corners, plain=False)


def _plausible(h: F64, width: int, height: int) -> npt.NDArray[np.float64] | None:
    """The item frame's corners in the upload when ``h`` draws a believable
    picture of it: convex, orientation kept (a mirror is matched separately),
    not stretched one way far more than the other, and not too small to hold
    its keypoints (:data:`MIN_SCALE`)."""
    # Scalar arithmetic: on four points numpy's per-call cost was most of it.
    (a, b, c), (d, e, f), (g, k, m) = h.tolist()
    points: list[tuple[float, float]] = []
    for x, y in ((0, 0), (width, 0), (width, height), (0, height)):
        depth = g * x + k * y + m
        if depth <= 1e-9:
            return None  # a corner behind the camera: no picture of the item
        points.append(((a * x + b * y + c) / depth, (d * x + e * y + f) / depth))
    for i in range(4):
        (x0, y0), (x1, y1), (x2, y2) = points[i], points[(i + 1) % 4], points[(i + 2) % 4]
        if (x1 - x0) * (y2 - y1) - (y1 - y0) * (x2 - x1) <= 0:
            return None  # not convex, or turned over
    # The singular values of the linear part (m > 0: the first corner's depth).
    squares = (a * a + b * b + d * d + e * e) / (m * m)
    det = abs(a * e - b * d) / (m * m)
    spread = math.sqrt(max(squares * squares - 4 * det * det, 0.0))
    low = math.sqrt(max((squares - spread) / 2, 0.0))
    if low <= 0 or math.sqrt((squares + spread) / 2) / low > MAX_ANISOTROPY:
        return None
    corners = np.array(points, np.float64)
    if item_scale(corners, width, height) < MIN_SCALE:
        return None
    return corners


def item_scale(points: F64, width: int, height: int) -> float:
    """The size of an item whose frame corners land at ``points``, as a share of
    its frame's side."""
    area = abs(float(cv2.contourArea(points.astype(np.float32))))
    return float(np.sqrt(area / (width * height)))
