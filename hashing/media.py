"""What kind of media an upload is, from its first bytes alone.

The kind decides the decoder: still images go through :mod:`hashing.decode`,
animated GIF, WebP and PNG through :mod:`hashing.animation`, and video
containers through :mod:`hashing.video`. The file name and the declared
content type are never consulted: a video named ``.jpg`` is a video.
"""

from __future__ import annotations

import io
import struct
import warnings
from enum import StrEnum

from PIL import Image

# Bytes of the upload :func:`video_container` needs: three MPEG-TS packets.
SNIFF_BYTES = 512


class MediaKind(StrEnum):
    IMAGE = "image"
    ANIMATION = "animation"
    """An animated GIF, WebP or PNG (APNG) with more than one frame."""
    VIDEO = "video"


class Container(StrEnum):
    """Video containers Hashwall demuxes. The value is FFmpeg's demuxer name, which
    is passed explicitly so FFmpeg never probes a file into a playlist or concat
    demuxer that would open other files or URLs."""

    MP4 = "mov"
    """MP4, MOV, M4V and 3GP share FFmpeg's ``mov`` demuxer."""
    MATROSKA = "matroska"
    """MKV and WebM."""
    AVI = "avi"
    MPEG_TS = "mpegts"
    MPEG_PS = "mpeg"
    FLV = "flv"
    ASF = "asf"


# ISO base media files (``ftyp`` first) are videos unless a brand says image:
# AVIF stills and sequences are images Pillow decodes whole (FFmpeg would give a
# tiled AVIF's tiles as separate streams); HEIF/HEIC is refused by the image decoder.
AVIF_BRANDS = frozenset({"avif", "avis"})
HEIF_BRANDS = frozenset({"heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1"})


def ftyp_brands(head: bytes) -> frozenset[str]:
    """The major and compatible brands of an ISO ``ftyp`` box at the start, if any."""
    if head[4:8] != b"ftyp":
        return frozenset()
    size = min(int.from_bytes(head[:4], "big"), len(head))
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, size - 3, 4)}
    return frozenset(b.decode("latin-1") for b in brands)


def is_image_container(head: bytes) -> bool:
    """An ISO file whose brands name an image format (AVIF, HEIF), not a video."""
    return bool(ftyp_brands(head) & (AVIF_BRANDS | HEIF_BRANDS))


_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
# Top-level QuickTime atoms a MOV file may start with instead of ``ftyp``.
_QT_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def video_container(head: bytes) -> Container | None:
    """The video container the first bytes of a file announce, or None."""
    if head[4:8] == b"ftyp" and is_image_container(head):
        return None
    if head[4:8] == b"ftyp" or head[4:8] in _QT_ATOMS:
        return Container.MP4
    if head.startswith(b"\x1aE\xdf\xa3"):
        return Container.MATROSKA
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Container.AVI
    if head.startswith(b"FLV\x01"):
        return Container.FLV
    if head.startswith(b"\x00\x00\x01\xba"):
        return Container.MPEG_PS
    if head.startswith(_ASF_GUID):
        return Container.ASF
    # MPEG-TS has no magic, only a sync byte every 188 bytes: three in a row.
    if len(head) >= 377 and head[0] == head[188] == head[376] == 0x47:
        return Container.MPEG_TS
    return None


def is_animated(data: bytes) -> bool:
    """Whether a GIF, WebP, PNG or AVIF holds more than one frame.

    Reads headers only (Pillow opens lazily); anything Pillow cannot open is
    left to the still-image decoder to reject with a precise error.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                if im.format not in ("GIF", "WEBP", "PNG", "AVIF"):
                    return False
                return bool(getattr(im, "is_animated", False))
    except (
        Image.DecompressionBombError,
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
        RuntimeError,
        # Pillow reads a damaged second GIF frame's descriptor past the end of the data.
        IndexError,
        struct.error,
    ):
        return False
