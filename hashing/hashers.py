"""Image hashers: PDQ (via the ``pdqhash`` binding of the reference C++), imagehash's
pHash, and SHA-256 of the file bytes.

Thresholds do not live here: a hasher only turns pixels into bits.
"""

from __future__ import annotations

import hashlib

import cv2
import imagehash
import numpy as np
import numpy.typing as npt
import pdqhash
import scipy.fftpack
from PIL import Image

from hashing.transforms import DIHEDRAL_ORDER, Transform, apply
from hashing.types import HashValue, Signal, u8

# Below this PDQ quality the reference implementation's authors call a hash "too
# unreliable to match on": flat and near-flat images collide with each other.
PDQ_MIN_QUALITY = 50


def _pack(bits: npt.NDArray[np.int64]) -> bytes:
    # pdqhash returns the 256 bits most significant first, the order of the
    # reference implementation's hex form.
    return np.packbits(bits.astype(np.uint8)).tobytes()


def _rgb(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """What the binding takes: three channels, of which it sums 0.299, 0.587 and
    0.114 (together 1) in float64. Luma goes in as a read-only view that repeats
    its one plane three times, which gives back exactly the same values.

    The view copies nothing and the binding reads each channel contiguously: PDQ
    of the 320 px canvas in eight orientations and of its two bands took 2.7 ms a
    photo against 3.1 ms with a merged three-channel copy (20 corpus photos), with
    the same bits (tests/hashing/test_pdq.py).
    """
    if pixels.ndim == 2:
        return np.broadcast_to(pixels[:, :, None], (*pixels.shape, 3))
    return np.ascontiguousarray(pixels)


def pdq(pixels: npt.NDArray[np.uint8]) -> tuple[HashValue, int]:
    """PDQ hash and quality (0-100) of RGB pixels or luma, bit-exact with the reference.

    The pixels are hashed as given: no resizing or trimming.
    """
    bits, quality = pdqhash.compute(_rgb(pixels))
    return HashValue(Signal.PDQ, _pack(bits)), int(quality)


def pdq_dihedral(pixels: npt.NDArray[np.uint8]) -> tuple[dict[Transform, HashValue], int]:
    """PDQ of all eight rotations and flips of RGB pixels or luma, with one quality.

    The reference computes them in the DCT domain; on a square image whose side
    makes PDQ's Jarosz filter symmetric (64, 320, 576 px) this equals hashing the
    transformed pixels bit for bit, which the tests pin. Keys are the transform
    applied *to the pixels*.
    """
    hashes, quality = pdqhash.compute_dihedral(_rgb(pixels))
    return (
        {t: HashValue(Signal.PDQ, _pack(h)) for t, h in zip(DIHEDRAL_ORDER, hashes, strict=True)},
        int(quality),
    )


def phash(gray32: npt.NDArray[np.uint8]) -> HashValue:
    """imagehash's 64-bit pHash of a 32x32 grayscale thumbnail.

    imagehash first shrinks to 32x32 itself; handed a 32x32 image that step is a
    no-op, so this is exactly ``imagehash.phash`` of the thumbnail.
    """
    value = imagehash.phash(Image.fromarray(gray32, mode="L"))
    return HashValue(Signal.PHASH, np.packbits(value.hash.flatten()).tobytes())


def phash_dihedral(gray32: npt.NDArray[np.uint8]) -> dict[Transform, HashValue]:
    """pHash of the eight rotations and flips of a 32x32 grayscale thumbnail.

    The same steps as ``imagehash.phash`` (2-D DCT-II, top-left 8x8 block, bits
    above its median) run once on a stack of the eight transformed thumbnails:
    eight separate calls cost 1.6 ms, this 0.1 ms. Tests pin every variant
    bit-equal to :func:`phash` of the transformed thumbnail.
    """
    stack = np.stack([apply(gray32, t) for t in Transform]).astype(np.float64)
    coefficients = scipy.fftpack.dct(scipy.fftpack.dct(stack, axis=1), axis=2)[:, :8, :8]
    # The median of 64 values is the mean of the middle two, as np.median takes
    # it; one sort of all eight blocks costs less than eight medians.
    ordered = np.sort(coefficients.reshape(len(stack), -1), axis=1)
    medians = (ordered[:, 31] + ordered[:, 32]) / 2
    bits = coefficients > medians[:, None, None]
    return {
        t: HashValue(Signal.PHASH, np.packbits(bits[i].ravel()).tobytes())
        for i, t in enumerate(Transform)
    }


def phash_thumbnail(gray: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """A 32x32 thumbnail of a grayscale canvas, area-averaged."""
    return u8(cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA))


def sha256(data: bytes) -> HashValue:
    """SHA-256 of the exact file bytes: matches byte-identical copies only."""
    return HashValue(Signal.SHA256, hashlib.sha256(data).digest())
