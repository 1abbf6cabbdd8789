"""Fixtures of the API tests: the videos the video tests send, encoded once for the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit import videos
from tests.endpoints.video_clips import UNRELATED, edited, encode, film, source


@pytest.fixture(scope="package")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("video-api")


@pytest.fixture(scope="package")
def files(folder: Path) -> dict[str, bytes]:
    """Every video the video tests send, by name."""
    out = {
        "source": encode(folder, "source", source()),
        "unrelated": encode(folder, "unrelated", film(*UNRELATED, seed=2), "libx264"),
        "excerpt": encode(folder, "excerpt", videos.trim(source(), 5.0, 15.0), "libx264"),
    }
    for name, (video, codec, _) in edited().items():
        out[name] = encode(folder, name, video, codec)
    return out
