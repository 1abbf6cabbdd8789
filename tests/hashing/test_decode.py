"""Decoding untrusted bytes: what is refused, and with which code."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from hashing.decode import (
    DecodeErrorCode,
    DecodeLimits,
    ImageFormat,
    decode_image,
    sniff_format,
)
from testkit.edits import jpeg, png, resize
from tests.hashing.decode_samples import (
    JPEG_PHOTO,
    PNG_PHOTO,
    Pixels,
    bilevel_png,
    bomb_png,
    encoded,
    jpeg_claiming,
    pil_bytes,
    refused,
)
from tests.hashing.photos import pixels

# --- what is not an image -------------------------------------------------------------


def test_empty_file() -> None:
    error = refused(b"")
    assert error.code is DecodeErrorCode.EMPTY
    assert error.code.value == "empty_file"


def _pdf() -> bytes:
    return pil_bytes(Image.fromarray(pixels(JPEG_PHOTO)), "PDF")


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("photo.jpg", JPEG_PHOTO.read_bytes())
    return buf.getvalue()


NOT_IMAGES: dict[str, Callable[[], bytes]] = {
    "random": lambda: np.random.default_rng(1).integers(0, 256, 4096, np.uint8).tobytes(),
    "pdf": _pdf,
    "zip": _zip,
    "gzip": lambda: gzip.compress(JPEG_PHOTO.read_bytes()),
    "svg": lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>',
    "svg_xml": lambda: b'\n  <?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
    "exe": lambda: b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(118) + b"PE\x00\x00" + bytes(64),
    "elf": lambda: b"\x7fELF\x02\x01\x01" + bytes(57),
    "mp4": lambda: b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + bytes(64),
    "webm": lambda: b"\x1aE\xdf\xa3\x9fB\x86\x81\x01" + bytes(64),
    "text": lambda: b"hello, this is not a picture\n",
}


@pytest.mark.parametrize("kind", list(NOT_IMAGES))
def test_not_an_image_is_unsupported(kind: str) -> None:
    data = NOT_IMAGES[kind]()
    error = refused(data)
    assert error.code is DecodeErrorCode.UNSUPPORTED
    assert error.code.value == "unsupported_media_type"


@pytest.mark.parametrize(
    ("kind", "named"),
    [("pdf", "PDF"), ("zip", "ZIP"), ("svg", "SVG"), ("exe", "executable"), ("mp4", "MP4")],
)
def test_the_refusal_names_what_was_sent(kind: str, named: str) -> None:
    assert named in refused(NOT_IMAGES[kind]()).detail


# --- truncated and damaged images ------------------------------------------------------


@pytest.mark.parametrize("keep", [3, 20, 200, 0.3, 0.5, 0.9, -2, -1])
def test_truncated_jpeg_is_corrupt(keep: float) -> None:
    data = JPEG_PHOTO.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep
    assert refused(data[:cut]).code is DecodeErrorCode.CORRUPT


@pytest.mark.parametrize("keep", [8, 16, 33, 100, 0.3, 0.5, 0.9, -12, -4, -1])
def test_truncated_png_is_corrupt(keep: float) -> None:
    data = PNG_PHOTO.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep
    assert refused(data[:cut]).code is DecodeErrorCode.CORRUPT


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "BMP", "TIFF"])
@pytest.mark.parametrize("keep", [0.5, 0.9, -1])
def test_truncated_gif_webp_bmp_tiff_are_corrupt(fmt: str, keep: float) -> None:
    data = encoded(fmt)
    assert decode_image(data).format == fmt.lower()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep
    assert refused(data[:cut]).code is DecodeErrorCode.CORRUPT


def _cv2_jpeg(image: npt.NDArray[np.uint8], *params: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), list(params))
    assert ok
    return buf.tobytes()


JPEG_FLAVOURS: dict[str, Callable[[Pixels], bytes]] = {
    "baseline": lambda image: _cv2_jpeg(image),
    "progressive": lambda image: pil_bytes(Image.fromarray(image), "JPEG", progressive=True),
    "restart_markers": lambda image: _cv2_jpeg(image, cv2.IMWRITE_JPEG_RST_INTERVAL, 2),
    "optimized_420": lambda image: _cv2_jpeg(
        image, cv2.IMWRITE_JPEG_OPTIMIZE, 1, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, 0x221111
    ),
}


@pytest.mark.parametrize("flavour", list(JPEG_FLAVOURS))
def test_every_cut_of_a_jpeg_is_refused(flavour: str) -> None:
    """Progressive scans and restart markers end with markers too: no cut passes."""
    image = np.ascontiguousarray(pixels(JPEG_PHOTO)[:240, :320])
    data = JPEG_FLAVOURS[flavour](image)
    assert decode_image(data).pixels.shape == (240, 320, 3)
    for cut in range(3, len(data), max(1, len(data) // 60)):
        assert refused(data[:cut]).code is DecodeErrorCode.CORRUPT, cut


def test_truncated_jpeg_with_a_complete_jpeg_in_its_metadata_is_corrupt() -> None:
    """An embedded thumbnail's end-of-image marker does not make the main image whole."""
    main = JPEG_PHOTO.read_bytes()
    thumbnail = jpeg(resize(pixels(JPEG_PHOTO), 0.1))
    segment = b"\xff\xe5" + struct.pack(">H", len(thumbnail) + 2) + thumbnail
    with_thumbnail = main[:2] + segment + main[2:]
    assert decode_image(with_thumbnail).pixels.shape == (480, 640, 3)
    assert refused(with_thumbnail[: len(with_thumbnail) // 2]).code is DecodeErrorCode.CORRUPT


def test_jpeg_magic_with_a_png_body_is_corrupt() -> None:
    polyglot = b"\xff\xd8\xff" + PNG_PHOTO.read_bytes()
    assert sniff_format(polyglot) is ImageFormat.JPEG
    assert refused(polyglot).code is DecodeErrorCode.CORRUPT


def test_png_with_a_damaged_body_is_corrupt() -> None:
    data = bytearray(PNG_PHOTO.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    assert refused(bytes(data)).code is DecodeErrorCode.CORRUPT


# --- images too big, or too small, to decode --------------------------------------------


def test_a_20000_square_png_bomb_is_refused_from_its_header() -> None:
    bomb = bomb_png()
    assert len(bomb) < 1_000_000  # 400 megapixels in under a megabyte
    assert bomb.startswith(b"\x89PNG\r\n\x1a\n")
    error = refused(bomb)
    assert error.code is DecodeErrorCode.TOO_MANY_PIXELS
    assert error.code.value == "too_many_pixels"


def test_a_bomb_header_is_refused_without_reading_the_pixels() -> None:
    """The same header over garbage pixel data: still too_many_pixels, not corrupt."""
    header_only = bilevel_png(20_000, 20_000, idat=b"not zlib at all")
    assert refused(header_only).code is DecodeErrorCode.TOO_MANY_PIXELS


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (60_000, 60_000),  # past Pillow's own bomb guard
        (9_000, 9_000),  # 81 Mpx: past our 64 Mpx limit, under Pillow's
        (40_000, 100),  # few pixels, but a side over 30 000
    ],
)
def test_jpeg_header_claiming_a_huge_size_is_refused(width: int, height: int) -> None:
    data = jpeg_claiming(width, height)
    with Image.open(io.BytesIO(JPEG_PHOTO.read_bytes())) as original:
        assert original.size == (640, 480)
    assert refused(data).code is DecodeErrorCode.TOO_MANY_PIXELS


@pytest.mark.parametrize("size", [(7, 100), (100, 7), (1, 1), (4, 4)])
def test_images_under_min_side_are_refused(size: tuple[int, int]) -> None:
    width, height = size
    tiny = np.ascontiguousarray(pixels(JPEG_PHOTO)[:height, :width])
    error = refused(png(tiny))
    assert error.code is DecodeErrorCode.CORRUPT
    assert "too small" in error.detail


def test_min_side_itself_is_accepted() -> None:
    eight = np.ascontiguousarray(pixels(JPEG_PHOTO)[100:108, 200:208])
    decoded = decode_image(png(eight))
    assert np.array_equal(decoded.pixels, eight)


def test_limits_are_honoured() -> None:
    data = JPEG_PHOTO.read_bytes()  # 640x480 = 307 200 pixels
    assert decode_image(data).pixels.shape == (480, 640, 3)
    fewer = DecodeLimits(max_pixels=100_000)
    assert refused(data, fewer).code is DecodeErrorCode.TOO_MANY_PIXELS
    shorter = DecodeLimits(max_side=600)
    assert refused(data, shorter).code is DecodeErrorCode.TOO_MANY_PIXELS
    bigger_min = DecodeLimits(min_side=481)
    assert refused(data, bigger_min).code is DecodeErrorCode.CORRUPT
    # The bounds are inclusive.
    exact = DecodeLimits(max_pixels=640 * 480, max_side=640, min_side=480)
    assert decode_image(data, exact).pixels.shape == (480, 640, 3)
