"""The local-feature tier: finding a registered picture inside an upload, and
judging whether what was found is the item's own content.

For each candidate item (found by the descriptor index, :mod:`index.local`):

1. **Correspondences.** Each of the item's keypoints is paired with the
   upload keypoint of the nearest descriptor (Hamming distance), kept when it is
   near enough and clearly nearer than the second nearest (Lowe's ratio test:
   text and app chrome repeat the same corners, and such pairs are ambiguous).
   The upload's mirrored descriptors are tried too.
2. **Geometry.** Where the item lies in the upload is modelled three ways, a
   similarity, an affine map and a homography (:class:`Model`), each fitted
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
   has a straight seam at the cut (:func:`_cut`).

A block needs many inliers and the item's own content agreeing over enough of
it; weaker evidence goes to review. Of the hypotheses, the one that makes the
strongest match counts. Thresholds are in :class:`MatchPolicy`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from itertools import product

import cv2
import numpy as np
import numpy.typing as npt

from hashing.cells import CELL_GRID, Cells, cell_shares, cells, low_frequencies
from hashing.features import UPLOAD_AREA, LocalFeatures, upload_features
from hashing.insets import Box
from hashing.transforms import Transform
from hashing.types import u8
from index.bits import nearest_two
from index.local import Found, LocalIndex
from matching.decide import best_per_item
from matching.policy import MatchPolicy
from matching.rules import Strength
from matching.types import Candidate, Coverage, Decision, Evidence

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
CELL_COVERED = 0.97
"""A cell counts only when this share of it lies inside the upload."""
MAX_CELL_BITS = 22
"""Signatures (63 bits) this close agree."""
SIDE_VOTES = 0.25
"""A side of the upload (as is, or mirrored) giving less than this share of a
candidate's votes is not tried on it."""
QUARTER_CELLS = 4
QUARTER_AGREEMENT = 0.5
"""A block needs each quarter of the item the upload shows (with at least
:data:`QUARTER_CELLS` counted cells) to agree on at least this share: an upload
that shares three quarters of a registered collage or meme template, with other
content in the fourth, is sent to review, not blocked."""
ITEM_FLAT = 0.6
"""A cell of the item with more flat pixels than this is chrome, text or
background, not the item's own picture: it neither confirms nor refutes."""
OVERLAY_FLAT = 0.25
"""A disagreeing cell of the upload with more flat pixels than this is covered
by an overlay (a sticker, a banner, a caption): excused."""


@dataclass(frozen=True, slots=True)
class ItemLocal:
    """What verification needs of a registered item: its keypoints (in its frame)
    and its cells."""

    features: LocalFeatures
    cells: Cells


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
    shares only part of the item (see :data:`QUARTER_AGREEMENT`)."""


def _pairs(item: U8, upload: U8) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
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


def _hypotheses(
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
    may rest on (:func:`verify_sides`). Made lazily: most true matches block on
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

    The ratio test of :func:`_pairs` drops every pair whose second nearest
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
    if _scale(corners, width, height) < MIN_SCALE:
        return None
    return corners


def _scale(points: F64, width: int, height: int) -> float:
    """The size of an item whose frame corners land at ``points``, as a share of
    its frame's side."""
    area = abs(float(cv2.contourArea(points.astype(np.float32))))
    return float(np.sqrt(area / (width * height)))


@dataclass(frozen=True, slots=True)
class _Agreement:
    share: float
    """Share of the counted cells whose content agrees."""
    counted: int
    weakest_quarter: float
    """The lowest share agreeing in a quarter of the item with enough counted cells."""
    shown: float
    """Share of the item's own (not flat) content that lies inside the upload."""


def _quarters(
    counted: npt.NDArray[np.bool_], shown: npt.NDArray[np.bool_], agree: npt.NDArray[np.bool_]
) -> float:
    """The lowest agreement among the item's four quarters (each a quarter of the
    grid) that count at least :data:`QUARTER_CELLS` cells; 1 when none do.
    Counting cells excused as under an overlay against a quarter cost a fifth
    of the sticker edits' blocks (docs/benchmarks.md). But a quarter that shows
    that many of the item's cells and agrees on none of them is another
    picture, however many of them are excused: a photo with a flat sky looks
    like an overlay cell by cell (0 then)."""
    half = CELL_GRID // 2
    grid_counted = counted.reshape(CELL_GRID, CELL_GRID)
    grid_shown = shown.reshape(CELL_GRID, CELL_GRID)
    grid_agree = (agree & counted).reshape(CELL_GRID, CELL_GRID)
    weakest = 1.0
    for rows in (slice(0, half), slice(half, None)):
        for cols in (slice(0, half), slice(half, None)):
            n = int(grid_counted[rows, cols].sum())
            agreeing = int(grid_agree[rows, cols].sum())
            if n >= QUARTER_CELLS:
                weakest = min(weakest, agreeing / n)
            elif agreeing == 0 and int(grid_shown[rows, cols].sum()) >= QUARTER_CELLS:
                weakest = 0.0
    return weakest


FULL_DETAIL_SCALE = 0.75
"""An item seen at this scale or larger in the upload's frame is compared on all
the frequencies of its cell signatures; smaller, on fewer (see :func:`_frequencies`)."""


def _frequencies(points: F64, width: int, height: int) -> tuple[np.uint64, int]:
    """The bits of a cell signature the upload can be compared on, and how many
    of them may differ, for an item whose frame corners land at ``points`` in
    the upload. An item shown small (an inset, one tile of a collage) carries
    its cells' fine detail in a few upload pixels, blurred by the resizing and
    the encoding, so only the frequencies below ``8 * scale / FULL_DETAIL_SCALE``
    a side (at least 4) are compared."""
    keep = int(np.clip(np.ceil(8 * _scale(points, width, height) / FULL_DETAIL_SCALE), 4, 8))
    mask, count = _LOW_FREQUENCIES[keep]
    return mask, round(MAX_CELL_BITS * count / 63)


_LOW_FREQUENCIES = {keep: low_frequencies(keep) for keep in range(4, 9)}


@dataclass(frozen=True, slots=True)
class _Comparison:
    """The upload's content against the item's, cell by cell (row-major over the
    item's grid)."""

    agree: npt.NDArray[np.bool_]
    counted: npt.NDArray[np.bool_]
    """Inside the upload, of the item's natural content, not excused."""
    visible: npt.NDArray[np.float64]
    """Of each cell of the item's natural content, the share inside the upload
    (0 for the other cells)."""
    own: int
    """Cells of the item's natural content."""

    @property
    def shown(self) -> npt.NDArray[np.bool_]:
        """The cells of the item's natural content inside the upload, whole
        (:data:`CELL_COVERED`)."""
        return np.asarray(self.visible >= CELL_COVERED)

    def within(self, region: npt.NDArray[np.bool_] | None = None) -> _Agreement:
        """The agreement over the cells of ``region`` (all cells when None)."""
        counted = self.counted if region is None else self.counted & region
        shown = self.shown if region is None else self.shown & region
        visible = self.visible if region is None else self.visible * region
        n = int(counted.sum())
        share = float((self.agree & counted).sum()) / n if n else 0.0
        seen = float(visible.sum()) / self.own if self.own else 0.0
        return _Agreement(share, n, _quarters(counted, shown, self.agree), seen)


def _compared(upload_frame: U8, h: F64, points: F64, item: ItemLocal) -> _Comparison:
    """The upload's content compared with the item's, in the item's frame
    (``points``: where ``h`` puts the item's frame corners in the upload)."""
    width, height = item.features.width, item.features.height
    inverse = np.linalg.inv(h)
    warped = cv2.warpPerspective(upload_frame, inverse, (width, height), flags=cv2.INTER_LINEAR)
    inside = u8(
        cv2.warpPerspective(
            np.full(upload_frame.shape[:2], 255, np.uint8),
            inverse,
            (width, height),
            flags=cv2.INTER_NEAREST,
        )
    )
    seen = cells(u8(warped))
    inside_shares = cell_shares(inside) / 255
    covered = inside_shares >= CELL_COVERED
    mask, most = _frequencies(points, width, height)
    bits = np.bitwise_count((seen.signatures ^ item.cells.signatures) & mask)
    agree = bits <= most
    natural = item.cells.flat < round(255 * ITEM_FLAT)
    excused = ~agree & (seen.flat >= round(255 * OVERLAY_FLAT))
    # How much of the item the upload shows counts the cells it cuts by the
    # share it shows: a picture whose content is at its edges (towers either
    # side of a sky) keeps most of it through a 10 % crop that cuts every edge cell.
    return _Comparison(
        agree, covered & natural & ~excused, inside_shares * natural, int(natural.sum())
    )


MAX_CUT_CELLS = 2
"""Rows or columns of cells a layout may cut off each side of an item (a
quarter): a tile or a pane cropping the picture to its own shape."""
SEAM_LEVELS = 16.0
"""Two pictures meeting at a seam differ by this many luma levels on average
from one side of it to the other, in every part of it."""
SEAM_GAP = 2
"""Rows apart on either side of a line that are compared across it."""
SEAM_WIDTH = 4
"""Rows a seam may spread over (a resize and JPEG blur it): this far off it to
one side or the other, the rows either side differ by half as much or less."""
SEAM_PARTS = 4
"""Parts of a line that must each be a seam."""
GUTTER_LEVELS = 3.0
"""A line whose pixels' standard deviation is under this is one flat colour."""
AXIS_SLOPE = 0.035
"""A side of the item within this slope (2 degrees) of the upload's axes."""


def _cuts() -> tuple[list[tuple[int, int, int, int]], npt.NDArray[np.bool_]]:
    """Every cut (cells off the top, bottom, left and right), smallest first, and
    the cells each leaves, ``(cuts, 64)``."""
    g = CELL_GRID
    rows, cols = np.arange(g * g) // g, np.arange(g * g) % g
    sides = product(range(MAX_CUT_CELLS + 1), repeat=4)
    cuts = sorted(((t, b, left, r) for t, b, left, r in sides if t + b + left + r), key=sum)
    regions = [
        (rows >= t) & (rows < g - b) & (cols >= left) & (cols < g - r) for t, b, left, r in cuts
    ]
    return cuts, np.array(regions)


_CUTS, _CUT_REGIONS = _cuts()


def _cut(
    compared: _Comparison, frame: U8, h: F64, item: ItemLocal, inliers: int, policy: MatchPolicy
) -> _Agreement | None:
    """The agreement over the part of the item a layout shows, when the item is
    cut off along straight lines of the upload: the smallest cut of at most
    :data:`MAX_CUT_CELLS` rows or columns of cells a side that leaves as much
    of the item as a block needs (``policy.local_block_shown``), in whole cells,
    agreeing as a block needs, where the upload has a seam (:func:`_seam`) in
    each cut-off band. None when there is none.

    A collage tile, a side-by-side pane or an app's picture frame shows a
    picture cropped to its own shape (cover), and the item's cells beyond the
    crop land on the neighbouring picture or a gutter and disagree. Cutting
    only where the upload has a straight, axis-aligned seam keeps an upload
    that differs from the item in an irregular region (another person in the
    same room) from being excused; cutting at most a quarter a side, and
    leaving 40 % of the item whole, keeps an upload that shares only one tile
    (a quarter) of a registered collage from passing."""
    # Every cut's counted, agreeing and shown cells at once; the few that could
    # block are then judged in full.
    counted = _CUT_REGIONS & compared.counted
    n = counted.sum(axis=1)
    agreeing = (counted & compared.agree).sum(axis=1)
    # Whole cells: the cells the upload's edge cuts do not count towards what a
    # cut leaves, so that one tile of a collage, and a ring of cut cells, is not enough.
    shown = (_CUT_REGIONS & compared.shown).sum(axis=1)
    possible = (
        (n >= policy.local_min_cells)
        & (agreeing >= policy.local_block_agreement * n)
        & (shown >= policy.local_block_shown * compared.own)
    )
    seams: dict[tuple[int, int], bool] = {}
    for i in np.flatnonzero(possible):
        cut = _CUTS[i]
        found = compared.within(_CUT_REGIONS[i])
        if _strength(inliers, found, policy) is not Strength.STRONG:
            continue
        sides = [(side, k) for side, k in enumerate(cut) if k]
        for side, k in sides:
            if (side, k) not in seams:
                seams[side, k] = _seam(frame, h, item.features, side, k, cut)
        if all(seams[key] for key in sides):
            return found
    return None


def _seam(
    frame: U8, h: F64, item: LocalFeatures, side: int, k: int, cut: tuple[int, int, int, int]
) -> bool:
    """Whether the upload has a straight seam where the item's ``k``-th row or
    column of cells from ``side`` (0 top, 1 bottom, 2 left, 3 right) lands: a
    line along the upload's axes, as long as the part of the item ``cut``
    leaves, where two pictures meet or a gutter runs."""
    g = CELL_GRID
    top, bottom, left, right = cut
    horizontal = side < 2
    size, across = (item.height, item.width) if horizontal else (item.width, item.height)
    start = (k - 1) * size / g if side in (0, 2) else size - k * size / g
    band = (start, start + size / g)
    first, last = (left, right) if horizontal else (top, bottom)
    span = (first * across / g, across - last * across / g)
    # The band's corners, (along the seam, across it) in item pixels, in the upload.
    corners = np.array([(a, b) for a in span for b in band], np.float64)
    if not horizontal:  # (x, y) is (across, along): turn it, and the upload with it
        corners = np.ascontiguousarray(corners[:, ::-1])
    mapped = cv2.perspectiveTransform(corners[None], h)[0]
    image = frame
    if not horizontal:
        mapped, image = mapped[:, ::-1], frame.T
    along, offset = mapped[:, 0], mapped[:, 1]
    # Each edge of the band must lie along one row of the upload (a column, turned).
    for a, b in ((0, 2), (1, 3)):
        if abs(offset[b] - offset[a]) > AXIS_SLOPE * max(abs(along[b] - along[a]), 1.0):
            return False
    lo, hi = float(along.min()), float(along.max())
    trim = (hi - lo) / 10
    x0, x1 = max(0, round(lo + trim)), min(image.shape[1], round(hi - trim))
    y0 = max(1, int(np.floor(offset.min())))
    y1 = min(image.shape[0] - 1, int(np.ceil(offset.max())))
    if x1 - x0 < 16 * SEAM_PARTS or y1 <= y0:
        return False
    if (image[y0:y1, x0:x1].std(axis=1) <= GUTTER_LEVELS).any():
        return True
    # How much the rows either side of each row differ, in each part of the
    # line: across a seam the two pictures differ all along it, and a seam's
    # width off it, on one side at least, they do not; a caption bar under part
    # of the line, a line of text, texture or a soft edge fail one or the other.
    pad = SEAM_WIDTH + SEAM_GAP
    strip = image[max(0, y0 - pad) : y1 + pad, x0:x1].astype(np.float32)
    steps = np.abs(strip[2 * SEAM_GAP :] - strip[: -2 * SEAM_GAP])
    parts = np.stack([p.mean(axis=1) for p in np.array_split(steps, SEAM_PARTS, axis=1)])
    on = parts[:, SEAM_WIDTH:-SEAM_WIDTH]
    off = np.minimum(parts[:, : -2 * SEAM_WIDTH], parts[:, 2 * SEAM_WIDTH :])
    return bool(((on >= SEAM_LEVELS) & (off <= on / 2)).all(axis=0).any())


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

    Every hypothesis (:func:`_hypotheses`) of every side may make a block, and
    the first that does is the match. A review rests on the plain homography
    only (the one with most inliers of either side): its bar, half the cells,
    is low enough that half a dozen geometries tried on each of an upload's
    candidates, and of a clip's sixteen keyframes, would pass it by chance now
    and then; a block's bar is not."""
    near: LocalMatch | None = None
    for side in tries:
        rows, cols = _pairs(item.features.descriptors, side.descriptors)
        if len(rows) < MIN_PAIRS:
            continue
        for guess in _hypotheses(item.features, rows, side.descriptors, side.xy, cols):
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
    compared = _compared(side.frame, guess.h, points, item)
    found = compared.within()
    strength = _strength(inliers, found, policy)
    if strength is not Strength.STRONG:
        cut = _cut(compared, side.frame, guess.h, item, inliers, policy)
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


def _strength(inliers: int, found: _Agreement, policy: MatchPolicy) -> Strength:
    agreement, counted = found.share, found.counted
    if (
        inliers >= policy.local_block_inliers
        and counted >= policy.local_min_cells
        and agreement >= policy.local_block_agreement
        and found.weakest_quarter >= QUARTER_AGREEMENT
        and found.shown >= policy.local_block_shown
    ):
        return Strength.STRONG
    if counted >= policy.local_min_cells and agreement >= policy.local_review_agreement:
        return Strength.NEAR
    return Strength.NONE


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
