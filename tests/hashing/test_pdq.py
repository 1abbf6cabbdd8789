"""PDQ and pHash: bit-exactness with the reference, and the eight orientations."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import imagehash
import numpy as np
import pytest
from PIL import Image

from hashing.canvas import CANVAS_SIDE, canvas
from hashing.decode import decode_image
from hashing.hashers import (
    PDQ_MIN_QUALITY,
    pdq,
    pdq_dihedral,
    phash,
    phash_dihedral,
    phash_thumbnail,
    sha256,
)
from hashing.transforms import DIHEDRAL_ORDER, Transform, apply
from hashing.types import HashValue, Signal, u8
from tests.conftest import PHOTOS
from tests.hashing.photos import PDQ_DIR, pixels

# facebook/ThreatExchange pdq/python/pdqhashing/tests/pdq_test.py, same files.
REFERENCE = {
    "q0004.jpg": "992d44af36d69e6ca6b812585928bac11def254ef5398c6d07466c9abcc65b92",
    "q0122.jpg": "cfb2009ddd21c6dab0046a7745b5984757a8a4535b3377aea2591d32b33ff940",
    "q0291.jpg": "a0fe94f1e5cc1cc8dd855948498dc9243f7ca27336f036d7f212b74bc103c9a7",
    "q0746.jpg": "1049d96239e24d4dca2c55512b8bdb77425f4dbcf575a0a95555aaab5554aaaa",
    "q1050.jpg": "489db672e9190276d452aeab41eba20f02375fe4092d88defdf491a5c55c5f70",
    "q2821.jpg": "b150231ffae4710ffcf4f18bb574b109a576f14bb8543189f8743289f174b109",
    "small.jpg": "0007001f003f003f007f00ff00ff00ff01ff01ff01ff03ff03ff03ff03ff03ff",
    "wee.jpg": "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d",
}
# Measured with the reference code: small.jpg is a smooth gradient and q0004 nearly
# flat, so both are below the quality the reference's authors trust for matching.
LOW_QUALITY = {"small.jpg", "q0004.jpg"}

# A spread of the fixture photos: colour and grayscale, JPEG and PNG, landscape,
# square and very wide; the dihedral identities are exact, so a sample suffices.
DIHEDRAL_SAMPLE = [PHOTOS[i] for i in range(0, len(PHOTOS), 6)] + [PHOTOS[-1]]


def test_reference_vectors_are_all_present() -> None:
    assert sorted(p.name for p in PDQ_DIR.glob("*.jpg")) == sorted(REFERENCE)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_pdq_is_bit_exact_with_the_reference(name: str) -> None:
    decoded = decode_image((PDQ_DIR / name).read_bytes())
    value, quality = pdq(decoded.pixels)
    expected = HashValue.from_hex(Signal.PDQ, REFERENCE[name])
    assert value.distance(expected) == 0
    assert value.to_hex() == REFERENCE[name]
    assert 0 <= quality <= 100
    if name in LOW_QUALITY:
        assert quality < PDQ_MIN_QUALITY
    else:
        assert quality >= PDQ_MIN_QUALITY


def test_small_jpg_has_quality_zero() -> None:
    _, quality = pdq(decode_image((PDQ_DIR / "small.jpg").read_bytes()).pixels)
    assert quality == 0


def test_pdq_hashes_pixels_as_given() -> None:
    """No resizing inside: the same pixels give the same bits, a copy too."""
    square = canvas(pixels(PHOTOS[0]))
    first, q1 = pdq(square)
    second, q2 = pdq(square.copy())
    assert (first, q1) == (second, q2)
    # A non-contiguous view hashes like its contiguous copy.
    view = pixels(PHOTOS[0])[::2, ::2]
    assert not view.flags.c_contiguous
    assert pdq(view) == pdq(np.ascontiguousarray(view))


@pytest.mark.parametrize("path", DIHEDRAL_SAMPLE, ids=lambda p: p.name)
def test_luma_hashes_like_its_three_channel_copy(path: Path) -> None:
    """Luma is handed to the binding as a view repeating its plane; the bits and
    quality are those of the same plane copied into three channels, for the
    canvas and for a band cut from it (a view, not a copy)."""
    luma = u8(cv2.cvtColor(canvas(pixels(path)), cv2.COLOR_RGB2GRAY))
    for plane in (luma, luma[-136:], luma[::2, 1::3]):
        copy = u8(cv2.merge((plane, plane, plane)))
        assert pdq(plane) == pdq(copy)
        assert pdq_dihedral(plane) == pdq_dihedral(copy)


def test_dihedral_order_is_every_transform_once() -> None:
    assert sorted(DIHEDRAL_ORDER) == sorted(Transform)
    assert DIHEDRAL_ORDER[0] is Transform.ORIGINAL


@pytest.mark.parametrize("path", DIHEDRAL_SAMPLE, ids=lambda p: p.name)
def test_pdq_dihedral_equals_hashing_transformed_pixels(path: Path) -> None:
    square = canvas(pixels(path))
    assert square.shape == (CANVAS_SIDE, CANVAS_SIDE, 3)
    hashes, quality = pdq_dihedral(square)
    assert set(hashes) == set(Transform)
    for transform in Transform:
        direct, direct_quality = pdq(apply(square, transform))
        assert hashes[transform].distance(direct) == 0, transform
        assert direct_quality == quality
    # The eight orientations of a real photo are eight different hashes.
    assert len(set(hashes.values())) == 8


@pytest.mark.parametrize("path", DIHEDRAL_SAMPLE, ids=lambda p: p.name)
def test_phash_dihedral_equals_hashing_transformed_thumbnails(path: Path) -> None:
    gray = u8(cv2.cvtColor(canvas(pixels(path)), cv2.COLOR_RGB2GRAY))
    thumb = phash_thumbnail(gray)
    assert thumb.shape == (32, 32)
    hashes = phash_dihedral(thumb)
    assert set(hashes) == set(Transform)
    for transform in Transform:
        assert hashes[transform] == phash(apply(thumb, transform)), transform
    assert len(set(hashes.values())) == 8


@pytest.mark.parametrize("path", DIHEDRAL_SAMPLE[:4], ids=lambda p: p.name)
def test_phash_is_imagehash_phash_of_the_thumbnail(path: Path) -> None:
    gray = u8(cv2.cvtColor(canvas(pixels(path)), cv2.COLOR_RGB2GRAY))
    thumb = phash_thumbnail(gray)
    ours = phash(thumb)
    theirs = imagehash.phash(Image.fromarray(thumb, mode="L"))
    assert ours.signal is Signal.PHASH
    assert ours.to_hex() == str(theirs)


def test_sha256_is_of_the_exact_bytes() -> None:
    data = PHOTOS[0].read_bytes()
    digest = sha256(data)
    assert digest.signal is Signal.SHA256
    assert digest.to_hex() == hashlib.sha256(data).hexdigest()
    assert sha256(data + b"\x00") != digest
