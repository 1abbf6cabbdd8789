"""Extra hashes of a registered image, so that cropped and slightly rotated
re-uploads land within the match distance of one of them.

PDQ alone blocks about 9% of 5%-area crops and none of 3-degree rotations. The
grid below was measured on the dev corpus (54 photos, docs/benchmarks.md): a
re-upload whose crop side lies between about 0.84 and 0.96 of the original, at
the centre or a corner, or that is rotated by 2 to 7 degrees either way, falls
within 31 bits of one variant; the closest unrelated photo came 2 bits nearer
than without variants (92 vs 94). Each variant is one more PDQ code per item
in the index, which is why the grid is coarse.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from hashing.canvas import canvas
from hashing.hashers import pdq
from hashing.types import HashValue, u8
from hashing.variants import Variant

# Share of each side kept by a centred crop.
CENTRE_CROPS = (0.95, 0.90, 0.85, 0.80)
# Share of each side kept by a crop anchored at each of the four corners.
CORNER_CROPS = (0.95, 0.92, 0.89, 0.86)
# Small rotations in degrees, counter-clockwise positive; corners filled black.
ROTATIONS = (-6.0, -3.0, 3.0, 6.0)

_CORNERS = ("tl", "tr", "bl", "br")


def _corner(pixels: npt.NDArray[np.uint8], side: float, corner: str) -> npt.NDArray[np.uint8]:
    height, width = pixels.shape[:2]
    ch, cw = max(8, round(height * side)), max(8, round(width * side))
    top = 0 if corner[0] == "t" else height - ch
    left = 0 if corner[1] == "l" else width - cw
    return pixels[top : top + ch, left : left + cw]


def _centre(pixels: npt.NDArray[np.uint8], side: float) -> npt.NDArray[np.uint8]:
    height, width = pixels.shape[:2]
    ch, cw = max(8, round(height * side)), max(8, round(width * side))
    top, left = (height - ch) // 2, (width - cw) // 2
    return pixels[top : top + ch, left : left + cw]


def _rotate(pixels: npt.NDArray[np.uint8], degrees: float) -> npt.NDArray[np.uint8]:
    height, width = pixels.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return u8(cv2.warpAffine(pixels, matrix, (width, height)))


def variant_regions(pixels: npt.NDArray[np.uint8]) -> list[tuple[Variant, npt.NDArray[np.uint8]]]:
    """Named crops and rotations of an image's content (RGB pixels).

    Each point of the grid above is the :class:`Variant` of its name (a grid
    point without one raises ValueError: a new name is a new stored string)."""
    regions = [(Variant(f"centre{round(s * 100)}"), _centre(pixels, s)) for s in CENTRE_CROPS]
    regions += [
        (Variant(f"{corner}{round(s * 100)}"), _corner(pixels, s, corner))
        for s in CORNER_CROPS
        for corner in _CORNERS
    ]
    regions += [(Variant(f"rot{d:+g}"), _rotate(pixels, d)) for d in ROTATIONS]
    return regions


def variant_hashes(pixels: npt.NDArray[np.uint8]) -> list[tuple[Variant, HashValue]]:
    """PDQ (original orientation) of every variant region of RGB content pixels."""
    return [(name, pdq(canvas(region))[0]) for name, region in variant_regions(pixels)]
