"""Decoding untrusted bytes: what comes out (orientation, reduction, channels,
the first frame), and bytes after the image."""

from __future__ import annotations

import io

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageSequence

from hashing.decode import (
    DecodedImage,
    DecodeLimits,
    ImageFormat,
    decode_image,
    sniff_format,
)
from hashing.transforms import Transform, apply
from testkit.edits import jpeg, png, resize
from tests.hashing.decode_samples import (
    FULL_SIZE,
    JPEG_PHOTO,
    PNG_PHOTO,
    RGBA_PHOTO,
    encoded,
    pil_bytes,
)
from tests.hashing.photos import photo, pixels

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
