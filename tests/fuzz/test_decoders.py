"""Fuzz the decoders with truncated and mutated real files.

Seeds are real encodings of a real photo: a JPEG, a PNG, an animated GIF, an
animated WebP, an AVIF, an H.264 MP4 and a VP9 WebM. Hypothesis truncates them,
flips and overwrites bytes, and splices one file's header onto another's body.
Whatever comes out, :func:`hashing.decode.decode_image`,
:func:`hashing.animation.hash_animation` and :func:`hashing.video.hash_video`
either return a result or raise :class:`DecodeError`, in bounded time; through
``POST /check`` the answer is a result or a 4xx JSON error, and no spooled file
is left behind.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from app import auth, db
from app.main import create_app
from app.services import keys
from app.settings import Settings
from hashing.animation import hash_animation
from hashing.clip import ClipLimits
from hashing.decode import DecodeError, decode_image
from hashing.hashers import sha256
from hashing.media import SNIFF_BYTES, video_container
from hashing.video import hash_video
from testkit import videos
from tests.api import bearer
from tests.budget import cpu_budget
from tests.conftest import PHOTOS

# Each call on a file of a few kilobytes finishes well inside this; a longer one
# is a hang in the making.
CALL_SECONDS = 5.0
# Failing examples are files of kilobytes; their repr is long but is the example.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
FORMATS = ["jpeg", "png", "gif", "webp", "avif", "mp4", "webm"]
FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)


def _frames(count: int, size: tuple[int, int]) -> list[Image.Image]:
    photo = Image.open(PHOTOS[0]).convert("RGB")
    photo.thumbnail((4 * size[0], 4 * size[1]))
    shots = [
        photo.crop((i * 8, i * 5, i * 8 + 3 * size[0], i * 5 + 3 * size[1])).resize(size)
        for i in range(count)
    ]
    return shots


def _still(fmt: str) -> bytes:
    out = io.BytesIO()
    _frames(1, (96, 72))[0].save(out, fmt)
    return out.getvalue()


def _animated(fmt: str) -> bytes:
    first, *rest = _frames(4, (64, 48))
    out = io.BytesIO()
    first.save(out, fmt, save_all=True, append_images=rest, duration=150, loop=0)
    return out.getvalue()


def _video(codec: str, suffix: str) -> bytes:
    clip = videos.make_video([videos.load_rgb(PHOTOS[1])], shot_seconds=2.0, size=(160, 90))
    with tempfile.TemporaryDirectory() as tmp:
        return videos.write(clip, Path(tmp) / f"clip{suffix}", codec).read_bytes()


@cache
def seed(fmt: str) -> bytes:
    """A real file of each format, made once."""
    makers: dict[str, Callable[[], bytes]] = {
        "jpeg": lambda: _still("JPEG"),
        "png": lambda: _still("PNG"),
        "gif": lambda: _animated("GIF"),
        "webp": lambda: _animated("WEBP"),
        "avif": lambda: _still("AVIF"),
        "mp4": lambda: _video("libx264", ".mp4"),
        "webm": lambda: _video("libvpx-vp9", ".webm"),
    }
    return makers[fmt]()


@st.composite
def mutated(draw: st.DrawFn, fmt: str) -> bytes:
    """The seed of ``fmt`` truncated, with bytes flipped or overwritten, or with
    another format's header spliced on (or its own header on another's body)."""
    data = bytearray(seed(fmt))
    for _ in range(draw(st.integers(1, 4))):
        size = len(data)
        action = draw(st.sampled_from(["truncate", "flip", "overwrite", "splice", "repeat"]))
        if action == "truncate" and size > 1:
            # Cut anywhere, but more often inside the headers.
            cut = draw(st.one_of(st.integers(0, min(size - 1, 600)), st.integers(0, size - 1)))
            data = data[:cut]
        elif action == "flip" and size:
            for _ in range(draw(st.integers(1, 16))):
                at = draw(st.one_of(st.integers(0, min(size - 1, 600)), st.integers(0, size - 1)))
                data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "overwrite" and size:
            at = draw(st.integers(0, size - 1))
            chunk = draw(
                st.one_of(
                    st.binary(min_size=1, max_size=16),
                    st.sampled_from([b"\x00" * 4, b"\xff" * 4, b"\x7f\xff\xff\xff", b"\x00\x00"]),
                )
            )
            data[at : at + len(chunk)] = chunk
        elif action == "splice":
            other = seed(draw(st.sampled_from(FORMATS)))
            head = draw(st.integers(0, min(len(other), 1024)))
            if draw(st.booleans()):
                data = bytearray(other[:head]) + data[head:]
            else:
                data = data[: min(head, size)] + bytearray(other[head:])
        elif action == "repeat" and size > 1:
            start = draw(st.integers(0, size - 1))
            end = draw(st.integers(start, min(size, start + 512)))
            data = data[:end] + data[start:end] * draw(st.integers(1, 4)) + data[end:]
    return bytes(data)


def timed(call: Callable[[], Any]) -> None:
    """Run ``call``; it may only return or raise DecodeError, within CALL_SECONDS
    of CPU."""
    with cpu_budget(CALL_SECONDS):
        try:
            call()
        except DecodeError:
            pass


def run_decoders(data: bytes, tmp: Path) -> None:
    sha = sha256(data)
    timed(lambda: decode_image(data))
    timed(lambda: hash_animation(data, sha, ClipLimits()))
    container = video_container(data[:SNIFF_BYTES])
    if container is not None:
        path = tmp / "upload"
        path.write_bytes(data)
        timed(lambda: hash_video(path, container, sha, ClipLimits()))


def test_seeds_decode() -> None:
    """The unmutated seeds are what they claim: the fuzzers start from real files."""
    for fmt in ("jpeg", "png", "gif", "webp", "avif"):
        assert decode_image(seed(fmt)).width > 0, fmt
    for fmt in ("gif", "webp"):
        data = seed(fmt)
        assert hash_animation(data, sha256(data), ClipLimits())
    for fmt in ("mp4", "webm"):
        data = seed(fmt)
        container = video_container(data[:SNIFF_BYTES])
        assert container is not None, fmt
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "clip"
            path.write_bytes(data)
            sha = sha256(data)
            assert hash_video(path, container, sha, ClipLimits()).keyframes


@pytest.mark.parametrize("fmt", FORMATS)
def test_decoders_survive_mutated_files(fmt: str) -> None:
    @FUZZ
    @given(data=mutated(fmt))
    def fuzz(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            run_decoders(data, Path(tmp))

    fuzz()


@pytest.fixture(scope="module")
def fuzz_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("decode-fuzz")
    fuzz = Settings(
        data_dir=root / "var", database_url=f"sqlite:///{root / 'hashwall.db'}", index_load_wait=60
    )
    db.upgrade(fuzz)
    return fuzz


@pytest.fixture(scope="module")
def platform(fuzz_settings: Settings) -> Iterator[tuple[TestClient, str]]:
    """A client over a SQLite database (the web layer is what is fuzzed) and a
    platform's check key."""
    engine = db.make_engine(fuzz_settings)
    with db.make_sessionmaker(engine)() as session:
        key = keys.create_key(session, "fuzz-platform", [auth.Scope.CHECK], "fuzz")
    engine.dispose()
    with TestClient(create_app(fuzz_settings)) as client:
        yield client, key


@pytest.mark.parametrize("fmt", FORMATS)
def test_check_answers_mutated_files(
    fmt: str, platform: tuple[TestClient, str], fuzz_settings: Settings
) -> None:
    client, key = platform

    @FUZZ
    @given(data=mutated(fmt))
    def fuzz(data: bytes) -> None:
        with cpu_budget(CALL_SECONDS):
            response = client.post(
                "/check",
                headers=bearer(key),
                files={"file": ("upload", data, "application/octet-stream")},
            )
        assert response.status_code in (200, 400, 413, 415, 422), response.text[:500]
        body = response.json()
        if response.status_code == 200:
            assert body["decision"] in ("allow", "review", "block")
        else:
            assert response.headers["content-type"].startswith("application/json")
            assert {"error", "detail"} <= body.keys(), body
        spool = fuzz_settings.upload_dir
        assert not spool.exists() or list(spool.iterdir()) == []

    fuzz()


# The bugs these fuzzers found, fixed, kept as explicit examples: each was an
# unexpected exception (a 500 from the API) and is now a DecodeError (a 4xx).


def flipped(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0xFF
    return bytes(out)


# Offsets into the AVIF seed (Pillow 13's libavif encoding of a 96x72 photo): 81 is
# in the ``meta`` box ("Missing or empty image item", raised by Image.open), 275
# in the AV1 payload ("Decoding of color planes failed", raised by load).
CORRUPT_AVIF = pytest.mark.parametrize("at", [81, 275], ids=["meta", "payload"])


@CORRUPT_AVIF
def test_corrupt_avif_is_a_decode_error(at: int) -> None:
    with pytest.raises(DecodeError):
        decode_image(flipped(seed("avif"), at))


@CORRUPT_AVIF
def test_corrupt_avif_animation_is_a_decode_error(at: int) -> None:
    data = flipped(seed("avif"), at)
    with pytest.raises(DecodeError):
        hash_animation(data, sha256(data), ClipLimits())


@CORRUPT_AVIF
def test_check_answers_corrupt_avif_with_422(at: int, platform: tuple[TestClient, str]) -> None:
    client, key = platform
    response = client.post(
        "/check",
        headers=bearer(key),
        files={"file": ("upload", flipped(seed("avif"), at), "application/octet-stream")},
    )
    assert response.status_code == 422


def unknown_codec(fmt: str) -> bytes:
    """The seed video with its codec renamed to one FFmpeg has no decoder for."""
    if fmt == "webm":
        return seed("webm").replace(b"V_VP9", b"V_XXX")
    return seed("mp4").replace(b"avc1", b"xxxx")


UNKNOWN_CODEC = pytest.mark.parametrize("fmt", ["webm", "mp4"])


@UNKNOWN_CODEC
def test_video_with_unknown_codec_is_a_decode_error(fmt: str, tmp_path: Path) -> None:
    data = unknown_codec(fmt)
    container = video_container(data[:SNIFF_BYTES])
    assert container is not None
    path = tmp_path / "upload"
    path.write_bytes(data)
    with pytest.raises(DecodeError):
        hash_video(path, container, sha256(data), ClipLimits())


@UNKNOWN_CODEC
def test_check_answers_video_with_unknown_codec_with_415(
    fmt: str, platform: tuple[TestClient, str], fuzz_settings: Settings
) -> None:
    client, key = platform
    try:
        response = client.post(
            "/check",
            headers=bearer(key),
            files={"file": ("upload", unknown_codec(fmt), "application/octet-stream")},
        )
    finally:
        spool = fuzz_settings.upload_dir
        assert not spool.exists() or list(spool.iterdir()) == []
    assert response.status_code == 415  # a codec FFmpeg cannot decode: unsupported, by name
    assert response.json()["error"] == "unsupported_media_type"
