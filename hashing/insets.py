"""Finding pictures set into an upload: picture in picture.

The local tier finds a registered picture in an upload down to about a quarter
of the upload's size (:mod:`hashing.features`). A picture set into a corner of
another, at 6-16 % of its area, is under that: few of its corners are found at
the upload's scale, and those few are too blurred to pair with the item's. Seen
again on its own, enlarged to the upload's frame, it is found like any photo.

Such an inset is a rectangle along the upload's axes, and along each of its
sides two pictures meet (or a border meets each): a step in brightness across
the side, a pixel or two wide, nearly all the way along. A photograph's own
straight edges (a window, a shelf, a horizon) rarely run that clean along four
sides of one rectangle, so :func:`insets` is cheap to run on every upload the
rest of the check did not settle, and rarely proposes a rectangle that is not
an inset (docs/benchmarks.md measures how rarely).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

from hashing.types import u8

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]

STEP_LEVELS = 16
"""Luma levels by which the rows either side of a seam differ (two rows apart)."""
FLANK_SHARE = 0.4
"""A step is thin when the change a row further out, on at least one side, is at
most this share of it: what a seam is, and what texture and soft edges are not."""
SIDE_COVER = 0.9
"""Share of each side's length that must be thin steps (within a row of its line)."""
MIN_SIDE = 0.15
"""Shortest side of an inset, as a share of the upload's side along it."""
MAX_SIDE = 0.85
MAX_AREA = 0.5
"""Largest inset, as a share of the upload's area: a larger picture is found
by the local tier in the whole upload."""
LINES = 16
"""Candidate lines kept each way: the rows (columns) with most of their length
in long runs of thin steps."""
REAL_SIDES = 2
"""Sides an inset must show as seams; the others may be the upload's own edges
(a picture set flush into a corner)."""
EDGE = 2.0
"""The cover of a side that is the frame's own edge: no seam needed there."""


class Box(NamedTuple):
    """A rectangle of an upload's frame, in pixels: ``x0 <= x < x1``, ``y0 <= y < y1``."""

    x0: int
    y0: int
    x1: int
    y1: int


def _thin_steps(frame: U8) -> U8:
    """1 where rows ``y - 1`` and ``y + 1`` differ by :data:`STEP_LEVELS` or more
    and the next row out on one side or the other changes little: a horizontal
    seam at ``y``."""
    n = frame.shape[0]
    out = np.zeros(frame.shape, np.uint8)
    if n < 5:
        return out
    step = cv2.absdiff(frame[3 : n - 1], frame[1 : n - 3])
    flank = cv2.min(
        cv2.absdiff(frame[1 : n - 3], frame[: n - 4]), cv2.absdiff(frame[4:], frame[3 : n - 1])
    )
    # flank <= FLANK_SHARE * step, in saturating uint8 arithmetic (0 when it holds).
    excess = u8(cv2.addWeighted(flank, 1 / FLANK_SHARE, step, -1.0, 0.0))
    out[2 : n - 2] = (u8(step) >= STEP_LEVELS) & (excess == 0)
    return out


def _lines(steps: U8, length: int) -> tuple[I64, npt.NDArray[np.int32]]:
    """The rows with a run of ``length`` mostly thin steps, those with most such
    runs first (at most :data:`LINES`, each the most of the rows within 2 of it),
    and the integral image of the thin steps within a row of each row, for
    measuring sides (:meth:`_Lines.cover`)."""
    near = cv2.dilate(steps, np.ones((3, 1), np.uint8))
    window = cv2.boxFilter(
        near, cv2.CV_16U, (length, 1), normalize=False, borderType=cv2.BORDER_CONSTANT
    )
    # Windows with at least SIDE_COVER of their pixels thin steps (the sums are whole).
    _, full = cv2.threshold(window, math.ceil(SIDE_COVER * length) - 0.5, 1, cv2.THRESH_BINARY)
    counted = cv2.reduce(full, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32F)
    most = np.asarray(cv2.dilate(counted, np.ones((5, 1), np.uint8))).ravel()
    runs = np.asarray(counted).ravel()
    rows = np.flatnonzero((runs > 0) & (runs == most))
    rows = rows[np.argsort(-runs[rows], kind="stable")][:LINES]
    return rows.astype(np.int64), np.asarray(cv2.integral(near), np.int32)


class _Lines(NamedTuple):
    """Candidate lines one way (rows, or columns of the turned frame), with the
    frame's two edges, and every pair of them as ``(low, high)`` indices."""

    at: I64
    edge: npt.NDArray[np.bool_]
    low: I64
    high: I64
    total: npt.NDArray[np.int32]

    @classmethod
    def of(cls, frame: U8, length: int) -> _Lines:
        rows, total = _lines(_thin_steps(frame), length)
        size = frame.shape[0]
        at = np.concatenate([rows, [0, size - 1]])
        edge = np.concatenate([np.zeros(len(rows), bool), [True, True]])
        order = np.argsort(at, kind="stable")
        low, high = np.triu_indices(len(at), 1)
        return cls(at[order], edge[order], low, high, total)

    def spans(self) -> tuple[I64, I64]:
        return self.at[self.low], self.at[self.high]

    def cover(self, start: I64, stop: I64) -> npt.NDArray[np.float64]:
        """``(lines, spans)``: the share of each span of each line that is thin
        steps; :data:`EDGE` for the frame's edges."""
        line = self.at[:, None]
        t = self.total
        inside = (t[line + 1, stop] - t[line, stop]) - (t[line + 1, start] - t[line, start])
        share = inside / np.maximum(1, stop - start)
        return np.where(self.edge[:, None], EDGE, share)


def insets(frame: U8, limit: int = 1) -> list[Box]:
    """Up to ``limit`` rectangles of a luma frame that look like a picture set
    into it, most seams first; the frame itself is never one."""
    h, w = frame.shape[:2]
    if min(h, w) < 32 or limit <= 0:
        return []
    rows = _Lines.of(frame, round(MIN_SIDE * w))
    cols = _Lines.of(u8(cv2.transpose(frame)), round(MIN_SIDE * h))
    y0, y1 = rows.spans()
    x0, x1 = cols.spans()
    # Each row's cover over each pair of columns, each column's over each pair of rows.
    across = rows.cover(x0, x1)
    down = cols.cover(y0, y1)
    # Every rectangle: a pair of rows (axis 0) by a pair of columns (axis 1).
    sides = np.stack([across[rows.low], across[rows.high], down[cols.low].T, down[cols.high].T])
    weakest = sides.min(axis=0)
    real_rows = (~rows.edge[rows.low]).astype(np.int64) + ~rows.edge[rows.high]
    real_cols = (~cols.edge[cols.low]).astype(np.int64) + ~cols.edge[cols.high]
    real = real_rows[:, None] + real_cols[None, :]
    tall, wide = y1 - y0, x1 - x0
    possible = (
        (weakest >= SIDE_COVER)
        & (real >= REAL_SIDES)
        & ((tall >= MIN_SIDE * h) & (tall <= MAX_SIDE * h))[:, None]
        & ((wide >= MIN_SIDE * w) & (wide <= MAX_SIDE * w))[None, :]
        & (tall[:, None] * wide[None, :] <= MAX_AREA * w * h)
    )
    r, c = np.nonzero(possible)
    chosen: list[Box] = []
    for i in np.lexsort((-weakest[r, c], -real[r, c])):
        box = Box(int(x0[c[i]]), int(y0[r[i]]), int(x1[c[i]]) + 1, int(y1[r[i]]) + 1)
        # The seams of one inset make several boxes a row or two apart.
        if all(_overlap(box, other) < 0.5 for other in chosen):
            chosen.append(box)
            if len(chosen) == limit:
                break
    return chosen


def _overlap(a: Box, b: Box) -> float:
    """Intersection over union."""
    w = max(0, min(a.x1, b.x1) - max(a.x0, b.x0))
    h = max(0, min(a.y1, b.y1) - max(a.y0, b.y0))
    union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - w * h
    return w * h / union
