"""Safe decoding of untrusted image bytes into pixels.

One decode path serves both registration and checking: OpenCV applies EXIF
orientation and Pillow does not, and the same file decoded both ways hashed
120+ bits apart, so every caller goes through :func:`decode_image`.

The order of checks matters: the format is sniffed from magic bytes and the
pixel count read from the header (Pillow opens lazily) before a single pixel is
decoded, so a decompression bomb is refused from its header.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from hashing.media import AVIF_BRANDS, HEIF_BRANDS, SNIFF_BYTES, ftyp_brands
from hashing.types import u8

RGBImage = npt.NDArray[np.uint8]
"""Pixels as an (height, width, 3) uint8 array in RGB order, or (height, width)
luma when decoded with ``gray``."""


class ImageFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    WEBP = "webp"
    BMP = "bmp"
    TIFF = "tiff"
    AVIF = "avif"


class DecodeErrorCode(StrEnum):
    """Stable codes; the web layer maps them to HTTP statuses."""

    EMPTY = "empty_file"
    UNSUPPORTED = "unsupported_media_type"
    CORRUPT = "corrupt_image"
    TOO_MANY_PIXELS = "too_many_pixels"
    CORRUPT_VIDEO = "corrupt_video"


class DecodeError(Exception):
    """The bytes are not an image Hashwall will decode. ``code`` is stable."""

    def __init__(self, code: DecodeErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Bounds on what a decode may cost.

    ``max_pixels`` is width x height as the header declares it; ``min_side`` is
    the smallest side worth hashing (PDQ works on a 64x64 grid).
    """

    max_pixels: int = 64_000_000
    max_side: int = 30_000
    min_side: int = 8
    reduce_to_side: int = 512


@dataclass(frozen=True, slots=True)
class DecodedImage:
    pixels: RGBImage
    format: ImageFormat
    width: int
    height: int
    """Declared size of the stored image, before orientation or reduction."""


# Signatures of things people upload that are not raster images: named so the
# answer can say what was sent rather than just "unknown".
_NOT_IMAGES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "PDF document"),
    (b"MZ", "Windows executable"),
    (b"\x7fELF", "ELF executable"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"<svg", "SVG image"),
    (b"<?xml", "XML document (SVG?)"),
    (b"\x1aE\xdf\xa3", "Matroska/WebM video"),
)


def sniff_format(data: bytes) -> ImageFormat:
    """Identify a supported raster format from magic bytes alone.

    Raises :class:`DecodeError` with ``empty_file`` or ``unsupported_media_type``.
    """
    if not data:
        raise DecodeError(DecodeErrorCode.EMPTY, "the uploaded file is empty")
    if data.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageFormat.PNG
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return ImageFormat.GIF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageFormat.WEBP
    if data.startswith(b"BM"):
        return ImageFormat.BMP
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return ImageFormat.TIFF
    head = data[:64].lstrip()
    for magic, name in _NOT_IMAGES:
        if head.startswith(magic):
            raise DecodeError(DecodeErrorCode.UNSUPPORTED, f"{name} is not a supported image type")
    if data[4:8] == b"ftyp":
        brands = ftyp_brands(data[:SNIFF_BYTES])
        if brands & AVIF_BRANDS:
            return ImageFormat.AVIF
        if brands & HEIF_BRANDS:
            raise DecodeError(
                DecodeErrorCode.UNSUPPORTED,
                "HEIC/HEIF images are not supported: send JPEG, PNG, WebP or AVIF",
            )
        raise DecodeError(DecodeErrorCode.UNSUPPORTED, "MP4/MOV video is not a supported image")
    raise DecodeError(
        DecodeErrorCode.UNSUPPORTED,
        "not a recognised image: send JPEG, PNG, GIF, WebP, AVIF, BMP or TIFF",
    )


def _too_many(limits: DecodeLimits) -> str:
    return f"exceeds the limit of {limits.max_pixels} pixels or {limits.max_side} px a side"


def read_header(data: bytes, fmt: ImageFormat, limits: DecodeLimits) -> tuple[int, int]:
    """Read (width, height) from the header without decoding pixels, and bound them."""
    try:
        with warnings.catch_warnings():
            # Pillow's bomb guard is global state and its EXIF warnings are noise on
            # hostile files; the explicit checks below decide.
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                pil_format = (im.format or "").lower()
    except Image.DecompressionBombError as exc:
        # Pillow's own guard fires first for the hugest headers; the answer names
        # the service's limit, not Pillow's.
        raise DecodeError(DecodeErrorCode.TOO_MANY_PIXELS, _too_many(limits)) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, RuntimeError) as exc:
        # RuntimeError: Pillow's AVIF plugin reports a damaged file that way. The
        # library's message names its own objects, not the upload's problem.
        raise DecodeError(
            DecodeErrorCode.CORRUPT, f"the {fmt} header is damaged or incomplete"
        ) from exc
    if pil_format not in (fmt.value, "mpo" if fmt is ImageFormat.JPEG else fmt.value):
        raise DecodeError(
            DecodeErrorCode.CORRUPT, f"file starts as {fmt} but parses as {pil_format or 'nothing'}"
        )
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        raise DecodeError(DecodeErrorCode.TOO_MANY_PIXELS, f"{width}x{height} {_too_many(limits)}")
    if min(width, height) < limits.min_side:
        raise DecodeError(
            DecodeErrorCode.CORRUPT,
            f"{width}x{height} is too small to hash (min {limits.min_side} px a side)",
        )
    return width, height


# In entropy-coded data 0xFF is followed by 0x00 (stuffing), RST0-7 or another 0xFF
# (fill); anything else is the next marker.
_JPEG_MARKER_IN_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _jpeg_is_complete(data: bytes) -> bool:
    """Whether the segments from SOI reach an end-of-image marker after a scan.

    Walks the segment lengths, so an EOI inside metadata (an embedded thumbnail)
    does not count, and bytes after the EOI (a Motion Photo's video, an appended
    archive) are ignored as every viewer ignores them.
    """
    pos, size, scanned = 2, len(data), False
    while pos + 2 <= size:
        if data[pos] != 0xFF:  # stray bytes between segments: skipped, as libjpeg does
            pos = data.find(b"\xff", pos)
            if pos < 0:
                return False
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xD9:
            return scanned
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length field
            pos += 2
            continue
        if pos + 4 > size:
            return False
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:
            scanned = True
            found = _JPEG_MARKER_IN_SCAN.search(data, pos)
            if found is None:
                return False
            pos = found.start()
    return False


# IEND has no payload: its chunk is a zero length, the type, then the 4-byte CRC.
_PNG_IEND = b"\x00\x00\x00\x00IEND"


def _png_is_complete(data: bytes) -> bool:
    """Whether a whole IEND chunk is there; bytes after it are ignored, as libpng does."""
    end = data.find(_PNG_IEND, 8)
    return end >= 0 and end + len(_PNG_IEND) + 4 <= len(data)


_REDUCED = {
    False: (
        (8, cv2.IMREAD_REDUCED_COLOR_8),
        (4, cv2.IMREAD_REDUCED_COLOR_4),
        (2, cv2.IMREAD_REDUCED_COLOR_2),
    ),
    True: (
        (8, cv2.IMREAD_REDUCED_GRAYSCALE_8),
        (4, cv2.IMREAD_REDUCED_GRAYSCALE_4),
        (2, cv2.IMREAD_REDUCED_GRAYSCALE_2),
    ),
}


def _full_flag(gray: bool) -> int:
    return int(cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)


def _jpeg_reduce_flag(width: int, height: int, min_side: int, gray: bool = False) -> int:
    """The largest DCT-domain reduction that keeps the long side >= ``min_side``."""
    long_side = max(width, height)
    for factor, flag in _REDUCED[gray]:
        if long_side // factor >= min_side:
            return int(flag)
    return _full_flag(gray)


def _pillow_rgb(data: bytes, fmt: ImageFormat, gray: bool = False) -> RGBImage:
    """Decode with Pillow, for formats OpenCV's wheels do not read (AVIF), with the
    EXIF orientation applied as OpenCV does for the others."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                upright = ImageOps.exif_transpose(image)
                return u8(np.asarray(upright.convert("L" if gray else "RGB")))
    except (OSError, ValueError, SyntaxError, RuntimeError, Image.DecompressionBombError) as exc:
        # RuntimeError: Pillow's AVIF plugin reports damaged pixels that way.
        raise DecodeError(DecodeErrorCode.CORRUPT, f"the {fmt} pixel data is damaged") from exc


def decode_image(
    data: bytes, limits: DecodeLimits | None = None, *, gray: bool = False
) -> DecodedImage:
    """Decode untrusted bytes to RGB pixels, EXIF orientation applied; with
    ``gray``, to luma only (all the hashers read), which for a JPEG is its own
    luma plane: no chroma is decoded, upsampled or converted.

    Large JPEGs are decoded reduced in the DCT domain (long side kept >= 512 px)
    since every hasher downsamples far below that anyway. Animated formats give
    their first frame.

    Raises :class:`DecodeError` (``empty_file``, ``unsupported_media_type``,
    ``corrupt_image``, ``too_many_pixels``); never returns partial pixels of a
    truncated JPEG or PNG.
    """
    limits = limits or DecodeLimits()
    fmt = sniff_format(data)
    width, height = read_header(data, fmt, limits)
    if fmt is ImageFormat.JPEG and not _jpeg_is_complete(data):
        raise DecodeError(DecodeErrorCode.CORRUPT, "truncated JPEG: no end-of-image marker")
    if fmt is ImageFormat.PNG and not _png_is_complete(data):
        raise DecodeError(DecodeErrorCode.CORRUPT, "truncated PNG: no IEND chunk")
    if fmt is ImageFormat.AVIF:
        return DecodedImage(_pillow_rgb(data, fmt, gray), fmt, width, height)
    flag = (
        _jpeg_reduce_flag(width, height, limits.reduce_to_side, gray)
        if fmt is ImageFormat.JPEG
        else _full_flag(gray)
    )
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        bgr = cv2.imdecode(buf, flag)
    except cv2.error as exc:
        raise DecodeError(DecodeErrorCode.CORRUPT, f"the {fmt} pixel data is damaged") from exc
    if bgr is None or bgr.size == 0:
        raise DecodeError(DecodeErrorCode.CORRUPT, f"cannot decode {fmt}: damaged or unsupported")
    if gray:
        return DecodedImage(pixels=u8(bgr), format=fmt, width=width, height=height)
    if bgr.ndim == 2:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
    rgb = u8(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return DecodedImage(pixels=rgb, format=fmt, width=width, height=height)
