"""Video keyframes in every container and codec, display rotation, and the frame
size limits."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from hashing.clip import ClipHashes, ClipLimits
from hashing.decode import DecodeError, DecodeErrorCode
from hashing.media import SNIFF_BYTES, Container, video_container
from hashing.pipeline import hash_pixels
from hashing.transforms import Transform
from testkit import videos
from tests.hashing.video_clips import FPS, FRAME, SIZE, film, hash_file, mux, times

# Every container and codec the service meets: the encoder, the muxer when
# testkit.videos.write does not make the container, and the demuxer its magic names.
ENCODINGS: dict[str, tuple[str, str | None, Container]] = {
    "mp4v.mp4": ("mp4v", None, Container.MP4),
    "mjpg.avi": ("MJPG", None, Container.AVI),
    "vp8.mkv": ("VP80", None, Container.MATROSKA),
    "h264.mp4": ("libx264", None, Container.MP4),
    "vp9.webm": ("libvpx-vp9", None, Container.MATROSKA),
    "h264.mov": ("libx264", None, Container.MP4),
    "mp4v.mov": ("mp4v", None, Container.MP4),
    "h264.3gp": ("libx264", "3gp", Container.MP4),
    "h264.ts": ("libx264", "mpegts", Container.MPEG_TS),
    "mpeg2.mpg": ("mpeg2video", "mpeg", Container.MPEG_PS),
    "flv1.flv": ("flv", "flv", Container.FLV),
    "wmv2.wmv": ("wmv2", "asf", Container.ASF),
}
# Two 2.5-second shots; the cut at 2.5 s falls between clock ticks.
CODEC_SOURCE = (2, 3)
CODEC_CUT = 2.5


@cache
def codec_source() -> videos.Video:
    return film(*CODEC_SOURCE, seconds=CODEC_CUT, seed=5)


@pytest.fixture(scope="module")
def encoded(folder: Path) -> dict[str, ClipHashes]:
    out = {}
    for name, (codec, muxer, container) in ENCODINGS.items():
        path = folder / f"source-{name}"
        if muxer is None:
            videos.write(codec_source(), path, codec)
        else:
            mux(codec_source(), path, muxer, codec)
        assert video_container(path.read_bytes()[:SNIFF_BYTES]) is container
        out[name] = hash_file(path)
    return out


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_every_container_and_codec(encoded: dict[str, ClipHashes], name: str) -> None:
    """Each keyframe is within a few bits of the source frame it shows (measured at
    most 14 bits, H.264 at CRF 23; the limit leaves room for codec versions)."""
    clip = encoded[name]
    assert clip.kind == "video"
    assert clip.container == ENCODINGS[name][2].name.lower()
    assert (clip.width, clip.height) == SIZE
    assert clip.duration == pytest.approx(2 * CODEC_CUT, abs=2 * FRAME)
    assert clip.complete
    assert 5 <= len(clip.keyframes) <= 8
    assert min(abs(t - CODEC_CUT) for t in times(clip)) <= FRAME + 1e-9
    source = codec_source().frames
    for keyframe in clip.keyframes:
        frame = source[round(keyframe.at * FPS)]
        truth = hash_pixels(frame)[0]
        assert keyframe.pdq.distance(truth.pdq[Transform.ORIGINAL]) <= 20, (name, keyframe.at)
        assert abs(keyframe.quality - truth.quality) <= 15, (name, keyframe.at)


def test_codecs_agree_at_the_start_and_the_cut(encoded: dict[str, ClipHashes]) -> None:
    """Measured: at most 6 bits apart at the start, 12 at the cut."""
    for instant in (0.0, CODEC_CUT):
        hashes = {
            name: next(k.pdq for k in clip.keyframes if abs(k.at - instant) <= FRAME + 1e-9)
            for name, clip in encoded.items()
        }
        worst = max(a.distance(b) for a in hashes.values() for b in hashes.values())
        assert worst <= 20, (instant, hashes)


@pytest.mark.parametrize(
    ("degrees", "stored_turn"),
    [(90, cv2.ROTATE_90_CLOCKWISE), (-90, cv2.ROTATE_90_COUNTERCLOCKWISE), (180, cv2.ROTATE_180)],
)
def test_display_rotation_is_applied(folder: Path, degrees: int, stored_turn: int) -> None:
    """A phone films sideways and tags the stream with the turn that shows it
    upright (counter-clockwise degrees): keyframes are hashed as shown."""
    upright = film(8, 19, seconds=1.0, seed=6)
    sideways = videos.Video(
        [np.ascontiguousarray(cv2.rotate(f, stored_turn)) for f in upright.frames], FPS
    )
    path = folder / f"rotated{degrees}.mp4"
    with av.open(str(path), "w") as box:
        stream = box.add_stream("libx264", rate=round(FPS))
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = sideways.size
        stream.pix_fmt = "yuv420p"
        stream.set_display_rotation(degrees)
        for frame in sideways.frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    clip = hash_file(path)
    assert (clip.width, clip.height) == sideways.size  # as stored
    assert len(clip.keyframes) >= 2
    for keyframe in clip.keyframes:
        truth = hash_pixels(upright.frames[round(keyframe.at * FPS)])[0].pdq[Transform.ORIGINAL]
        assert keyframe.pdq.distance(truth) <= 16, (degrees, keyframe.at)


def test_frames_over_the_pixel_limit(moving: dict[str, Path]) -> None:
    width, height = SIZE
    with pytest.raises(DecodeError) as info:
        hash_file(moving["libx264"], ClipLimits(max_pixels=width * height - 1))
    assert info.value.code is DecodeErrorCode.TOO_MANY_PIXELS
    assert "320x180" in info.value.detail
    assert hash_file(moving["libx264"], ClipLimits(max_pixels=width * height)).complete


def test_frames_under_the_side_limit(moving: dict[str, Path]) -> None:
    with pytest.raises(DecodeError) as info:
        hash_file(moving["mp4v"], ClipLimits(min_side=181))
    assert info.value.code is DecodeErrorCode.CORRUPT_VIDEO
    assert "too small" in info.value.detail
