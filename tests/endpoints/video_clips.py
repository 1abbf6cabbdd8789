"""Shared by the video API tests: source videos of real photos (320x180 at 25 fps),
their re-upload edits, and register and check calls that expect success."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from fastapi.testclient import TestClient

from testkit import videos
from tests.api import Api
from tests.conftest import PHOTOS

SIZE = (320, 180)
FPS = 25.0
# Five 4-second shots: the registered video (20 s).
SOURCE = (0, 9, 18, 27, 36)
UNRELATED = (44, 47, 50, 53)
INTRO = 46
Json = dict[str, Any]


@cache
def rgb(index: int) -> videos.Frame:
    return videos.load_rgb(PHOTOS[index])


def film(*photos: int, seconds: float = 4.0, seed: int = 0) -> videos.Video:
    return videos.make_video(
        [rgb(i) for i in photos], shot_seconds=seconds, fps=FPS, size=SIZE, seed=seed
    )


@cache
def source() -> videos.Video:
    return film(*SOURCE, seed=1)


def pillarboxed(index: int, seconds: float) -> videos.Video:
    """A photo shown whole, centred between black bars, as a slideshow shows it."""
    photo = rgb(index)
    height, width = photo.shape[:2]
    scale = min(SIZE[0] / width, SIZE[1] / height)
    inner = (int(width * scale), int(height * scale))
    frame = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    top, left = (SIZE[1] - inner[1]) // 2, (SIZE[0] - inner[0]) // 2
    frame[top : top + inner[1], left : left + inner[0]] = cv2.resize(
        photo, inner, interpolation=cv2.INTER_AREA
    )
    return videos.Video([frame] * int(seconds * FPS), FPS)


@cache
def edited() -> dict[str, tuple[videos.Video, str, str]]:
    """Re-upload edits: the edited video, its encoder, and the transform the
    answer should name."""
    video = source()
    intro = film(INTRO, seconds=3.0, seed=3)
    return {
        "h264_reencode": (video, "libx264", "original"),
        "vp9_reencode": (video, "libvpx-vp9", "original"),
        "scale_50": (videos.scale(video, 0.5), "mp4v", "original"),
        "trim_start_and_end": (videos.trim(video, 1.5, 17.5), "mp4v", "original"),
        "letterbox": (videos.letterbox(video), "mp4v", "original"),
        "flip": (videos.flip(video), "libx264", "flip_horizontal"),
        "frame_rate_15": (videos.frame_rate(video, 15.0), "mp4v", "original"),
        "text_overlay": (videos.text_overlay(video), "libx264", "original"),
        "unrelated_intro": (videos.splice(intro, video), "mp4v", "original"),
    }


SUFFIX = {"mp4v": ".mp4", "libx264": ".mp4", "libvpx-vp9": ".webm", "MJPG": ".avi"}


def encode(folder: Path, name: str, video: videos.Video, codec: str = "mp4v") -> bytes:
    return videos.write(video, folder / f"{name}{SUFFIX[codec]}", codec).read_bytes()


def register(
    client: TestClient, keys: dict[str, str], data: bytes, name: str = "video.mp4"
) -> Json:
    response = Api(client, keys).register(data, name, case_ref="V-1")
    assert response.status_code in (200, 201), response.text
    body: Json = response.json()
    body["status"] = response.status_code
    return body


def check(client: TestClient, keys: dict[str, str], data: bytes, name: str = "upload.mp4") -> Json:
    response = Api(client, keys).check(data, name)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def index_sizes(client: TestClient) -> dict[str, int]:
    sizes: dict[str, int] = client.get("/readyz").json()["index"]
    return sizes


def within(span: list[float] | None, start: float, end: float) -> bool:
    return span is not None and start <= span[0] <= span[1] <= end
