"""From uploaded bytes to the hashes that are stored or searched.

Register and check run the same steps, so a re-upload of a registered file
produces the same bits: decode (one canonical path), trim uniform borders,
shrink to a square canvas, hash every rotation and flip.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from hashing.borders import Box, crop, find_content
from hashing.decode import DecodeLimits, ImageFormat, decode_image
from hashing.hashers import pdq_dihedral, phash_dihedral, phash_thumbnail, sha256
from hashing.transforms import Transform
from hashing.types import HashValue, u8

# 320 px square: small enough that PDQ of all eight rotations and flips costs
# about 2 ms, and a side at which PDQ's box filter is symmetric, so the reference's
# DCT-domain rotations equal hashing rotated pixels exactly. Measured on the dev
# corpus: median 8 bits from the reference hash of the full-size image.
CANVAS_SIDE = 320


@dataclass(frozen=True, slots=True)
class ImageHashes:
    """Every hash of one still image.

    ``pdq`` and ``phash`` map each transform *applied to the image* to its hash;
    ``ORIGINAL`` is what gets registered, all eight are searched on a check.
    """

    sha256: HashValue
    pdq: dict[Transform, HashValue]
    phash: dict[Transform, HashValue]
    quality: int
    format: ImageFormat
    width: int
    height: int
    content: Box
    """Where the content sits in the decoded pixels after border trimming."""


def canvas(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Shrink (or stretch) RGB pixels to the square hashing canvas.

    Bilinear to twice the side, then an exact 2:1 area average: OpenCV's area
    filter is 3x slower at non-integer ratios, and the two-step result hashed at
    most 2 PDQ bits from a direct area resize on the dev corpus.
    """
    double = cv2.resize(pixels, (2 * CANVAS_SIDE, 2 * CANVAS_SIDE), interpolation=cv2.INTER_LINEAR)
    return u8(cv2.resize(double, (CANVAS_SIDE, CANVAS_SIDE), interpolation=cv2.INTER_AREA))


@dataclass(frozen=True, slots=True)
class PixelHashes:
    pdq: dict[Transform, HashValue]
    phash: dict[Transform, HashValue]
    quality: int
    content: Box


def hash_pixels(pixels: npt.NDArray[np.uint8]) -> PixelHashes:
    """Trim borders, shrink to the canvas and hash all eight orientations."""
    box = find_content(pixels)
    square = canvas(crop(pixels, box))
    pdq_hashes, quality = pdq_dihedral(square)
    gray = u8(cv2.cvtColor(square, cv2.COLOR_RGB2GRAY))
    return PixelHashes(pdq_hashes, phash_dihedral(phash_thumbnail(gray)), quality, box)


def hash_image_bytes(data: bytes, limits: DecodeLimits | None = None) -> ImageHashes:
    """Decode and hash an uploaded still image.

    Raises :class:`hashing.decode.DecodeError` for anything that is not a
    decodable image within ``limits``.
    """
    decoded = decode_image(data, limits)
    hashed = hash_pixels(decoded.pixels)
    return ImageHashes(
        sha256=sha256(data),
        pdq=hashed.pdq,
        phash=hashed.phash,
        quality=hashed.quality,
        format=decoded.format,
        width=decoded.width,
        height=decoded.height,
        content=hashed.content,
    )
