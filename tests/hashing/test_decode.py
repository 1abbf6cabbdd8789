"""Decoding untrusted bytes: what is refused, with which code, and what comes out."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from functools import cache

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageSequence

from hashing.decode import (
    DecodedImage,
    DecodeError,
    DecodeErrorCode,
    DecodeLimits,
    ImageFormat,
    decode_image,
    sniff_format,
)
from hashing.transforms import Transform, apply
from testkit.edits import jpeg, png, resize
from tests.hashing.photos import photo, pixels

JPEG_PHOTO = photo("p039.jpg")  # 640x480 colour JPEG
PNG_PHOTO = photo("p043.png")  # 640x480 grayscale PNG
RGBA_PHOTO = photo("p049.png")  # 512x512 RGBA PNG
FULL_SIZE = DecodeLimits(reduce_to_side=1 << 30)
Pixels = npt.NDArray[np.uint8]


def refused(data: bytes, limits: DecodeLimits | None = None) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode_image(data, limits)
    return info.value


def pil_bytes(image: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def bilevel_png(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A 1-bit grayscale PNG, all black, written chunk by chunk (cheap at any size)."""
    if idat is None:
        row = bytes(1 + (width + 7) // 8)  # filter byte "none", then packed zero bits
        compressor = zlib.compressobj(1)
        idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


@cache
def bomb_png() -> bytes:
    return bilevel_png(20_000, 20_000)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real JPEG whose start-of-frame header is patched to declare another size."""
    data = bytearray(JPEG_PHOTO.read_bytes())
    pos = 2
    while True:
        marker, length = data[pos + 1], int.from_bytes(data[pos + 2 : pos + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            data[pos + 5 : pos + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        pos += 2 + length


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


@cache
def encoded(fmt: str) -> bytes:
    """A 320x240 piece of a photo in one of Pillow's formats."""
    piece = np.ascontiguousarray(pixels(JPEG_PHOTO)[100:340, 200:520])
    return pil_bytes(Image.fromarray(piece), fmt)


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


# --- what comes out ------------------------------------------------------------------


EXIF_ORIENTATION = {
    2: Transform.FLIP_HORIZONTAL,
    3: Transform.ROTATE_180,
    4: Transform.FLIP_VERTICAL,
    5: Transform.TRANSPOSE,
    6: Transform.ROTATE_90,
    7: Transform.TRANSVERSE,
    8: Transform.ROTATE_270,
}


@pytest.mark.parametrize("orientation", list(EXIF_ORIENTATION))
def test_exif_orientation_is_applied(orientation: int) -> None:
    image = Image.fromarray(pixels(photo("p038.jpg")))  # 500x333
    exif = Image.Exif()
    exif[0x0112] = orientation
    plain = decode_image(pil_bytes(image, "JPEG", quality=90))
    oriented = decode_image(pil_bytes(image, "JPEG", quality=90, exif=exif))
    # Same compressed pixels, so the only difference is the orientation.
    expected = apply(plain.pixels, EXIF_ORIENTATION[orientation])
    assert np.array_equal(oriented.pixels, expected)
    # width and height are as stored, before orientation.
    assert (oriented.width, oriented.height) == (500, 333)


def test_exif_orientation_6_swaps_width_and_height() -> None:
    image = Image.fromarray(pixels(photo("p038.jpg")))
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(pil_bytes(image, "JPEG", exif=exif))
    assert decoded.pixels.shape == (500, 333, 3)


@pytest.mark.parametrize(
    ("size", "expected_long_side"),
    [
        ((1023, 700), 1023),  # halving would go under 512: decoded at full size
        ((1024, 700), 512),
        ((1411, 1411), 706),
        ((2100, 1500), 525),
        ((4100, 3000), 513),
        ((3000, 4100), 513),
    ],
)
def test_large_jpeg_is_decoded_reduced(size: tuple[int, int], expected_long_side: int) -> None:
    width, height = size
    stretched = cv2.resize(pixels(photo("p089.jpg")), size, interpolation=cv2.INTER_LINEAR)
    decoded = decode_image(jpeg(np.asarray(stretched, dtype=np.uint8)))
    assert (decoded.width, decoded.height) == size
    assert max(decoded.pixels.shape[:2]) == expected_long_side
    assert max(decoded.pixels.shape[:2]) >= DecodeLimits().reduce_to_side
    # The aspect ratio survives the reduction.
    assert abs(decoded.pixels.shape[1] / decoded.pixels.shape[0] - width / height) < 0.01


def test_reduce_to_side_is_a_limit() -> None:
    data = jpeg(resize(pixels(photo("p089.jpg")), 3.0))  # 2118 px square
    assert decode_image(data).pixels.shape == (530, 530, 3)  # a quarter
    assert decode_image(data, DecodeLimits(reduce_to_side=1000)).pixels.shape == (1059, 1059, 3)
    assert decode_image(data, FULL_SIZE).pixels.shape == (2118, 2118, 3)


def test_large_png_is_not_reduced() -> None:
    image = resize(pixels(photo("p089.jpg")), 1.5)
    decoded = decode_image(png(image))
    assert np.array_equal(decoded.pixels, image)


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP"])
def test_lossless_formats_decode_to_the_same_pixels(fmt: str) -> None:
    image = np.ascontiguousarray(pixels(JPEG_PHOTO)[:240, :320])
    options: dict[str, object] = {"lossless": True} if fmt == "WEBP" else {}
    decoded = decode_image(pil_bytes(Image.fromarray(image), fmt, **options))
    assert decoded.format == fmt.lower()
    assert (decoded.width, decoded.height) == (320, 240)
    assert np.array_equal(decoded.pixels, image)


def _assert_rgb(decoded: DecodedImage) -> npt.NDArray[np.uint8]:
    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels.ndim == 3
    assert decoded.pixels.shape[2] == 3
    return decoded.pixels


def test_grayscale_png_decodes_to_three_equal_channels() -> None:
    data = PNG_PHOTO.read_bytes()
    with Image.open(io.BytesIO(data)) as source:
        assert source.mode == "L"
        luma = np.asarray(source)
    rgb = _assert_rgb(decode_image(data))
    for channel in range(3):
        assert np.array_equal(rgb[..., channel], luma)


def test_rgba_png_decodes_to_its_rgb_channels() -> None:
    data = RGBA_PHOTO.read_bytes()
    with Image.open(io.BytesIO(data)) as source:
        assert source.mode == "RGBA"
        rgba = np.asarray(source)
    rgb = _assert_rgb(decode_image(data))
    assert np.array_equal(rgb, rgba[..., :3])


def test_16_bit_and_palette_pngs_decode_to_8_bit_rgb() -> None:
    image = pixels(JPEG_PHOTO)
    deep = Image.fromarray(image[..., 1].astype(np.uint16) * 257)
    assert deep.mode == "I;16"
    rgb = _assert_rgb(decode_image(pil_bytes(deep, "PNG")))
    assert np.array_equal(rgb[..., 0], image[..., 1])
    palette = Image.fromarray(image).convert("P")
    rgb = _assert_rgb(decode_image(pil_bytes(palette, "PNG")))
    assert np.array_equal(rgb, np.asarray(palette.convert("RGB")))


def test_animated_gif_gives_its_first_frame() -> None:
    first = Image.fromarray(np.ascontiguousarray(pixels(JPEG_PHOTO)[:240, :320]))
    second = Image.fromarray(np.ascontiguousarray(pixels(photo("p058.jpg"))[:240, :320]))
    data = pil_bytes(first, "GIF", save_all=True, append_images=[second], duration=100)
    with Image.open(io.BytesIO(data)) as gif:
        frame0 = np.asarray(gif.convert("RGB"))
        assert sum(1 for _ in ImageSequence.Iterator(gif)) == 2
    decoded = decode_image(data)
    assert decoded.format is ImageFormat.GIF
    assert np.array_equal(decoded.pixels, frame0)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("JPEG", ImageFormat.JPEG),
        ("PNG", ImageFormat.PNG),
        ("GIF", ImageFormat.GIF),
        ("WEBP", ImageFormat.WEBP),
        ("BMP", ImageFormat.BMP),
        ("TIFF", ImageFormat.TIFF),
    ],
)
def test_format_is_sniffed_from_the_bytes(fmt: str, expected: ImageFormat) -> None:
    data = encoded(fmt)
    assert sniff_format(data) is expected
    assert decode_image(data).format is expected


def test_decoding_is_deterministic() -> None:
    data = JPEG_PHOTO.read_bytes()
    assert np.array_equal(decode_image(data).pixels, decode_image(data).pixels)


# --- bytes after the image ----------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_jpeg_with_trailing_data_decodes(seed: int) -> None:
    """Bytes after the end-of-image marker (a Motion Photo's video, a ZIP appended to
    make a polyglot) are ignored by every viewer, so they must not hide the image."""
    data = JPEG_PHOTO.read_bytes()
    trailer = np.random.default_rng(seed).integers(0, 256, 200_000, np.uint8).tobytes()
    decoded = decode_image(data + trailer)
    assert np.array_equal(decoded.pixels, decode_image(data).pixels)


@pytest.mark.parametrize("trailer_size", [1, 64, 65, 4096])
def test_png_with_trailing_data_decodes(trailer_size: int) -> None:
    data = PNG_PHOTO.read_bytes()
    trailer = np.random.default_rng(trailer_size).integers(0, 256, trailer_size, np.uint8)
    decoded = decode_image(data + trailer.tobytes())
    assert np.array_equal(decoded.pixels, decode_image(data).pixels)
