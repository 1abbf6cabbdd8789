"""The eight rotations and flips, on real (non-square) photo pixels."""

from __future__ import annotations

import numpy as np
import pytest

from hashing.transforms import Transform, apply, inverse
from testkit.edits import mirror, rotate90
from tests.hashing.photos import photo, pixels

# 500x333: not square, so a transform that swaps axes shows in the shape.
PIXELS = pixels(photo("p038.jpg"))
SWAPS_AXES = {
    Transform.ROTATE_90,
    Transform.ROTATE_270,
    Transform.TRANSPOSE,
    Transform.TRANSVERSE,
}


@pytest.mark.parametrize("transform", list(Transform))
def test_inverse_undoes_the_transform(transform: Transform) -> None:
    out = apply(PIXELS, transform)
    assert out.flags.c_contiguous
    assert np.array_equal(apply(out, inverse(transform)), PIXELS)
    assert inverse(inverse(transform)) is transform


@pytest.mark.parametrize("transform", list(Transform))
def test_shape_follows_the_transform(transform: Transform) -> None:
    height, width, channels = PIXELS.shape
    expected = (width, height) if transform in SWAPS_AXES else (height, width)
    assert apply(PIXELS, transform).shape == (*expected, channels)
    # Works on 2-D (grayscale) arrays too.
    assert apply(PIXELS[..., 0], transform).shape == expected


def test_the_eight_transforms_are_distinct() -> None:
    square = np.ascontiguousarray(PIXELS[:300, :300])
    outputs = {apply(square, t).tobytes() for t in Transform}
    assert len(outputs) == 8


def test_rotations_are_clockwise_and_match_the_bench_edits() -> None:
    assert np.array_equal(apply(PIXELS, Transform.ROTATE_90), rotate90(PIXELS, 1))
    assert np.array_equal(apply(PIXELS, Transform.ROTATE_180), rotate90(PIXELS, 2))
    assert np.array_equal(apply(PIXELS, Transform.ROTATE_270), rotate90(PIXELS, 3))
    assert np.array_equal(apply(PIXELS, Transform.FLIP_HORIZONTAL), mirror(PIXELS))
    # Clockwise: the bottom-left pixel ends up top-left.
    rotated = apply(PIXELS, Transform.ROTATE_90)
    assert np.array_equal(rotated[0, 0], PIXELS[-1, 0])
    assert np.array_equal(rotated[0, -1], PIXELS[0, 0])


def test_flips_and_diagonal_mirrors() -> None:
    assert np.array_equal(apply(PIXELS, Transform.FLIP_VERTICAL), PIXELS[::-1])
    transposed = apply(PIXELS, Transform.TRANSPOSE)
    assert np.array_equal(transposed[5, 9], PIXELS[9, 5])
    # The anti-diagonal mirror is the transpose turned half round.
    assert np.array_equal(
        apply(PIXELS, Transform.TRANSVERSE),
        apply(apply(PIXELS, Transform.TRANSPOSE), Transform.ROTATE_180),
    )


def test_rotate_90_twice_is_rotate_180() -> None:
    twice = apply(apply(PIXELS, Transform.ROTATE_90), Transform.ROTATE_90)
    assert np.array_equal(twice, apply(PIXELS, Transform.ROTATE_180))
