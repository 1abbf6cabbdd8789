"""vPDQ hashes through the API: registration and check, malformed lines named,
nothing to match."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hashing.clip import ClipLimits
from hashing.hashers import sha256
from hashing.media import Container
from hashing.video import hash_video
from hashing.vpdq import VpdqFrame, format_vpdq, parse_vpdq
from tests.api import bearer
from tests.endpoints.video_clips import (
    Json,
    check,
    index_sizes,
    within,
)


def vpdq_lines(folder: Path, name: str) -> list[str]:
    """A platform's vPDQ of one of the module's files, made with the library."""
    path = folder / name
    return format_vpdq(
        [
            VpdqFrame(k.pdq, k.quality, k.at)
            for k in hash_video(path, Container.MP4, sha256(b""), ClipLimits()).keyframes
        ]
    )


def test_vpdq_registration_and_check(
    client: TestClient, api_keys: dict[str, str], files: dict[str, bytes], folder: Path
) -> None:
    lines = vpdq_lines(folder, "source.mp4")
    assert len(lines) == 20
    staff, platform = bearer(api_keys["trust_safety"]), bearer(api_keys["platform"])
    response = client.post(
        "/register",
        json={"vpdq": "\n".join(lines) + "\n", "category": "deepfake", "case_ref": "P-7"},
        headers=staff,
    )
    assert response.status_code == 201, response.text
    item = response.json()
    assert item["media_type"] == "video_hashes"
    assert item["category"] == "deepfake"
    assert parse_vpdq(item["hashes"]["vpdq"]) == parse_vpdq(lines)
    stored = client.get(f"/items/{item['item_id']}", headers=staff).json()
    assert stored["duration_s"] == pytest.approx(19.0)
    assert stored["keyframes"] == 20

    def check_vpdq(vpdq: str | list[str]) -> Json:
        answer = client.post("/check/hashes", json={"vpdq": vpdq}, headers=platform)
        assert answer.status_code == 200, answer.text
        body: Json = answer.json()
        assert body["media_type"] == "video_hashes"
        return body

    middle = check_vpdq(lines[6:13])  # seconds 6-12, as a list
    assert middle["decision"] == "block"
    assert middle["matches"][0]["item_id"] == item["item_id"]
    assert middle["matches"][0]["upload_share"] == 1.0
    assert within(middle["matches"][0]["item_span"], 6.0, 12.0)
    reference = [
        f"{i * 25},{f.quality},{f.pdq.to_hex()},{f.at:.3f}"
        for i, f in enumerate(parse_vpdq(lines[:8]))
    ]
    assert check_vpdq("\n".join(reference))["decision"] == "block"
    # A vPDQ holds whole frames as they are: a rescaled copy matches; a copy with
    # a caption, bars or a flip needs the media (bands, trimming, orientations).
    assert check_vpdq(vpdq_lines(folder, "scale_50.mp4"))["decision"] == "block"
    assert check_vpdq(vpdq_lines(folder, "unrelated.mp4"))["decision"] == "allow"

    # Media checked against hashes registered without media.
    body = check(client, api_keys, files["h264_reencode"])
    assert body["decision"] == "block"
    assert body["matches"][0]["item_id"] == item["item_id"]


GOOD_LINE = "f" * 16 + "0" * 16 + "a5" * 16 + ",90,0.000"


@pytest.mark.parametrize(
    ("vpdq", "line"),
    [
        pytest.param(f"{GOOD_LINE}\n{'f' * 63},90,1.0", 2, id="short hash"),
        pytest.param(f"{GOOD_LINE}\n\n{GOOD_LINE[:64]},101,1.0", 3, id="quality over 100"),
        pytest.param([GOOD_LINE, GOOD_LINE, "", f"{GOOD_LINE[:64]},90"], 4, id="two fields"),
        pytest.param([f"{GOOD_LINE[:64]},90,-1"], 1, id="negative time"),
        pytest.param("hello\nworld", 1, id="not vpdq"),
    ],
)
@pytest.mark.one_database
def test_malformed_vpdq_names_the_line(
    client: TestClient, api_keys: dict[str, str], vpdq: str | list[str], line: int
) -> None:
    before = index_sizes(client)
    for path, key, extra in (
        ("/register", "trust_safety", {"category": "ncii"}),
        ("/check/hashes", "platform", {}),
    ):
        response = client.post(path, json={"vpdq": vpdq, **extra}, headers=bearer(api_keys[key]))
        assert response.status_code == 422, (path, response.text)
        body = response.json()
        assert body["error"] == "invalid_hash"
        assert body["detail"].startswith(f"vpdq line {line}: "), body
    assert index_sizes(client) == before


@pytest.mark.one_database
def test_vpdq_with_nothing_to_match(client: TestClient, api_keys: dict[str, str]) -> None:
    staff = bearer(api_keys["trust_safety"])
    empty = client.post("/register", json={"vpdq": "\n\n", "category": "ncii"}, headers=staff)
    assert (empty.status_code, empty.json()["error"]) == (422, "invalid_hash")
    flat = client.post(
        "/register",
        json={"vpdq": [f"{'0' * 64},0,{i}.0" for i in range(5)], "category": "ncii"},
        headers=staff,
    )
    assert (flat.status_code, flat.json()["error"]) == (422, "low_quality")
    assert index_sizes(client)["pdq"] == 0
