"""Cell signatures: what a local match's content is compared on."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hashing.cells import CELL_GRID, _cell_frequencies, cell_shares, cells
from hashing.decode import decode_image
from hashing.features import (
    PATCH_SIDE,
    _patch_flat_shares,
    content_outside,
    flat_pixels,
    item_frame,
)
from tests.conftest import PHOTOS


@pytest.mark.parametrize("shape", [(420, 315), (433, 578), (13, 9)])
def test_cell_shares_are_each_cells_mean(shape: tuple[int, int]) -> None:
    mask = np.random.default_rng(7).integers(0, 2, shape, dtype=np.uint8) * 255
    h, w = shape
    expected = [
        mask[
            r * h // CELL_GRID : (r + 1) * h // CELL_GRID,
            c * w // CELL_GRID : (c + 1) * w // CELL_GRID,
        ]
        for r in range(CELL_GRID)
        for c in range(CELL_GRID)
    ]
    means = [float(part.mean()) if part.size else 0.0 for part in expected]
    assert cell_shares(mask) == pytest.approx(means)


def test_a_picture_and_its_re_encoding_agree_cell_by_cell() -> None:
    frame = item_frame(decode_image(PHOTOS[2].read_bytes(), gray=True).pixels)
    noisy = np.clip(frame + np.random.default_rng(3).normal(0, 2, frame.shape), 0, 255)
    a, b = cells(frame), cells(noisy.astype(np.uint8))
    assert len(a.signatures) == CELL_GRID * CELL_GRID
    assert np.bitwise_count(a.signatures ^ b.signatures).max() <= 16
    # An upside-down picture disagrees almost everywhere.
    c = cells(np.ascontiguousarray(frame[::-1]))
    assert np.median(np.bitwise_count(a.signatures ^ c.signatures)) > 16


@pytest.mark.parametrize("shape", [(315, 420), (433, 578), (150, 420), (255, 300), (60, 90)])
def test_cell_frequencies_are_each_cells_area_resize_and_dct(shape: tuple[int, int]) -> None:
    """The matrix products give what resizing each cell with OpenCV (area
    averaging when it shrinks, OpenCV's own interpolation when it grows either
    way) and taking its DCT gives."""
    frame = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    h, w = shape
    expected = np.zeros((CELL_GRID * CELL_GRID, 63))
    for i in range(CELL_GRID * CELL_GRID):
        r, c = divmod(i, CELL_GRID)
        part = frame[
            r * h // CELL_GRID : (r + 1) * h // CELL_GRID,
            c * w // CELL_GRID : (c + 1) * w // CELL_GRID,
        ]
        patch = cv2.resize(part.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
        expected[i] = cv2.dct(patch)[:8, :8].ravel()[1:]
    assert np.allclose(_cell_frequencies(frame), expected, atol=1e-3)


def test_a_keypoints_flat_share_is_the_box_filter_of_the_flat_mask_at_it() -> None:
    frame = decode_image(PHOTOS[4].read_bytes(), gray=True).pixels.copy()
    frame[:60] = 200  # a flat band, as app chrome: shares from 0 to 1
    h, w = frame.shape[:2]
    rng = np.random.default_rng(5)
    xy = np.column_stack([rng.uniform(0, w - 1, 500), rng.uniform(0, h - 1, 500)])
    points = xy.astype(np.float32)
    box = cv2.blur(flat_pixels(frame).astype(np.float32), (PATCH_SIDE, PATCH_SIDE))
    cols, rows = points[:, 0].round().astype(int), points[:, 1].round().astype(int)
    shares = _patch_flat_shares(points, frame)
    assert shares == pytest.approx(box[rows, cols], abs=1e-6)
    assert shares.min() < 0.1
    assert shares.max() == 1.0


def test_content_outside_a_region_counts_what_is_not_flat() -> None:
    frame = np.full((200, 300), 90, np.uint8)
    frame[:, 150:] = np.random.default_rng(1).integers(0, 256, (200, 150), dtype=np.uint8)
    left = ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0))
    right = ((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0))
    assert content_outside(frame, left) == pytest.approx(0.5, abs=0.02)
    assert content_outside(frame, right) < 0.02
