"""Layout cuts: an item a tile, a pane or an app's frame crops to its own shape is
judged on the part the layout shows, where the upload has a straight seam at
the cut (:func:`layout_cut`).
"""

from __future__ import annotations

from itertools import product

import cv2
import numpy as np
import numpy.typing as npt

from hashing.cells import CELL_GRID
from hashing.features import LocalFeatures
from matching.agreement import (
    Agreement,
    Comparison,
    ItemLocal,
    graded,
)
from matching.geometry import F64, U8
from matching.policy import MatchPolicy
from matching.rules import Strength

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


def layout_cut(
    compared: Comparison, frame: U8, h: F64, item: ItemLocal, inliers: int, policy: MatchPolicy
) -> Agreement | None:
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
        if graded(inliers, found, policy) is not Strength.STRONG:
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
