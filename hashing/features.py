"""Local features: ORB keypoints and binary descriptors (cell signatures are in
:mod:`hashing.cells`).

Global hashes (PDQ, pHash) summarise a whole picture, so they fail once the
picture is a part of what was uploaded (a screenshot, a collage, a crop of half
of it) or turned by more than a few degrees. Local features describe small
patches around corners, wherever they are, so a registered picture can be found
inside an upload and the transform between them recovered
(:mod:`matching.local`).

Registration and checks extract differently, by design:

* an **item** (registration) is looked at in a frame of :data:`ITEM_SIDE` pixels
  on its long side, through ORB's whole 8-level pyramid (scales 1 to 1/3.6), and
  keeps :data:`ITEM_KEYPOINTS` keypoints spread over the picture (a crop keeps
  its share of them);
* an **upload** (check) is looked at in a frame of about :data:`UPLOAD_AREA`
  pixels, through 3 levels only (1, 1/1.44, 1/2.07), and keeps up to
  :data:`UPLOAD_KEYPOINTS`, spread, plus their descriptors in the mirrored frame.

Between them the scales overlap for a picture filling anything from a quarter to
one and a half times the upload's frame (a tile of a collage, a picture inside a
phone screenshot, a half crop shown full size), while a check pays for three
pyramid levels, not eight (ORB's detection cost here: 2.2 ms for 3 levels of a
512x384 frame, measured in docs/benchmarks.md).

Keypoints are spread by a grid: strong corners cluster on text and app chrome,
and without spreading a meme's captions took most of the upload's keypoints.

Stored per item: keypoint positions (frame pixels) and 32-byte descriptors, no
pixels; docs/local-features.md says what that could reveal.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from hashing.types import u8

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]

DESCRIPTOR_BYTES = 32

ITEM_SIDE = 420
"""Long side, in pixels, of the frame an item's keypoints are found in."""
ITEM_KEYPOINTS = 128
"""Enough that a quarter of an item (a collage tile, a half crop) still holds the
keypoints a block needs (docs/benchmarks.md, section 1b, measured 96 against 128)."""
ITEM_LEVELS = 8
SCALE_BANDS = (((0, 1, 2), 0.42), ((3, 4), 0.33), ((5, 6, 7), 0.25))
"""An item's keypoints are drawn from fine, middle and coarse pyramid levels in
these shares: left to ORB, the coarse levels (which a picture shown small, in a
collage or a corner, can only match) got few of them."""
UPLOAD_AREA = 512 * 384
"""Pixels of the frame an upload's keypoints are found in (its shape is kept)."""
UPLOAD_KEYPOINTS = 800
UPLOAD_LEVELS = 3
UPLOAD_SCALE = 1.44
UPLOAD_FAST_THRESHOLD = 15
"""FAST's corner threshold for uploads; 7 (for items) doubled detection time on
textured photos and found corners mostly on noise."""
SPREAD_CELLS = 8
"""Keypoints are spread over an 8x8 grid of the frame: round-robin over cells,
strongest first in each."""
FLAT_RANGE = 4
"""A pixel is flat when its 5x5 neighbourhood spans at most this many luma levels:
what app chrome, banners, stickers and text backgrounds are made of, and
photographs rarely are (JPEG's noise alone spans more)."""
PATCH_FLAT = 0.6
"""A keypoint whose 31x31 patch has more flat pixels than this is on text, app
chrome or a sticker, not on a picture: it is not kept. Glyphs and icons are the
same in every screenshot of an app, so such keypoints vote for every item
registered in that app's frame and crowd the item itself out of the candidates."""


@dataclass(frozen=True, slots=True)
class LocalFeatures:
    """Keypoints of one picture: positions ``xy`` (``(n, 2)`` float32, pixels of
    a ``width`` x ``height`` frame), ORB ``descriptors`` (``(n, 32)`` uint8), and
    for an upload, ``mirrored``: each keypoint's descriptor in the horizontally
    flipped frame (at x' = width - 1 - x), so a mirrored upload is matched too."""

    xy: F32
    descriptors: U8
    width: int
    height: int
    mirrored: U8 | None = None

    def __len__(self) -> int:
        return int(self.xy.shape[0])


def _frame(luma: U8, scale: float) -> U8:
    h, w = luma.shape[:2]
    size = (max(16, round(w * scale)), max(16, round(h * scale)))
    if size == (w, h):
        return luma
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return u8(cv2.resize(luma, size, interpolation=interpolation))


def item_frame(luma: U8) -> U8:
    """An item's luma in its feature frame: long side :data:`ITEM_SIDE`."""
    h, w = luma.shape[:2]
    return _frame(luma, ITEM_SIDE / max(h, w))


def upload_frame(luma: U8, area: int = UPLOAD_AREA) -> U8:
    """An upload's luma in its feature frame: about ``area`` pixels.
    A small upload is enlarged: its corners are then found at the scales an
    item's are. Decoded luma already within a third of that area is used as it
    is (a 1-MP JPEG decodes at 578x433): resizing it cost a millisecond."""
    h, w = luma.shape[:2]
    scale = (area / (h * w)) ** 0.5
    return luma if 0.75 <= scale <= 1.33 else _frame(luma, scale)


def flat_pixels(frame: U8) -> npt.NDArray[np.bool_]:
    """Which pixels of a luma frame are flat (see :data:`FLAT_RANGE`)."""
    kernel = np.ones((5, 5), np.uint8)
    spread = cv2.subtract(cv2.dilate(frame, kernel), cv2.erode(frame, kernel))
    return np.asarray(spread <= FLAT_RANGE)


def content_outside(frame: U8, corners: Sequence[tuple[float, float]]) -> float:
    """The share of a frame's pixels that lie outside a quadrilateral (its
    ``corners`` as shares of the frame's width and height) and are not flat:
    what a picture shows beside a region, fill, bars and plain backgrounds not
    counted."""
    h, w = frame.shape[:2]
    quad = np.round(np.asarray(corners, np.float64) * (w, h)).astype(np.int32)
    inside = np.zeros((h, w), np.uint8)
    cv2.fillPoly(inside, [quad], 1)
    shown = ~flat_pixels(frame) & (inside == 0)
    return float(np.count_nonzero(shown) / (h * w))


PATCH_SIDE = 31
"""ORB's patch: the square a keypoint's descriptor is made from."""


def _patch_flat_shares(points: F32, frame: U8) -> npt.NDArray[np.float64]:
    """The share of flat pixels in the patch around each point: what a box
    filter of the flat mask gives (its border reflected, as cv2.blur's), read
    at the points only from one integral image."""
    half = PATCH_SIDE // 2
    flat = u8(flat_pixels(frame))
    padded = cv2.copyMakeBorder(flat, half, half, half, half, cv2.BORDER_REFLECT_101)
    total = np.asarray(cv2.integral(padded), np.int64)
    h, w = frame.shape[:2]
    cols = np.clip(points[:, 0].round().astype(np.intp), 0, w - 1)
    rows = np.clip(points[:, 1].round().astype(np.intp), 0, h - 1)
    sums = (
        total[rows + PATCH_SIDE, cols + PATCH_SIDE]
        - total[rows, cols + PATCH_SIDE]
        - total[rows + PATCH_SIDE, cols]
        + total[rows, cols]
    )
    return np.asarray(sums / PATCH_SIDE**2, np.float64)


def _spread(
    points: F32, response: F32, chosen: npt.NDArray[np.intp], count: int, width: int, height: int
) -> npt.NDArray[np.intp]:
    """Up to ``count`` of the ``chosen`` keypoints, taken round-robin over the
    cells of a grid (strongest first in each cell, the strongest cells' first
    first)."""
    if len(chosen) <= count:
        return chosen
    xy, strength = points[chosen], response[chosen]
    row = np.minimum(xy[:, 1] * SPREAD_CELLS / height, SPREAD_CELLS - 1).astype(np.int32)
    col = np.minimum(xy[:, 0] * SPREAD_CELLS / width, SPREAD_CELLS - 1).astype(np.int32)
    cell = row * SPREAD_CELLS + col
    by_cell = np.lexsort((-strength, cell))
    cells = cell[by_cell]
    rank = np.arange(len(cells)) - np.searchsorted(cells, cells, side="left")
    return chosen[by_cell[np.lexsort((-strength[by_cell], rank))][:count]]


def _kept(
    keypoints: Sequence[cv2.KeyPoint], frame: U8, bands: Sequence[tuple[Sequence[int], int]]
) -> list[cv2.KeyPoint]:
    """The keypoints on the picture (:data:`PATCH_FLAT`), spread, up to a count
    from each band of pyramid levels."""
    if not keypoints:
        return []
    h, w = frame.shape[:2]
    points = np.asarray(cv2.KeyPoint.convert(keypoints), np.float32)
    response = np.array([k.response for k in keypoints], np.float32)
    octave = np.array([k.octave for k in keypoints], np.int32)
    on_picture = _patch_flat_shares(points, frame) <= PATCH_FLAT
    chosen = [
        _spread(points, response, np.flatnonzero(on_picture & np.isin(octave, levels)), n, w, h)
        for levels, n in bands
    ]
    return [keypoints[i] for i in np.concatenate(chosen)]


def _orb(count: int, levels: int, scale: float, fast: int) -> cv2.ORB:
    return cv2.ORB.create(
        nfeatures=count,
        scaleFactor=scale,
        nlevels=levels,
        edgeThreshold=15,
        patchSize=31,
        fastThreshold=fast,
    )


class _Detectors(threading.local):
    """Each thread's own ORB detectors: OpenCV does not promise that one
    detector may be used by several threads at once, and a process hashes
    checks and registrations in several threads."""

    def __init__(self) -> None:
        self.item = _orb(6 * ITEM_KEYPOINTS, ITEM_LEVELS, 1.2, 7)
        self.upload = _orb(2 * UPLOAD_KEYPOINTS, UPLOAD_LEVELS, UPLOAD_SCALE, UPLOAD_FAST_THRESHOLD)


_DETECTORS = _Detectors()


def _empty(frame: U8) -> LocalFeatures:
    h, w = frame.shape[:2]
    return LocalFeatures(
        np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8), w, h
    )


def item_features(luma: U8) -> tuple[LocalFeatures, U8]:
    """An item's keypoints (up to :data:`ITEM_KEYPOINTS`, spread) and its frame."""
    frame = item_frame(luma)
    h, w = frame.shape[:2]
    orb = _DETECTORS.item
    bands = [(levels, round(share * ITEM_KEYPOINTS)) for levels, share in SCALE_BANDS]
    found = _kept(orb.detect(frame, None), frame, bands)
    keypoints, descriptors = orb.compute(frame, found)
    if descriptors is None or not keypoints:
        return _empty(frame), frame
    xy = np.asarray(cv2.KeyPoint.convert(keypoints), np.float32)
    return LocalFeatures(xy, u8(descriptors), w, h), frame


def upload_features(luma: U8, area: int = UPLOAD_AREA) -> tuple[LocalFeatures, U8]:
    """An upload's keypoints (up to :data:`UPLOAD_KEYPOINTS`, spread), with their
    mirrored descriptors, and its frame (of about ``area`` pixels)."""
    frame = upload_frame(luma, area)
    h, w = frame.shape[:2]
    orb = _DETECTORS.upload
    found = _kept(orb.detect(frame, None), frame, [(range(UPLOAD_LEVELS), UPLOAD_KEYPOINTS)])
    keypoints, descriptors = orb.compute(frame, found)
    if descriptors is None or not keypoints:
        return _empty(frame), frame
    xy = np.asarray(cv2.KeyPoint.convert(keypoints), np.float32)
    # The same corners in the flipped frame, their orientation mirrored; ORB's
    # compute keeps given angles, so only the descriptors are made again. The
    # keypoints are this call's own: changed in place, which costs less than new ones.
    for k in keypoints:
        x, y = k.pt
        k.pt = (w - 1 - x, y)
        k.angle = (180 - k.angle) % 360
    kept, mirrored = orb.compute(cv2.flip(frame, 1), keypoints)
    if mirrored is None or len(kept) != len(keypoints):
        return LocalFeatures(xy, u8(descriptors), w, h), frame
    return LocalFeatures(xy, u8(descriptors), w, h, u8(mirrored)), frame
