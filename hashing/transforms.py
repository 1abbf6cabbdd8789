"""The eight rotations and flips of an image (the dihedral group of the square)."""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import numpy.typing as npt


class Transform(StrEnum):
    """How an upload differs from the registered item.

    Rotations are clockwise. ``transpose`` mirrors across the main diagonal,
    ``transverse`` across the other one. The order is the order of
    ``pdqhash.compute_dihedral``'s outputs for the *inverse* transform, see
    :data:`DIHEDRAL_ORDER`.
    """

    ORIGINAL = "original"
    ROTATE_90 = "rotate_90"
    ROTATE_180 = "rotate_180"
    ROTATE_270 = "rotate_270"
    FLIP_VERTICAL = "flip_vertical"
    FLIP_HORIZONTAL = "flip_horizontal"
    TRANSPOSE = "transpose"
    TRANSVERSE = "transverse"


def apply(pixels: npt.NDArray[np.uint8], transform: Transform) -> npt.NDArray[np.uint8]:
    """Return ``pixels`` (height, width[, channels]) with ``transform`` applied, contiguous."""
    match transform:
        case Transform.ORIGINAL:
            out = pixels
        case Transform.ROTATE_90:
            out = np.rot90(pixels, -1)
        case Transform.ROTATE_180:
            out = np.rot90(pixels, 2)
        case Transform.ROTATE_270:
            out = np.rot90(pixels, 1)
        case Transform.FLIP_VERTICAL:
            out = pixels[::-1]
        case Transform.FLIP_HORIZONTAL:
            out = pixels[:, ::-1]
        case Transform.TRANSPOSE:
            out = np.swapaxes(pixels, 0, 1)
        case Transform.TRANSVERSE:
            out = np.swapaxes(np.rot90(pixels, 2), 0, 1)
    return np.ascontiguousarray(out)


def inverse(transform: Transform) -> Transform:
    """The transform that undoes ``transform``."""
    if transform is Transform.ROTATE_90:
        return Transform.ROTATE_270
    if transform is Transform.ROTATE_270:
        return Transform.ROTATE_90
    return transform


# pdqhash.compute_dihedral(x) returns the hashes of these transforms *of x*, in
# this order (pinned by tests/hashing/test_pdq.py against hashing transformed pixels).
DIHEDRAL_ORDER: tuple[Transform, ...] = (
    Transform.ORIGINAL,
    Transform.ROTATE_270,
    Transform.ROTATE_180,
    Transform.ROTATE_90,
    Transform.FLIP_VERTICAL,
    Transform.FLIP_HORIZONTAL,
    Transform.TRANSPOSE,
    Transform.TRANSVERSE,
)
