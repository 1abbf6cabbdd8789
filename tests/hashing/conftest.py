"""Fixtures of the hashing tests: the moving video in every codec, written once for the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit import videos
from tests.hashing.video_clips import film


@pytest.fixture(scope="package")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


# Five 4-second shots (20 s), written once per codec the tests need.
MOVING = (0, 9, 18, 27, 36)


@pytest.fixture(scope="package")
def moving(folder: Path) -> dict[str, Path]:
    video = film(*MOVING, seconds=4.0, seed=1)
    return {
        "mp4v": videos.write(video, folder / "moving.mp4", "mp4v"),
        "libx264": videos.write(video, folder / "moving-h264.mp4", "libx264"),
        "libvpx-vp9": videos.write(video, folder / "moving.webm", "libvpx-vp9"),
        "MJPG": videos.write(video, folder / "moving.avi", "MJPG"),
    }
