"""End to end: a video registered and its edited re-upload checked over a real
server on loopback, with multipart uploads as platforms send them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from testkit import videos
from tests.conftest import PHOTOS
from tests.e2e.conftest import hashwall

# Video over HTTP is the subject; what is stored is tested in tests/endpoints on both databases.
pytestmark = pytest.mark.one_database

SIZE = (320, 180)


@pytest.fixture(scope="module")
def video_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A 12 s clip of three photos (MPEG-4), a letterboxed H.264 copy of it at half
    size, and an unrelated VP9 clip."""
    folder = tmp_path_factory.mktemp("e2e-videos")
    shots = [videos.load_rgb(PHOTOS[i]) for i in (2, 13, 24)]
    clip = videos.make_video(shots, shot_seconds=4.0, size=SIZE, seed=4)
    edited = videos.letterbox(videos.scale(clip, 0.5))
    other = videos.make_video([videos.load_rgb(PHOTOS[40])], shot_seconds=4.0, size=SIZE)
    return {
        "clip": videos.write(clip, folder / "clip.mp4", "mp4v").read_bytes(),
        "edited": videos.write(edited, folder / "edited.mp4", "libx264").read_bytes(),
        "other": videos.write(other, folder / "other.webm", "libvpx-vp9").read_bytes(),
    }


def test_register_and_check_a_video_over_a_real_server(
    env: dict[str, str], server: str, tmp_path: Path, video_files: dict[str, bytes]
) -> None:
    staff_key = hashwall(env, "keys", "create", "--name", "ts", "--scopes", "register").stdout
    platform_key = hashwall(env, "keys", "create", "--name", "web", "--scopes", "check").stdout
    staff = {"Authorization": f"Bearer {staff_key.strip()}"}
    platform = {"Authorization": f"Bearer {platform_key.strip()}"}
    files = video_files
    with httpx.Client(base_url=server, timeout=60) as http:
        registered = http.post(
            "/register",
            files={"file": ("clip.mp4", files["clip"], "video/mp4")},
            data={"category": "ncii", "case_ref": "V-9"},
            headers=staff,
        )
        assert registered.status_code == 201, registered.text
        item = registered.json()
        assert item["media_type"] == "video"
        assert item["clip"]["complete"] is True
        assert item["clip"]["duration_s"] == 12.0
        checked = http.post(
            "/check",
            files={"file": ("reupload.mp4", files["edited"], "video/mp4")},
            data={"upload_ref": "e2e-video"},
            headers=platform,
        ).json()
        assert checked["decision"] == "block"
        assert checked["media_type"] == "video"
        match = checked["matches"][0]
        assert match["item_id"] == item["item_id"]
        assert match["upload_share"] >= 0.9
        assert match["item_share"] >= 0.9
        unrelated = http.post(
            "/check", files={"file": ("o.webm", files["other"])}, headers=platform
        ).json()
        assert unrelated["decision"] == "allow"
        cut = files["edited"][: len(files["edited"]) // 2]
        truncated = http.post("/check", files={"file": ("t.mp4", cut)}, headers=platform)
        assert truncated.status_code == 422
        assert truncated.json()["error"] == "corrupt_video"
    spool = tmp_path / "var" / "tmp"
    assert spool.is_dir()
    assert list(spool.iterdir()) == []
