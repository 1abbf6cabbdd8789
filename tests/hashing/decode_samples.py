"""Shared by the decoding tests: sample photos and the hostile bytes made from them."""

from __future__ import annotations

import io
import struct
import zlib
from functools import cache

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from hashing.decode import (
    DecodeError,
    DecodeLimits,
    decode_image,
)
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


@cache
def encoded(fmt: str) -> bytes:
    """A 320x240 piece of a photo in one of Pillow's formats."""
    piece = np.ascontiguousarray(pixels(JPEG_PHOTO)[100:340, 200:520])
    return pil_bytes(Image.fromarray(piece), fmt)
