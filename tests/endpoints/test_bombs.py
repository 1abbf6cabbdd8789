"""Decompression bombs of every image format Hashwall decodes: a small file whose
header claims a huge picture is refused from its header, quickly, with a 4xx."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.api import bearer
from tests.budget import cpu_budget
from tests.hashing.test_animation import huge_canvas_gif

# Decoding is the subject: what is refused never reaches a database.
pytestmark = pytest.mark.one_database

SIDE = 60_000  # 3.6 gigapixels; the default limit is 64 megapixels and 30,000 px a side


def small(fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 30, 200)).save(out, fmt, **options)
    return out.getvalue()


def jpeg_bomb() -> bytes:
    """A 16x16 baseline JPEG whose frame header says 60,000 x 60,000."""
    data = bytearray(small("JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, SIDE, SIDE)
    return bytes(data)


def gif_bomb() -> bytes:
    """A GIF whose logical screen and only frame claim 65,535 x 65,535."""
    data = bytearray(small("GIF"))
    struct.pack_into("<HH", data, 6, 0xFFFF, 0xFFFF)
    frame = data.index(b"\x2c")  # image descriptor
    struct.pack_into("<HH", data, frame + 5, 0xFFFF, 0xFFFF)
    return bytes(data)


def webp_bomb() -> bytes:
    """A lossless WebP whose VP8L header claims 16,384 x 16,384 (268 megapixels)."""
    data = bytearray(small("WEBP", lossless=True))
    vp8l = data.index(b"VP8L") + 8
    assert data[vp8l] == 0x2F
    bits = int.from_bytes(data[vp8l + 1 : vp8l + 5], "little")
    bits = (bits & ~((1 << 28) - 1)) | (16383 << 14) | 16383
    data[vp8l + 1 : vp8l + 5] = bits.to_bytes(4, "little")
    return bytes(data)


def png_side_bomb() -> bytes:
    """A PNG one pixel over the 30,000 px side limit (30,001 x 4)."""
    from tests.endpoints.test_bad_input import png_bomb

    return png_bomb(30_001, 4)


BOMBS: dict[str, Callable[[], bytes]] = {
    "jpeg": jpeg_bomb,
    "gif": gif_bomb,
    "webp": webp_bomb,
    "png_side": png_side_bomb,
}


@pytest.mark.parametrize("kind", sorted(BOMBS))
def test_a_bomb_is_refused_quickly_with_a_4xx(
    client: TestClient, api_keys: dict[str, str], kind: str
) -> None:
    data = BOMBS[kind]()
    assert len(data) < 10_000
    before = client.get("/readyz").json()["index"]
    with cpu_budget(5.0):
        response = client.post(
            "/check", files={"file": ("upload", data)}, headers=bearer(api_keys["platform"])
        )
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "too_many_pixels"
    assert client.get("/readyz").json()["index"] == before


def test_a_huge_canvas_animation_is_finished_cheaply(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    """A 5900x5900 GIF of 3,000 one-pixel frames once held a worker for the whole
    30 s time budget; the budget of composited pixels ends it after 3 frames."""
    data = huge_canvas_gif(3000)
    with cpu_budget(10.0):
        response = client.post(
            "/check", files={"file": ("a.gif", data)}, headers=bearer(api_keys["platform"])
        )
    assert response.status_code == 200, response.text
    clip = response.json()["clip"]
    assert (clip["stopped_by"], clip["complete"], clip["frames_decoded"]) == (
        "pixel_limit",
        False,
        3,
    )
