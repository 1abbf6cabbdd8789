"""Videos and animated images through the API: register real encodes of real
photos, check their re-upload edits, excerpts, screenshots and vPDQ, and broken
files. Tests that assert what is stored (a video's hashes, spans and duplicates)
run on SQLite and PostgreSQL; those about decoding and matching alone on SQLite.

Source videos are 320x180 at 25 fps, made and encoded once per module.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from app.settings import Settings
from hashing.clip import ClipLimits
from hashing.hashers import sha256
from hashing.media import Container
from hashing.video import hash_video
from hashing.vpdq import VpdqFrame, format_vpdq, parse_vpdq
from testkit import edits, videos
from tests.api import Api, bearer
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


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("video-api")


def encode(folder: Path, name: str, video: videos.Video, codec: str = "mp4v") -> bytes:
    return videos.write(video, folder / f"{name}{SUFFIX[codec]}", codec).read_bytes()


@pytest.fixture(scope="module")
def files(folder: Path) -> dict[str, bytes]:
    """Every video the module sends, by name."""
    out = {
        "source": encode(folder, "source", source()),
        "unrelated": encode(folder, "unrelated", film(*UNRELATED, seed=2), "libx264"),
        "excerpt": encode(folder, "excerpt", videos.trim(source(), 5.0, 15.0), "libx264"),
    }
    for name, (video, codec, _) in edited().items():
        out[name] = encode(folder, name, video, codec)
    return out


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


def test_edited_copies_of_a_registered_video_are_blocked(
    client: TestClient, api_keys: dict[str, str], files: dict[str, bytes]
) -> None:
    item = register(client, api_keys, files["source"])
    assert item["status"] == 201
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
    assert stored["hashes"]["sha256"] == [sha256(files["source"]).to_hex()]

    outcomes = {}
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
    assert outcomes == {}

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
