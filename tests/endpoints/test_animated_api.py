"""Animated images through the API: a GIF and its re-encodings, AVIF photos whole
and tiled."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from testkit import edits, videos
from tests.api import Api
from tests.endpoints.video_clips import (
    FPS,
    check,
    encode,
    film,
    register,
    rgb,
)


def animated(pictures: list[videos.Frame], fmt: str, **options: object) -> bytes:
    first, *rest = (Image.fromarray(p) for p in pictures)
    buf = io.BytesIO()
    first.save(buf, fmt, save_all=True, append_images=rest, duration=500, loop=0, **options)
    return buf.getvalue()


@pytest.mark.one_database
def test_a_registered_animated_gif_matches_its_re_encodings(
    client: TestClient, api_keys: dict[str, str], folder: Path
) -> None:
    """Six half-second frames. Re-uploads: an animated WebP, a smaller GIF, and
    the MP4 a platform converts a GIF into."""
    pictures = [film(i, seconds=1 / FPS).frames[0] for i in (3, 14, 25, 36, 47, 52)]
    item = register(client, api_keys, animated(pictures, "GIF"), "loop.gif")
    assert item["status"] == 201
    assert item["media_type"] == "animation"
    assert item["clip"]["container"] == "gif"
    assert item["clip"]["keyframes"] == 6
    assert item["clip"]["duration_s"] == pytest.approx(3.0)

    smaller = [
        np.asarray(cv2.resize(p, (240, 135), interpolation=cv2.INTER_AREA), np.uint8)
        for p in pictures
    ]
    as_video = videos.Video([p for p in pictures for _ in range(int(FPS / 2))], FPS)
    uploads = {
        "webp": (animated(pictures, "WEBP", quality=70), "animation"),
        "smaller gif": (animated(smaller, "GIF"), "animation"),
        "mp4": (encode(folder, "gif-as-video", as_video, "libx264"), "video"),
    }
    for name, (data, kind) in uploads.items():
        body = check(client, api_keys, data, "upload")
        assert body["media_type"] == kind, name
        assert body["decision"] == "block", name
        match = body["matches"][0]
        assert match["item_id"] == item["item_id"], name
        assert match["upload_share"] >= 0.9, name
        assert match["item_share"] >= 0.9, name


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


def child_boxes(data: bytes, start: int, end: int) -> dict[bytes, bytes]:
    """The boxes between ``start`` and ``end`` by type (the last of each type)."""
    out = {}
    while start < end:
        size, kind = struct.unpack(">I4s", data[start : start + 8])
        out[kind] = data[start : start + size]
        start += size
    return out


def av1_tile(pixels: videos.Frame) -> tuple[bytes, bytes, bytes]:
    """The av1C and pixi property boxes and the AV1 data of a one-image AVIF."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "AVIF", quality=90)
    data = buf.getvalue()
    meta = child_boxes(data, 0, len(data))[b"meta"]
    inside = child_boxes(meta, 12, len(meta))
    ipco = child_boxes(inside[b"iprp"], 8, len(inside[b"iprp"]))[b"ipco"]
    properties = child_boxes(ipco, 8, len(ipco))
    offset, length = struct.unpack(">II", inside[b"iloc"][-8:])
    return properties[b"av1C"], properties[b"pixi"], data[offset : offset + length]


def grid_avif(pixels: videos.Frame) -> bytes:
    """An AVIF whose picture is a 2x2 grid of AV1 tiles, the way cameras and
    libavif store large pictures (an iPhone's HEIC is a grid of HEVC tiles).
    Pillow reads it whole."""
    height, width = pixels.shape[:2]
    th, tw = height // 2, width // 2
    tiles = [
        av1_tile(np.ascontiguousarray(pixels[r * th : (r + 1) * th, c * tw : (c + 1) * tw]))
        for r in range(2)
        for c in range(2)
    ]
    ids = [2, 3, 4, 5]
    grid = bytes([0, 0, 1, 1]) + struct.pack(">HH", 2 * tw, 2 * th)
    ftyp = box(b"ftyp", b"avif" + bytes(4) + b"avifmif1miaf")

    def meta(base: int) -> bytes:
        places, at = [(1, base, len(grid))], base + len(grid)
        for i, (_, _, coded) in zip(ids, tiles, strict=True):
            places.append((i, at, len(coded)))
            at += len(coded)
        iloc = full_box(
            b"iloc",
            0,
            0,
            b"\x44\x00"
            + struct.pack(">H", len(places))
            + b"".join(struct.pack(">HHHII", i, 0, 1, o, n) for i, o, n in places),
        )
        infes = [full_box(b"infe", 2, 0, struct.pack(">HH", 1, 0) + b"grid\0")]
        infes += [full_box(b"infe", 2, 1, struct.pack(">HH", i, 0) + b"av01\0") for i in ids]
        iinf = full_box(b"iinf", 0, 0, struct.pack(">H", len(infes)) + b"".join(infes))
        dimg = box(b"dimg", struct.pack(">HH", 1, 4) + b"".join(struct.pack(">H", i) for i in ids))
        ipco = box(
            b"ipco",
            full_box(b"ispe", 0, 0, struct.pack(">II", 2 * tw, 2 * th))
            + full_box(b"ispe", 0, 0, struct.pack(">II", tw, th))
            + tiles[0][0]
            + tiles[0][1],
        )
        # Property 1 (whole size) and 4 (pixi) for the grid; 3 (av1C, essential),
        # 2 (tile size) and 4 for each tile.
        links = [struct.pack(">HB", 1, 2) + bytes([1, 4])]
        links += [struct.pack(">HB", i, 3) + bytes([0x83, 2, 4]) for i in ids]
        ipma = full_box(b"ipma", 0, 0, struct.pack(">I", len(links)) + b"".join(links))
        return full_box(
            b"meta",
            0,
            0,
            full_box(b"hdlr", 0, 0, bytes(4) + b"pict" + bytes(12) + b"\0")
            + full_box(b"pitm", 0, 0, struct.pack(">H", 1))
            + iloc
            + iinf
            + full_box(b"iref", 0, 0, dimg)
            + box(b"iprp", ipco + ipma),
        )

    base = len(ftyp) + len(meta(0)) + 8
    return ftyp + meta(base) + box(b"mdat", grid + b"".join(t[2] for t in tiles))


@pytest.mark.one_database
def test_an_avif_photo_matches_its_jpeg(client: TestClient, api_keys: dict[str, str]) -> None:
    """AVIF starts with an ISO ``ftyp`` box like MP4, and FFmpeg decodes it."""
    pixels = rgb(6)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "AVIF", quality=80)
    item = register(client, api_keys, buf.getvalue(), "photo.avif")
    assert item["status"] == 201
    body = check(client, api_keys, edits.jpeg(pixels, 85), "photo.jpg")
    assert body["decision"] == "block"
    assert body["matches"][0]["item_id"] == item["item_id"]


@pytest.mark.one_database
def test_a_tiled_avif_photo_is_hashed_whole(client: TestClient, api_keys: dict[str, str]) -> None:
    pixels = rgb(5)  # 640x480
    data = grid_avif(pixels)
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (640, 480)
        assert np.abs(np.asarray(image.convert("RGB"), np.int16) - pixels).mean() < 3
    response = Api(client, api_keys).register(data, "photo.avif")
    if response.status_code == 201:  # hashed: then it must be the whole picture
        body = check(client, api_keys, edits.jpeg(pixels, 85), "photo.jpg")
        assert body["decision"] == "block", (response.json(), body)
    else:  # or refused as a format the service does not read
        assert response.status_code == 415, response.text
