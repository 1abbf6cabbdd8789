"""Trimming of uniform borders: letterbox bars, padding, mattes."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from hashing.types import u8

# Luma levels a border pixel may stray from the border's own level. JPEG ringing
# at a hard edge and mild noise stay within this on 8-bit images.
BORDER_TOLERANCE = 12
# Share of a row or column's pixels that must be border-coloured for the row to
# count as border; the rest leaves room for a watermark or a logo in the bar.
BORDER_ROW_SHARE = 0.97
# Never trim to less than this share of a side: a mostly flat image is content.
MIN_KEPT_SHARE = 0.2


@dataclass(frozen=True, slots=True)
class Box:
    """A crop rectangle in pixel coordinates, half-open: rows [top, bottom)."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left


def _border_run(gray: npt.NDArray[np.uint8], level: int, axis: int, reverse: bool) -> int:
    """How many rows (axis=1) or columns (axis=0) from one edge are border."""
    # Most photos have no border: look at a strip by the edge first, and at the
    # whole image only when the strip is all border.
    size = gray.shape[0] if axis == 1 else gray.shape[1]
    if size > 2 * _EDGE_STRIP:
        edge = slice(size - _EDGE_STRIP, size) if reverse else slice(0, _EDGE_STRIP)
        strip = gray[edge] if axis == 1 else gray[:, edge]
        run = _run_in(strip, level, axis, reverse)
        if run < _EDGE_STRIP:
            return run
    return _run_in(gray, level, axis, reverse)


# Rows or columns looked at first by :func:`_border_run`.
_EDGE_STRIP = 8


def _run_in(gray: npt.NDArray[np.uint8], level: int, axis: int, reverse: bool) -> int:
    close = cv2.inRange(gray, level - BORDER_TOLERANCE, level + BORDER_TOLERANCE)
    share = cv2.reduce(close, axis, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel() / 255.0
    if reverse:
        share = share[::-1]
    not_border = np.flatnonzero(share < BORDER_ROW_SHARE)
    return int(not_border[0]) if not_border.size else int(share.size)


def _trim_once(gray: npt.NDArray[np.uint8]) -> Box:
    height, width = gray.shape
    top = _border_run(gray, int(np.median(gray[0])), 1, reverse=False)
    bottom = _border_run(gray, int(np.median(gray[-1])), 1, reverse=True)
    left = _border_run(gray, int(np.median(gray[:, 0])), 0, reverse=False)
    right = _border_run(gray, int(np.median(gray[:, -1])), 0, reverse=True)
    return Box(top=top, bottom=height - bottom, left=left, right=width - right)


def luma(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Luma of RGB pixels; luma is returned as it is."""
    return pixels if pixels.ndim == 2 else u8(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY))


def trim_passes(pixels: npt.NDArray[np.uint8], passes: int = 3) -> list[Box]:
    """The content box after each pass of border trimming that changed it
    (RGB pixels or luma).

    One pass trims each side independently against the median luma of its
    outermost row or column, so asymmetric padding works. A later pass peels
    what lay under the first border: padding around a photo whose own edge is a
    flat strip (sky, a studio backdrop) comes off in pass one, the strip in pass
    two, which is what one pass takes off the unpadded photo. Every box keeps at
    least 20% of each side of the whole image; the first is the whole image when
    nothing is trimmed.
    """
    gray = luma(pixels)
    height, width = gray.shape
    box = Box(0, height, 0, width)
    boxes: list[Box] = []
    for _ in range(passes):
        inner = _trim_once(gray[box.top : box.bottom, box.left : box.right])
        trimmed = Box(
            top=box.top + inner.top,
            bottom=box.top + inner.bottom,
            left=box.left + inner.left,
            right=box.left + inner.right,
        )
        if trimmed.height < MIN_KEPT_SHARE * height or trimmed.width < MIN_KEPT_SHARE * width:
            break
        if trimmed == box:
            break
        boxes.append(trimmed)
        box = trimmed
    return boxes or [Box(0, height, 0, width)]


def find_content(pixels: npt.NDArray[np.uint8]) -> Box:
    """The box left after one pass of trimming uniform borders (see :func:`trim_passes`).

    Returns the whole image when trimming would keep less than 20% of a side.
    """
    return trim_passes(pixels, passes=1)[0]


def crop(pixels: npt.NDArray[np.uint8], box: Box) -> npt.NDArray[np.uint8]:
    return pixels[box.top : box.bottom, box.left : box.right]
