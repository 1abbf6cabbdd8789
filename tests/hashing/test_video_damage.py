"""Broken video files: no frame to hash, truncated and damaged media, mangled
bytes; each hashes what is there or fails cleanly, in bounded time."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from hashing.clip import ClipLimits, StopReason
from hashing.decode import DecodeError, DecodeErrorCode
from hashing.hashers import sha256
from hashing.media import SNIFF_BYTES, video_container
from hashing.video import hash_video
from testkit import videos
from tests.budget import cpu_budget
from tests.hashing.video_clips import FPS, PROMPT, SIZE, film, hash_file, times


def no_frames(folder: Path, fourcc: str, suffix: str) -> bytes:
    """What OpenCV's writer leaves when it is opened and released without a frame."""
    path = folder / f"empty-{fourcc}{suffix}"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), FPS, SIZE)
    assert writer.isOpened()
    writer.release()
    return path.read_bytes()


def audio_only(folder: Path) -> bytes:
    path = folder / "audio.m4a"
    with av.open(str(path), "w", format="mp4") as box:
        stream = box.add_stream("aac", rate=44100)
        assert isinstance(stream, av.AudioStream)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 44100, i * 1024
            for packet in stream.encode(frame):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    return path.read_bytes()


def refused(folder: Path, name: str, data: bytes) -> DecodeError:
    path = folder / name
    path.write_bytes(data)
    with cpu_budget(PROMPT), pytest.raises(DecodeError) as info:
        hash_file(path)
    return info.value


def test_files_with_no_frame_to_hash_are_corrupt_video(
    folder: Path, moving: dict[str, Path]
) -> None:
    """MP4 writers put the index (``moov``) after the media, so an MP4 cut
    anywhere before its end has no index and no frame can be found."""
    mp4 = moving["mp4v"].read_bytes()
    h264 = moving["libx264"].read_bytes()
    webm = moving["libvpx-vp9"].read_bytes()
    cases = {
        "mp4 truncated at 50%": mp4[: len(mp4) // 2],
        "h264 mp4 truncated at 90%": h264[: len(h264) * 9 // 10],
        "mp4 cut inside its header": h264[:40],
        "garbage after a valid ftyp": mp4[:32] + bytes(range(256)) * 64,
        "random bytes after a valid ftyp": mp4[:32] + np.random.default_rng(0).bytes(20_000),
        "mkv header only": webm[:64],
        "ebml magic and zeros": b"\x1aE\xdf\xa3" + bytes(4096),
        "avi with no frames": no_frames(folder, "MJPG", ".avi"),
        "mp4 with no frames": no_frames(folder, "mp4v", ".mp4"),
        "mkv with no frames": no_frames(folder, "VP80", ".mkv"),
        "audio only": audio_only(folder),
    }
    details: dict[str, str] = {}
    for name, data in cases.items():
        error = refused(folder, f"bad-{len(details)}", data)
        assert error.code is DecodeErrorCode.CORRUPT_VIDEO, name
        details[name] = error.detail
    assert details["audio only"] == "the file has no video stream"
    assert details["avi with no frames"] == "the video has no frames"
    # FFmpeg's messages are passed on, never the path of the file it was reading.
    assert not any(str(folder) in detail for detail in details.values()), details


@pytest.mark.parametrize("codec", ["MJPG", "libvpx-vp9"])
def test_truncated_avi_and_webm_decode_what_is_there(
    folder: Path, moving: dict[str, Path], codec: str
) -> None:
    """AVI and Matroska carry their index up front (or none), so the first half of
    a file cut in two is still a playable clip, and is hashed."""
    data = moving[codec].read_bytes()
    path = folder / f"half-{codec}"
    path.write_bytes(data[: len(data) // 2])
    whole = hash_file(moving[codec])
    with cpu_budget(PROMPT):
        half = hash_file(path)
    assert 2.0 < half.hashed_until < whole.hashed_until - 2.0
    assert half.frames_decoded < whole.frames_decoded
    assert times(half) == times(whole)[: len(half.keyframes)]
    assert all(t <= half.hashed_until for t in times(half))


def test_a_truncated_webm_is_not_reported_complete(folder: Path, moving: dict[str, Path]) -> None:
    data = moving["libvpx-vp9"].read_bytes()
    path = folder / "half.webm"
    path.write_bytes(data[: len(data) // 2])
    half = hash_file(path)
    assert half.duration == pytest.approx(20.0)
    assert half.hashed_until < 11.0
    assert not half.complete


def test_damaged_media_ends_the_clip_at_the_damage(folder: Path, moving: dict[str, Path]) -> None:
    """Bytes overwritten a third of the way into an MP4's media: the frames before
    are hashed and the answer says decoding stopped on an error."""
    for codec in ("mp4v", "libx264"):
        whole = hash_file(moving[codec])
        data = bytearray(moving[codec].read_bytes())
        third = len(data) // 3
        data[third : third + 25_600] = bytes(range(256)) * 100
        path = folder / f"damaged-{codec}.mp4"
        path.write_bytes(bytes(data))
        clip = hash_file(path)
        assert clip.stopped is StopReason.DECODE_ERROR, codec
        assert not clip.complete
        assert 2.0 < clip.hashed_until < 15.0, codec
        assert len(clip.keyframes) >= 3
        assert [(k.at, k.pdq) for k in clip.keyframes[:-1]] == [
            (k.at, k.pdq) for k in whole.keyframes[: len(clip.keyframes) - 1]
        ]


STOPS = [None, *StopReason]


def test_mangled_files_hash_or_fail_cleanly(folder: Path) -> None:
    """Seeded truncations, byte flips and overwritten runs of small real files:
    every one either hashes or raises ``corrupt_video``, promptly."""
    rng = np.random.default_rng(7)
    clip = film(5, 6, seconds=1.0, seed=2)
    outcomes: dict[str, int] = {}
    for codec, suffix in (("libx264", ".mp4"), ("libvpx-vp9", ".webm"), ("mp4v", ".mp4")):
        original = videos.write(clip, folder / f"small-{codec}{suffix}", codec).read_bytes()
        for i in range(18):
            data = bytearray(original)
            if i % 3 == 0:
                data = data[: int(rng.integers(16, len(data)))]
            elif i % 3 == 1:
                for at in rng.integers(0, len(data), 20):
                    data[at] = int(rng.integers(0, 256))
            else:
                at = int(rng.integers(0, len(data)))
                data[at : at + 2000] = rng.bytes(len(data[at : at + 2000]))
            path = folder / "mangled"
            path.write_bytes(bytes(data))
            container = video_container(bytes(data[:SNIFF_BYTES]))
            if container is None:
                outcomes["not a video"] = outcomes.get("not a video", 0) + 1
                continue
            with cpu_budget(PROMPT):
                try:
                    result = hash_video(path, container, sha256(bytes(data)), ClipLimits())
                    outcome = f"hashed, stopped {result.stopped}"
                except DecodeError as error:
                    outcome = error.code.value
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    allowed = {"not a video", "corrupt_video"} | {f"hashed, stopped {s}" for s in STOPS}
    assert set(outcomes) <= allowed, outcomes
    assert outcomes.get("corrupt_video", 0) > 0, outcomes
    assert outcomes.get("hashed, stopped None", 0) > 0, outcomes
