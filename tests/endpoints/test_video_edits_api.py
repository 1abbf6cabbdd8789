"""Videos through the API: register real encodes of real photos, check their
re-upload edits, excerpts, reframings and screenshots. Tests that assert what is
stored (a video's hashes, spans and duplicates) run on SQLite and PostgreSQL;
those about decoding and matching alone on SQLite.

Source videos are 320x180 at 25 fps, made and encoded once per module.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hashing.hashers import sha256
from hashing.vpdq import parse_vpdq
from testkit import edits, videos
from tests.api import bearer
from tests.conftest import PHOTOS
from tests.endpoints.video_clips import (
    FPS,
    SIZE,
    UNRELATED,
    Json,
    check,
    edited,
    encode,
    film,
    pillarboxed,
    register,
    source,
    within,
)


def assert_registered_clip(item: Json) -> None:
    """What registering the 20-second source video answers about its clip."""
    assert item["media_type"] == "video"
    assert item["duplicate_of"] is None
    assert item["quality"] >= 80
    clip = item["clip"]
    assert clip["container"] == "mp4"
    assert (clip["width"], clip["height"]) == SIZE
    assert clip["duration_s"] == pytest.approx(20.0)
    assert clip["complete"] is True
    assert clip["stopped_by"] is None
    assert clip["frames_decoded"] == 500
    # Registration samples motion: several keyframes a second of drifting shots.
    assert clip["keyframes"] >= 40


def assert_stored_video(
    client: TestClient, api_keys: dict[str, str], item: Json, source_file: bytes
) -> None:
    """The stored item: its duration, keyframes in time order, and hashes."""
    clip = item["clip"]
    stored = client.get(
        f"/items/{item['item_id']}", headers=bearer(api_keys["trust_safety"])
    ).json()
    assert stored["media_type"] == "video"
    assert stored["duration_s"] == pytest.approx(20.0)
    assert stored["keyframes"] == clip["keyframes"]
    frames = parse_vpdq(stored["hashes"]["vpdq"])
    assert len(frames) == stored["keyframes"]
    instants = [f.at for f in frames]
    assert instants == sorted(instants)
    assert 0.0 == instants[0] < instants[-1] < 20.0
    assert all(f.quality >= 50 for f in frames)
    assert {f.pdq.to_hex() for f in frames} <= set(stored["hashes"]["pdq"])
    assert stored["hashes"]["sha256"] == [sha256(source_file).to_hex()]


def edits_not_blocked(
    client: TestClient, api_keys: dict[str, str], files: dict[str, bytes], item: Json
) -> dict[str, tuple[str, Json]]:
    """(decision, best match) of each edit not blocked as a span of ``item``."""
    outcomes: dict[str, tuple[str, Json]] = {}
    for name, (video, _, transform) in edited().items():
        body = check(client, api_keys, files[name])
        assert body["media_type"] == "video"
        assert body["clip"]["complete"] is True
        best = body["matches"][0] if body["matches"] else {}
        upload_end = body["clip"]["hashed_s"]
        good = (
            body["decision"] == "block"
            and best.get("item_id") == item["item_id"]
            and best.get("transform") == transform
            and within(best.get("upload_span"), 0.0, upload_end)
            and within(best.get("item_span"), 0.0, 20.0)
            and 0.5 <= max(best["upload_share"], best["item_share"]) <= 1.0
            and body["clip"]["duration_s"] == pytest.approx(video.seconds, abs=0.1)
        )
        if not good:
            outcomes[name] = (body["decision"], best)
    return outcomes


def test_edited_copies_of_a_registered_video_are_blocked(
    client: TestClient, api_keys: dict[str, str], files: dict[str, bytes]
) -> None:
    item = register(client, api_keys, files["source"])
    assert item["status"] == 201
    assert_registered_clip(item)
    assert_stored_video(client, api_keys, item, files["source"])
    assert edits_not_blocked(client, api_keys, files, item) == {}

    intro = check(client, api_keys, files["unrelated_intro"])["matches"][0]
    assert intro["upload_span"][0] >= 2.9  # the registered video starts 3 s in
    trimmed = check(client, api_keys, files["trim_start_and_end"])["matches"][0]
    # Keyframes a few tenths of a second apart look alike, so a span may start that
    # much before the cut.
    assert within(trimmed["item_span"], 0.5, 18.0)

    unrelated = check(client, api_keys, files["unrelated"])
    assert unrelated["decision"] == "allow"
    assert unrelated["matches"] == []
    assert unrelated["clip"]["keyframes"] >= 16

    # The same file again is a duplicate by its digest.
    again = register(client, api_keys, files["source"])
    assert again["status"] == 200
    assert again["duplicate_of"]["item_id"] == item["item_id"]


def test_an_identical_copy_names_the_item_span(
    client: TestClient, api_keys: dict[str, str], files: dict[str, bytes]
) -> None:
    item = register(client, api_keys, files["source"])["item_id"]
    body = check(client, api_keys, files["source"])
    assert body["decision"] == "block"
    match = body["matches"][0]
    assert (match["item_id"], match["signal"]) == (item, "sha256")
    assert within(match["upload_span"], 0.0, 20.0)
    assert within(match["item_span"], 0.0, 20.0), match


def test_an_excerpt_of_a_registered_video(
    client: TestClient, api_keys: dict[str, str], files: dict[str, bytes]
) -> None:
    """Seconds 5-15 of the registered 20: all of the upload is the item, half of
    the item is in the upload. Registering the excerpt adds nothing."""
    whole = register(client, api_keys, files["source"])["item_id"]
    body = check(client, api_keys, files["excerpt"])
    assert body["decision"] == "block"
    match = body["matches"][0]
    assert match["item_id"] == whole
    assert match["upload_share"] >= 0.9
    assert 0.3 <= match["item_share"] <= 0.7
    assert within(match["upload_span"], 0.0, 10.0)
    assert within(match["item_span"], 4.0, 15.5)

    again = register(client, api_keys, files["excerpt"])
    assert again["status"] == 200
    assert again["item_id"] == whole
    assert again["duplicate_of"]["item_id"] == whole
    assert again["clip"]["duration_s"] == pytest.approx(10.0)


def test_the_whole_of_a_registered_excerpt(
    client: TestClient, api_keys: dict[str, str], files: dict[str, bytes]
) -> None:
    """Only seconds 5-15 were registered: the whole video is blocked by the share
    of the item it holds, and registering the whole is a new item."""
    excerpt = register(client, api_keys, files["excerpt"])
    assert excerpt["status"] == 201
    body = check(client, api_keys, files["source"])
    assert body["decision"] == "block"
    match = body["matches"][0]
    assert match["item_id"] == excerpt["item_id"]
    assert match["item_share"] >= 0.9
    assert 0.3 <= match["upload_share"] <= 0.7
    assert within(match["upload_span"], 4.0, 15.5)
    assert within(match["item_span"], 0.0, 10.0)

    whole = register(client, api_keys, files["source"])
    assert whole["status"] == 201
    assert whole["duplicate_of"] is None
    assert whole["item_id"] != excerpt["item_id"]
    both = check(client, api_keys, files["excerpt"])
    assert both["decision"] == "block"
    assert {m["item_id"] for m in both["matches"]} == {excerpt["item_id"], whole["item_id"]}


@pytest.mark.one_database
def test_a_registered_photo_shown_in_a_video(
    client: TestClient, api_keys: dict[str, str], folder: Path
) -> None:
    """A slideshow-style video shows the photo whole for 3 s between two shots
    of other photos."""
    photo = PHOTOS[20]
    item = register(client, api_keys, photo.read_bytes(), photo.name)
    assert item["media_type"] == "image"
    video = videos.concat([film(44, seconds=3.0), pillarboxed(20, 3.0), film(47, seconds=3.0)])
    body = check(client, api_keys, encode(folder, "slideshow", video, "libx264"))
    assert body["decision"] == "block"
    match = body["matches"][0]
    assert match["item_id"] == item["item_id"]
    assert match["signal"] == "pdq"
    assert match["item_share"] == 1.0
    assert 0.2 <= match["upload_share"] <= 0.5
    assert within(match["upload_span"], 2.9, 6.1)
    assert match["item_span"] is None  # a still has no time


def reframed(video: videos.Video) -> dict[str, tuple[videos.Video, str]]:
    """The edits the local tier is for, with the transform the answer should name."""
    background = film(*UNRELATED[2:], seconds=2.0, seed=4)
    return {
        "portrait_reframe": (videos.reframe_portrait(video, seed=5), "original"),
        "picture_in_picture": (videos.picture_in_picture(video, background, seed=6), "original"),
        "crop_70_mirrored": (videos.crop_mirror(video, 0.7, seed=7), "flip_horizontal"),
    }


@pytest.mark.one_database
def test_a_video_reframed_inset_or_cropped_and_mirrored_is_found_by_its_keypoints(
    client: TestClient, api_keys: dict[str, str], files: dict[str, bytes], folder: Path
) -> None:
    """The global hashes see a different picture in each of these; the local
    tier finds the registered clip inside the upload's keyframes. The same
    layouts made of an unregistered clip are not blocked."""
    item = register(client, api_keys, files["source"])["item_id"]
    for name, (video, transform) in reframed(source()).items():
        body = check(client, api_keys, encode(folder, name, video, "libx264"))
        assert body["decision"] == "block", name
        match = body["matches"][0]
        assert (match["item_id"], match["signal"], match["transform"]) == (
            item,
            "local",
            transform,
        ), name
        assert max(match["upload_share"], match["item_share"]) >= 0.5, name
        assert within(match["upload_span"], 0.0, 20.0), name
        assert within(match["item_span"], 0.0, 20.0), name
    for name, (video, _) in reframed(film(*UNRELATED, seed=2)).items():
        body = check(client, api_keys, encode(folder, f"other-{name}", video, "libx264"))
        assert body["decision"] != "block", name


@pytest.mark.one_database
def test_a_video_showing_a_registered_one_as_an_inset_is_no_duplicate_of_it(
    client: TestClient, api_keys: dict[str, str], files: dict[str, bytes], folder: Path
) -> None:
    """The inset is found in every keyframe, but it is a part of each picture:
    registering the whole adds a new item (the reaction video around it)."""
    first = register(client, api_keys, files["source"])
    video, _ = reframed(source())["picture_in_picture"]
    data = encode(folder, "inset-registered", video, "libx264")
    assert check(client, api_keys, data)["matches"][0]["item_id"] == first["item_id"]
    second = register(client, api_keys, data)
    assert second["status"] == 201, second
    assert second["duplicate_of"] is None


@cache
def decoded_source(folder: Path) -> videos.Video:
    return videos.read(folder / "source.mp4")


@pytest.mark.one_database
def test_a_screenshot_of_a_registered_video(
    client: TestClient, api_keys: dict[str, str], files: dict[str, bytes], folder: Path
) -> None:
    """One decoded frame saved as PNG and as JPEG is a still check; the answer
    says where in the video it was found."""
    item = register(client, api_keys, files["source"])["item_id"]
    for instant in (2.0, 6.5, 13.0):
        frame = decoded_source(folder).frames[int(instant * FPS)]
        for name, data in (("shot.png", edits.png(frame)), ("shot.jpg", edits.jpeg(frame, 80))):
            body = check(client, api_keys, data, name)
            assert body["media_type"] == "image"
            assert body["clip"] is None
            assert body["decision"] == "block", (instant, name)
            match = body["matches"][0]
            assert match["item_id"] == item
            assert match["upload_span"] is None
            assert within(match["item_span"], instant - 1.0, instant + 1.0), (instant, match)
            assert 0 < match["item_share"] < 0.25
