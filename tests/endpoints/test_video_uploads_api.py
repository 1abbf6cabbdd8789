"""Video uploads through the API: only the first seconds of a long video hashed,
a video named like a photo, broken videos refused, and no spooled file left."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from hashing.vpdq import parse_vpdq
from testkit import videos
from tests.api import bearer
from tests.endpoints.video_clips import (
    check,
    encode,
    index_sizes,
    register,
    source,
    within,
)


@pytest.fixture
def five_second_client(settings: Settings) -> Iterator[TestClient]:
    limited = settings.model_copy(update={"video_max_seconds": 5.0})
    with TestClient(create_app(limited)) as test_client:
        yield test_client


def test_only_the_first_seconds_of_a_long_video_are_hashed(
    five_second_client: TestClient, api_keys: dict[str, str], files: dict[str, bytes]
) -> None:
    client = five_second_client
    item = register(client, api_keys, files["source"])
    assert item["status"] == 201
    assert item["clip"]["complete"] is False
    assert item["clip"]["stopped_by"] == "duration_limit"
    assert item["clip"]["duration_s"] == pytest.approx(20.0)
    assert 5.0 < item["clip"]["hashed_s"] <= 5.1
    stored = client.get(
        f"/items/{item['item_id']}", headers=bearer(api_keys["trust_safety"])
    ).json()
    assert stored["duration_s"] == pytest.approx(item["clip"]["hashed_s"])
    assert max(f.at for f in parse_vpdq(stored["hashes"]["vpdq"])) <= 5.0

    body = check(client, api_keys, files["h264_reencode"])
    assert body["clip"]["complete"] is False
    assert body["clip"]["stopped_by"] == "duration_limit"
    assert body["clip"]["hashed_s"] <= 5.1
    assert body["decision"] == "block"
    assert within(body["matches"][0]["item_span"], 0.0, 5.0)


@pytest.mark.one_database
def test_a_video_named_like_a_photo_is_hashed_as_a_video(
    client: TestClient, api_keys: dict[str, str], files: dict[str, bytes]
) -> None:
    item = register(client, api_keys, files["source"], "holiday.jpg")
    assert item["media_type"] == "video"
    response = client.post(
        "/check",
        files={"file": ("IMG_0001.JPG", files["h264_reencode"], "image/jpeg")},
        headers=bearer(api_keys["platform"]),
    )
    body = response.json()
    assert body["media_type"] == "video"
    assert body["decision"] == "block"
    assert body["matches"][0]["item_id"] == item["item_id"]


def broken_videos(files: dict[str, bytes]) -> dict[str, bytes]:
    source, h264, webm = files["source"], files["h264_reencode"], files["vp9_reencode"]
    return {
        "truncated mp4": source[: len(source) // 2],
        "truncated h264 mp4": h264[: len(h264) * 9 // 10],
        "garbage after ftyp": source[:32] + bytes(range(256)) * 64,
        "mkv header only": webm[:64],
    }


@pytest.mark.one_database
def test_broken_videos_are_422_and_change_nothing(
    client: TestClient, api_keys: dict[str, str], files: dict[str, bytes]
) -> None:
    before = index_sizes(client)
    for name, data in broken_videos(files).items():
        for path, key in (("/check", "platform"), ("/register", "trust_safety")):
            response = client.post(
                path,
                files={"file": ("clip.mp4", data)},
                data={"category": "ncii"},
                headers=bearer(api_keys[key]),
            )
            assert response.status_code == 422, (name, path, response.text)
            body = response.json()
            assert body["error"] == "corrupt_video", (name, path)
            assert isinstance(body["detail"], str)
            assert body["detail"]
    assert index_sizes(client) == before


@pytest.fixture
def spool_settings(settings: Settings, tmp_path: Path) -> Settings:
    """Uploads spooled to an explicit directory; frames over 300x170 refused."""
    return settings.model_copy(
        update={"tmp_dir": tmp_path / "spool", "video_max_pixels": 300 * 170}
    )


@pytest.mark.one_database
def test_the_upload_directory_is_left_empty(
    spool_settings: Settings, api_keys: dict[str, str], files: dict[str, bytes], folder: Path
) -> None:
    """After good, broken and refused videos (and a spool file a killed process
    left behind), nothing remains where uploads are spooled."""
    spool = spool_settings.upload_dir
    assert spool == spool_settings.tmp_dir
    spool.mkdir(mode=0o700, parents=True)
    (spool / "upload-left-by-a-crash").write_bytes(files["excerpt"])
    small = encode(folder, "source-small", videos.scale(source(), 0.5))
    platform = bearer(api_keys["platform"])
    with TestClient(create_app(spool_settings)) as client:
        assert list(spool.iterdir()) == []  # cleared at start
        assert register(client, api_keys, small)["status"] == 201
        assert check(client, api_keys, small)["decision"] == "block"
        assert check(client, api_keys, small, "small.jpg")["media_type"] == "video"
        for data in broken_videos(files).values():
            response = client.post("/check", files={"file": ("v.mp4", data)}, headers=platform)
            assert response.json()["error"] == "corrupt_video"
        for path, key in (("/check", "platform"), ("/register", "trust_safety")):
            too_big = client.post(
                path,
                files={"file": ("v.mp4", files["h264_reencode"])},
                data={"category": "ncii"},
                headers=bearer(api_keys[key]),
            )
            assert (too_big.status_code, too_big.json()["error"]) == (413, "too_many_pixels")
        no_key = client.post("/check", files={"file": ("v.mp4", small)})
        assert no_key.status_code == 401
        assert spool.is_dir()
        assert list(spool.iterdir()) == []
    assert not (spool_settings.data_dir / "tmp").exists()
