"""Whether what the keypoints found is the item's own content: the upload warped
into the item's frame and compared with the item's cell signatures, cell by cell
(step 3 of :mod:`matching.local`), and the strength of the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from hashing.cells import CELL_GRID, Cells, cell_shares, cells, low_frequencies
from hashing.features import LocalFeatures
from hashing.types import u8
from matching.geometry import F64, U8, item_scale
from matching.policy import MatchPolicy
from matching.rules import Strength

CELL_COVERED = 0.97
"""A cell counts only when this share of it lies inside the upload."""


MAX_CELL_BITS = 22
"""Signatures (63 bits) this close agree."""


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
class Agreement:
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
    keep = int(np.clip(np.ceil(8 * item_scale(points, width, height) / FULL_DETAIL_SCALE), 4, 8))
    mask, count = _LOW_FREQUENCIES[keep]
    return mask, round(MAX_CELL_BITS * count / 63)


_LOW_FREQUENCIES = {keep: low_frequencies(keep) for keep in range(4, 9)}


@dataclass(frozen=True, slots=True)
class Comparison:
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

    def within(self, region: npt.NDArray[np.bool_] | None = None) -> Agreement:
        """The agreement over the cells of ``region`` (all cells when None)."""
        counted = self.counted if region is None else self.counted & region
        shown = self.shown if region is None else self.shown & region
        visible = self.visible if region is None else self.visible * region
        n = int(counted.sum())
        share = float((self.agree & counted).sum()) / n if n else 0.0
        seen = float(visible.sum()) / self.own if self.own else 0.0
        return Agreement(share, n, _quarters(counted, shown, self.agree), seen)


def compare_cells(upload_frame: U8, h: F64, points: F64, item: ItemLocal) -> Comparison:
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
    return Comparison(
        agree, covered & natural & ~excused, inside_shares * natural, int(natural.sum())
    )


def graded(inliers: int, found: Agreement, policy: MatchPolicy) -> Strength:
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
