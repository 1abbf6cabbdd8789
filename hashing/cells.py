"""Cell signatures: where a picture's content is, cell by cell of a coarse grid.

A match found by keypoints (:mod:`matching.local`) is checked against the
item's own content through these: per cell, a signature of its low DCT
frequencies and the share of its pixels that are flat (see
:func:`hashing.features.flat_pixels`). They are stored with an item's local
features.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

from hashing.features import U8, flat_pixels

CELL_GRID = 8
"""Cells a side of the grid of cell signatures: 64 cells a picture."""


@dataclass(frozen=True, slots=True)
class Cells:
    """A coarse account of where a picture's content is, for checking that a
    match found by keypoints lines up with the item's own content
    (:mod:`matching.local`): per cell of a :data:`CELL_GRID` grid, a 63-bit
    signature (signs of the low DCT coefficients of the cell, against their
    median, as pHash does for a whole picture) and the share of its pixels
    that are flat (0-255)."""

    signatures: npt.NDArray[np.uint64]
    flat: U8


def _cell_bounds(height: int, width: int) -> list[tuple[int, int, int, int]]:
    g = CELL_GRID
    return [
        (row * height // g, (row + 1) * height // g, col * width // g, (col + 1) * width // g)
        for row in range(g)
        for col in range(g)
    ]


def low_frequencies(keep: int) -> tuple[np.uint64, int]:
    """The bits of a cell signature (:func:`cells`) that hold the ``keep`` x
    ``keep`` lowest of its 8 x 8 frequencies, and how many they are."""
    positions = [u * 8 + v - 1 for u in range(keep) for v in range(keep) if u or v]
    return np.uint64(sum(1 << p for p in positions)), len(positions)


def cells(frame: U8) -> Cells:
    """The cell signatures and flat shares of a luma frame (an item's, or an
    upload's warped into an item's frame)."""
    h, w = frame.shape[:2]
    low = _cell_frequencies(frame)
    bits = low > np.median(low, axis=1, keepdims=True)
    signatures = (bits.astype(np.uint64) << np.arange(63, dtype=np.uint64)).sum(
        axis=1, dtype=np.uint64
    )
    empty = np.array([b <= t or r <= left for t, b, left, r in _cell_bounds(h, w)])
    signatures[empty] = 0
    shares = np.round(255 * cell_shares(flat_pixels(frame).astype(np.uint8)))
    return Cells(signatures, shares.astype(np.uint8))


CELL_SIDE = 32
"""Each cell is resampled to this many pixels a side before its DCT."""


def _cell_frequencies(frame: U8) -> npt.NDArray[np.float64]:
    """The 63 lowest DCT coefficients (8 x 8 less the DC term) of each cell after
    OpenCV's area resize to :data:`CELL_SIDE` pixels a side, ``(64, 63)``.

    Both steps are linear and separable, so each cell's coefficients are a
    product of small matrices (:func:`_projection`) with the cell's pixels,
    computed band by band: the same numbers as 64 resizes and DCTs, to float
    rounding, in a seventh of the time (tests/hashing/test_features.py)."""
    h, w = frame.shape[:2]
    g = CELL_GRID
    pixels = frame.astype(np.float64)
    rows = [(r * h // g, (r + 1) * h // g) for r in range(g)]
    cols = [(c * w // g, (c + 1) * w // g) for c in range(g)]
    out = np.zeros((g * g, 64))
    bands: dict[tuple[int, bool], npt.NDArray[np.float64]] = {}
    for r, (top, bottom) in enumerate(rows):
        for c, (left, right) in enumerate(cols):
            if bottom <= top or right <= left:
                continue
            # OpenCV averages areas only when the cell shrinks both ways.
            area = bottom - top >= CELL_SIDE and right - left >= CELL_SIDE
            if (r, area) not in bands:
                bands[r, area] = _projection(bottom - top, area) @ pixels[top:bottom]
            block = bands[r, area][:, left:right] @ _projection(right - left, area).T
            out[r * g + c] = block.ravel()
    return out[:, 1:]  # the DC term says only how bright the cell is


_DCT = np.sqrt(2 / CELL_SIDE) * np.cos(
    np.pi * (2 * np.arange(CELL_SIDE)[None, :] + 1) * np.arange(8)[:, None] / (2 * CELL_SIDE)
)
_DCT[0] /= np.sqrt(2)
"""The 8 lowest rows of the orthonormal DCT-II on :data:`CELL_SIDE` points, as cv2.dct."""


@lru_cache(maxsize=256)
def _projection(n: int, area: bool) -> npt.NDArray[np.float64]:
    """``(8, n)``: a run of ``n`` pixels resampled to :data:`CELL_SIDE` as
    cv2.resize with INTER_AREA does (the area average when the cell shrinks
    both ways, else OpenCV's area-weighted linear interpolation), then its 8
    lowest DCT coefficients."""
    resample = np.zeros((CELL_SIDE, n))
    if area:
        step = n / CELL_SIDE
        for i in range(CELL_SIDE):
            start, end = i * step, (i + 1) * step
            for x in range(int(np.floor(start)), min(n, int(np.ceil(end)))):
                resample[i, x] = (min(end, x + 1) - max(start, x)) / step
    else:
        zoom = CELL_SIDE / n
        for i in range(CELL_SIDE):
            x = int(np.floor(i / zoom))
            weight = (i + 1) - (x + 1) * zoom
            weight = 0.0 if weight <= 0 else weight - np.floor(weight)
            resample[i, min(x, n - 1)] += 1 - weight
            resample[i, min(x + 1, n - 1)] += weight
    out: npt.NDArray[np.float64] = _DCT @ resample
    out.flags.writeable = False
    return out


def cell_shares(mask: U8) -> npt.NDArray[np.float64]:
    """The mean of ``mask`` over each cell of the grid (0 for an empty cell), from
    one integral image."""
    h, w = mask.shape[:2]
    total = cv2.integral(mask, sdepth=cv2.CV_64F)
    edges_y = np.arange(CELL_GRID + 1) * h // CELL_GRID
    edges_x = np.arange(CELL_GRID + 1) * w // CELL_GRID
    sums = (
        total[edges_y[1:, None], edges_x[None, 1:]]
        - total[edges_y[:-1, None], edges_x[None, 1:]]
        - total[edges_y[1:, None], edges_x[None, :-1]]
        + total[edges_y[:-1, None], edges_x[None, :-1]]
    )
    areas = np.diff(edges_y)[:, None] * np.diff(edges_x)[None, :]
    means = np.divide(sums, areas, out=np.zeros_like(sums), where=areas > 0)
    return np.asarray(means.ravel(), np.float64)
