"""Video keyframes: where they fall (cuts, clock, motion), the limits that stop
hashing, every container and codec, and broken files.

Every video is a real encode of real photos (:mod:`testkit.videos`), small
(320x180, 25 fps) and built once per module.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from hashing.clip import ClipHashes, ClipLimits, Keyframe, StopReason
from hashing.decode import DecodeError, DecodeErrorCode
from hashing.hashers import sha256
from hashing.media import SNIFF_BYTES, Container, video_container
from hashing.pipeline import hash_pixels
from hashing.transforms import Transform
from hashing.video import hash_video
from testkit import videos
from tests.budget import cpu_budget
from tests.conftest import PHOTOS

SIZE = (320, 180)
FPS = 25.0
FRAME = 1 / FPS
# Wall time no single file, however broken, may take to hash here.
PROMPT = 5.0


@cache
def rgb(index: int) -> videos.Frame:
    return videos.load_rgb(PHOTOS[index])


def film(*photos: int, seconds: float, seed: int = 0) -> videos.Video:
    """One drifting shot per photo, hard cuts between them."""
    return videos.make_video(
        [rgb(i) for i in photos], shot_seconds=seconds, fps=FPS, size=SIZE, seed=seed
    )


def hash_file(path: Path, limits: ClipLimits | None = None) -> ClipHashes:
    data = path.read_bytes()
    container = video_container(data[:SNIFF_BYTES])
    assert container is not None, path
    return hash_video(path, container, sha256(data), limits or ClipLimits())


def times(clip: ClipHashes) -> list[float]:
    return [k.at for k in clip.keyframes]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


# Five 4-second shots (20 s), written once per codec the tests need.
MOVING = (0, 9, 18, 27, 36)


@pytest.fixture(scope="module")
def moving(folder: Path) -> dict[str, Path]:
    video = film(*MOVING, seconds=4.0, seed=1)
    return {
        "mp4v": videos.write(video, folder / "moving.mp4", "mp4v"),
        "libx264": videos.write(video, folder / "moving-h264.mp4", "libx264"),
        "libvpx-vp9": videos.write(video, folder / "moving.webm", "libvpx-vp9"),
        "MJPG": videos.write(video, folder / "moving.avi", "MJPG"),
    }


@pytest.mark.parametrize("codec", ["mp4v", "libx264"])
def test_a_static_shot_is_one_keyframe(folder: Path, codec: str) -> None:
    frame = film(3, seconds=FRAME).frames[0]
    still = videos.Video([frame] * int(10 * FPS), FPS)
    clip = hash_file(videos.write(still, folder / f"still-{codec}.mp4", codec))
    assert times(clip) == [0.0]
    assert clip.complete
    assert clip.duration == pytest.approx(10.0, abs=2 * FRAME)
    assert clip.hashed_until == pytest.approx(10.0 - FRAME, abs=2 * FRAME)
    assert clip.frames_decoded >= 10 * FPS / 2
    assert clip.low_quality == 0


# Cuts every 2.6 s fall between clock ticks of a 1 s interval.
CUT_EVERY = 2.6
CUTS = [0.0, 2.6, 5.2, 7.8, 10.4]


@pytest.mark.parametrize("codec", ["mp4v", "libx264"])
def test_a_keyframe_at_every_cut(folder: Path, codec: str) -> None:
    path = videos.write(
        film(1, 12, 23, 34, 45, seconds=CUT_EVERY, seed=3), folder / f"cuts-{codec}.mp4", codec
    )
    by_cuts_only = times(hash_file(path, ClipLimits(interval=60.0)))
    assert by_cuts_only == pytest.approx(CUTS, abs=FRAME)
    with_clock = times(hash_file(path))
    for cut in CUTS:
        assert min(abs(t - cut) for t in with_clock) <= FRAME + 1e-9, (cut, with_clock)


@pytest.mark.parametrize("interval", [1.0, 2.5])
@pytest.mark.parametrize("codec", ["mp4v", "libx264"])
def test_moving_content_has_a_keyframe_every_interval(
    moving: dict[str, Path], codec: str, interval: float
) -> None:
    """H.264's non-reference frames are skipped undecoded, so a tick may land one
    decoded frame (two frame times) late."""
    clip = hash_file(moving[codec], ClipLimits(interval=interval))
    at = times(clip)
    assert at[0] == 0.0
    assert max(np.diff(at)) <= interval + 2 * FRAME + 1e-9, at
    assert 20.0 - at[-1] <= interval + 2 * FRAME, at
    assert len(at) >= 20.0 / interval
    # A cut every 4 s adds a keyframe the clock did not ask for.
    assert {4.0, 8.0, 12.0, 16.0} <= set(at)


def test_registration_samples_motion_densely(moving: dict[str, Path]) -> None:
    """With ``motion_bits`` (as registration runs) the drifting shots get several
    keyframes a second, so a check's clock-sampled keyframe finds one near it."""
    for path in (moving["mp4v"], moving["libx264"]):
        check = hash_file(path)
        register = hash_file(path, ClipLimits(motion_bits=20, max_keyframes=3600))
        assert len(register.keyframes) >= 3 * len(check.keyframes)
        nearest = [min(k.pdq.distance(r.pdq) for r in register.keyframes) for k in check.keyframes]
        assert np.mean(np.array(nearest) <= 31) >= 0.8, (path.name, nearest)
        assert max(nearest) <= 40, (path.name, nearest)


def test_local_features_are_spread_over_the_clip(moving: dict[str, Path]) -> None:
    """With local features asked for, the first keyframe and then one every few
    seconds or at each new picture get them (within the limit): an upload's
    with their frame, an item's with their cells; none without."""
    path = moving["libx264"]
    data = path.read_bytes()
    container = video_container(data[:SNIFF_BYTES])
    assert container is not None

    def featured(limits: ClipLimits, *, local: bool, item: bool = False) -> list[Keyframe]:
        clip = hash_video(path, container, sha256(data), limits, local=local, item=item)
        return [k for k in clip.keyframes if k.local is not None]

    assert featured(ClipLimits(), local=False) == []
    upload = featured(ClipLimits(), local=True)
    at = [k.at for k in upload]
    assert at[0] == 0.0
    assert 7 <= len(at) <= ClipLimits().local_keyframes
    assert max(np.diff(at)) <= 2.0 + 1.0 + 2 * FRAME, at  # the next keyframe after 2 s
    assert all(k.frame is not None and k.cells is None and len(k.local or ()) > 100 for k in upload)
    item = featured(
        ClipLimits(motion_bits=20, max_keyframes=3600, local_keyframes=6), local=True, item=True
    )
    assert len(item) == 6
    assert all(k.cells is not None and k.frame is None for k in item)
    # Six over 20 s: spread, not the first six keyframes.
    assert item[-1].at >= 12.0, [k.at for k in item]


def test_keyframe_limit(moving: dict[str, Path]) -> None:
    """The clock interval stretches to leave room under the limit (here to 13 s),
    so the three keyframes are the start and the first two cuts."""
    clip = hash_file(moving["mp4v"], ClipLimits(max_keyframes=3))
    assert clip.stopped is StopReason.KEYFRAMES
    assert not clip.complete
    assert times(clip) == [0.0, 4.0, 8.0]
    assert clip.hashed_until == 8.0


def test_duration_limit(moving: dict[str, Path]) -> None:
    clip = hash_file(moving["mp4v"], ClipLimits(max_seconds=5.0))
    assert clip.stopped is StopReason.DURATION
    assert not clip.complete
    assert clip.duration == pytest.approx(20.0)
    assert 5.0 < clip.hashed_until <= 5.0 + FRAME + 1e-9
    assert times(clip) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_time_budget(moving: dict[str, Path]) -> None:
    with cpu_budget(1.0):
        clip = hash_file(moving["mp4v"], ClipLimits(time_budget=1e-9))
    assert clip.stopped is StopReason.TIME_BUDGET
    assert not clip.complete
    assert clip.frames_decoded == 1
    assert clip.keyframes == []
    assert clip.quality is None


def flat(level: int, seconds: float) -> videos.Video:
    return videos.Video([np.full((SIZE[1], SIZE[0], 3), level, np.uint8)] * int(seconds * FPS), FPS)


def test_flat_frames_are_counted_not_kept(folder: Path) -> None:
    """Each second a different flat grey: every one is a keyframe by clock and by
    change, and every one has PDQ quality 0."""
    greys = videos.concat(flat(40 + 15 * i, 1.0) for i in range(10))
    clip = hash_file(videos.write(greys, folder / "greys.mp4", "mp4v"))
    assert clip.keyframes == []
    assert clip.low_quality == 10
    assert clip.quality is None
    assert clip.complete

    lead_in = videos.concat([flat(30, 3.0), film(7, seconds=4.0)])
    clip = hash_file(videos.write(lead_in, folder / "lead-in.mp4", "mp4v"))
    assert clip.low_quality == 1
    assert times(clip)[0] == pytest.approx(3.0)
    assert all(k.quality >= 50 for k in clip.keyframes)


def test_every_keyframe_under_the_floor_is_counted(moving: dict[str, Path]) -> None:
    """With the floor above any quality, each of the 20 keyframes is counted and
    none kept (the selector then compares frames with the last one looked at)."""
    nothing = hash_file(moving["mp4v"], ClipLimits(min_quality=101))
    assert nothing.keyframes == []
    assert nothing.low_quality == 20


def mux(video: videos.Video, path: Path, muxer: str, codec: str) -> Path:
    """Encode with PyAV into a container :func:`testkit.videos.write` does not make."""
    with av.open(str(path), "w", format=muxer) as box:
        stream = box.add_stream(codec, rate=round(video.fps))
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = video.size
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 2_000_000  # the old codecs' 200 kb/s default smears cuts
        for frame in video.frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    return path


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
