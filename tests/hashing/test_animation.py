"""Animated GIF, WebP and PNG: keyframes timed by frame durations, the limits that
stop hashing, and broken files."""

from __future__ import annotations

import io
import struct
from functools import cache

import numpy as np
import pytest
from PIL import GifImagePlugin, Image

from hashing.animation import hash_animation
from hashing.clip import ClipHashes, ClipLimits, StopReason
from hashing.decode import DecodeError, DecodeErrorCode, decode_image
from hashing.hashers import sha256
from hashing.media import SNIFF_BYTES, is_animated, video_container
from hashing.pipeline import hash_pixels
from hashing.transforms import Transform
from testkit import videos
from tests.budget import cpu_budget
from tests.conftest import PHOTOS

SIZE = (320, 180)
# Five photos, each shown for its own time (milliseconds).
SHOWN = (4, 15, 26, 37, 49)
DELAYS_MS = [300, 700, 1200, 500, 250]
STARTS = [0.0, 0.3, 1.0, 2.2, 2.7]
FORMATS = {"gif": "GIF", "webp": "WEBP", "png": "PNG"}


@cache
def frames() -> list[videos.Frame]:
    """The first frame of a 16:9 shot of each photo."""
    return [videos.shot(videos.load_rgb(PHOTOS[i]), 0.04, 25, SIZE, 0)[0] for i in SHOWN]


def animate(
    pictures: list[videos.Frame], fmt: str, duration: int | list[int], **options: object
) -> bytes:
    first, *rest = (Image.fromarray(p) for p in pictures)
    buf = io.BytesIO()
    first.save(
        buf,
        FORMATS[fmt],
        save_all=True,
        append_images=rest,
        duration=duration,
        loop=0,
        **options,
    )
    return buf.getvalue()


@cache
def slideshow(fmt: str) -> bytes:
    return animate(frames(), fmt, DELAYS_MS, **({"quality": 90} if fmt == "webp" else {}))


def hash_bytes(data: bytes, limits: ClipLimits | None = None) -> ClipHashes:
    return hash_animation(data, sha256(data), limits or ClipLimits())


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_keyframes_are_timed_by_frame_durations(fmt: str) -> None:
    data = slideshow(fmt)
    assert is_animated(data)
    assert video_container(data[:SNIFF_BYTES]) is None
    clip = hash_bytes(data)
    assert clip.kind == "animation"
    assert clip.container == fmt
    assert (clip.width, clip.height) == SIZE
    assert [k.at for k in clip.keyframes] == STARTS
    assert clip.duration == pytest.approx(sum(DELAYS_MS) / 1000)
    assert clip.hashed_until == clip.duration
    assert clip.frames_decoded == len(SHOWN)
    assert clip.complete
    assert clip.low_quality == 0
    for keyframe, frame in zip(clip.keyframes, frames(), strict=True):
        truth = hash_pixels(frame)[0].pdq[Transform.ORIGINAL]
        assert keyframe.pdq.distance(truth) <= 16, (fmt, keyframe.at)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize(("delay_ms", "plays_ms"), [(0, 100), (10, 100), (20, 20)])
def test_very_short_delays_play_as_browsers_play_them(
    fmt: str, delay_ms: int, plays_ms: int
) -> None:
    """Browsers show a frame delay of 10 ms or less (0 included) for 100 ms."""
    clip = hash_bytes(animate(frames(), fmt, delay_ms))
    step = plays_ms / 1000
    assert [k.at for k in clip.keyframes] == pytest.approx(
        [i * step for i in range(len(clip.keyframes))]
    )
    assert clip.duration == pytest.approx(len(SHOWN) * step)


def test_a_still_scene_is_one_keyframe() -> None:
    """Twelve frames differing in one pixel each (so no encoder merges them)."""
    base = frames()[1]
    pictures = []
    for i in range(12):
        picture = base.copy()
        picture[0, i] = 255 - picture[0, i]
        pictures.append(picture)
    clip = hash_bytes(animate(pictures, "gif", 100))
    assert clip.frames_decoded == 12
    assert [k.at for k in clip.keyframes] == [0.0]
    assert clip.duration == pytest.approx(1.2)


def test_flat_frames_are_counted_not_kept() -> None:
    """Six flat greys half a second apart: the clock asks for one a second."""
    greys = [np.full((SIZE[1], SIZE[0], 3), 40 + 20 * i, np.uint8) for i in range(6)]
    clip = hash_bytes(animate(greys, "gif", 500))
    assert clip.keyframes == []
    assert clip.low_quality == 3
    assert clip.quality is None
    assert clip.complete


def still_gif_with_updates(count: int) -> bytes:
    """A 32x32 GIF followed by ``count`` frames that each repaint one pixel.

    Written by hand: Pillow's encoder compares every frame with the last and took
    15 s for 4,000 frames. Each frame is a graphic control extension (20 ms
    delay) and a 1x1 image whose LZW data is clear code, one pixel, end code in
    9-bit codes.
    """
    tiny = Image.fromarray(frames()[2]).resize((32, 32)).quantize(256)
    buf = io.BytesIO()
    tiny.save(buf, "GIF", save_all=True, append_images=[tiny.rotate(90)], duration=20, loop=0)
    head = buf.getvalue()
    assert head.endswith(b";")

    def update(i: int) -> bytes:
        control = b"\x21\xf9\x04\x00" + struct.pack("<H", 2) + b"\x00\x00"
        place = b"\x2c" + struct.pack("<HHHH", i % 32, (i // 32) % 32, 1, 1) + b"\x00"
        codes = 256 | ((i % 256) << 9) | (257 << 18)
        return control + place + b"\x08\x04" + codes.to_bytes(4, "little") + b"\x00"

    return head[:-1] + b"".join(update(i) for i in range(count)) + b";"


def test_thousands_of_tiny_frames_stop_at_the_frame_limit() -> None:
    data = still_gif_with_updates(4000)
    with Image.open(io.BytesIO(data)) as image:
        assert isinstance(image, GifImagePlugin.GifImageFile)
        assert image.n_frames == 4002
    assert is_animated(data)
    with cpu_budget(3.0):
        clip = hash_bytes(data)
    assert clip.stopped is StopReason.FRAMES
    assert not clip.complete
    assert clip.frames_decoded == ClipLimits().max_frames == 3000
    assert clip.duration is None
    assert clip.hashed_until == pytest.approx(3000 * 0.02)
    assert clip.keyframes

    assert hash_bytes(data, ClipLimits(max_frames=500)).frames_decoded == 500


def test_keyframe_duration_and_time_limits() -> None:
    data = slideshow("gif")
    by_count = hash_bytes(data, ClipLimits(max_keyframes=2))
    assert by_count.stopped is StopReason.KEYFRAMES
    assert [k.at for k in by_count.keyframes] == STARTS[:2]

    by_length = hash_bytes(data, ClipLimits(max_seconds=1.0))
    assert by_length.stopped is StopReason.DURATION
    assert [k.at for k in by_length.keyframes] == [0.0, 0.3, 1.0]
    assert by_length.duration is None
    assert not by_length.complete

    # A budget spent by the first frame, whatever the machine's speed: the clock
    # stops a long clip before its frame limit, once a frame is decoded.
    by_clock = hash_bytes(still_gif_with_updates(4000), ClipLimits(time_budget=1e-6))
    assert by_clock.stopped is StopReason.TIME_BUDGET
    assert 0 < by_clock.frames_decoded < 3000
    assert by_clock.duration is None


def test_a_spent_time_budget_is_not_a_corrupt_file() -> None:
    clip = hash_bytes(slideshow("gif"), ClipLimits(time_budget=1e-9))
    assert clip.stopped is StopReason.TIME_BUDGET


def test_pixel_and_side_limits() -> None:
    data = slideshow("png")
    width, height = SIZE
    with pytest.raises(DecodeError) as info:
        hash_bytes(data, ClipLimits(max_pixels=width * height - 1))
    assert info.value.code is DecodeErrorCode.TOO_MANY_PIXELS
    assert hash_bytes(data, ClipLimits(max_pixels=width * height)).complete

    small = [np.ascontiguousarray(f[:15, :40]) for f in frames()]
    with pytest.raises(DecodeError) as info:
        hash_bytes(animate(small, "gif", 100))
    assert info.value.code is DecodeErrorCode.CORRUPT
    assert "too small" in info.value.detail


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_truncated_animations(fmt: str) -> None:
    """A cut GIF or APNG gives the frames before the cut, marked ``decode_error``;
    a cut WebP (its frames are indexed from the header) or a cut inside the first
    frame is ``corrupt_image``. Nothing else is raised."""
    data = slideshow(fmt)
    outcomes = {}
    for share in (0.3, 0.6, 0.9):
        cut = data[: int(len(data) * share)]
        try:
            clip = hash_bytes(cut)
        except DecodeError as error:
            outcomes[share] = error.code.value
            continue
        assert clip.stopped is StopReason.DECODE_ERROR
        assert not clip.complete
        assert [k.at for k in clip.keyframes] == STARTS[: len(clip.keyframes)]
        outcomes[share] = f"{clip.frames_decoded} frames"
    assert set(outcomes.values()) <= {"corrupt_image", *(f"{n} frames" for n in range(1, 5))}
    assert outcomes[0.9] != "corrupt_image" or fmt == "webp", outcomes


def test_what_counts_as_animated() -> None:
    one_frame = io.BytesIO()
    Image.fromarray(frames()[0]).save(one_frame, "GIF")
    assert not is_animated(one_frame.getvalue())
    assert not is_animated(PHOTOS[0].read_bytes())
    assert not is_animated(b"GIF89a" + bytes(100))
    assert not is_animated(b"")
    for fmt in FORMATS:
        assert is_animated(slideshow(fmt))


def test_a_gif_cut_anywhere_after_its_first_frame_is_not_an_animation_error() -> None:
    """Pillow raised IndexError or struct.error reading the second frame of such a
    GIF (a /check answered 500 under the decoder fuzz test). Cut at every byte from
    the second frame's control block on, the shorter cuts are not animations, and
    the still decoder refuses them as corrupt (checked at every 50th cut of 90,000:
    a decode costs a fraction of a millisecond); the longer ones are animations,
    whose hasher stops where the data ends (``test_truncated_animations``)."""
    data = animate(frames()[:2], "gif", 500)
    second = data.index(b"\x21\xf9", data.index(b"\x2c"))  # the second frame's control block
    verdicts = {end: is_animated(data[:end]) for end in range(second, len(data) - 1)}
    animated = [end for end, verdict in verdicts.items() if verdict]
    assert animated
    assert animated == list(range(animated[0], len(data) - 1))  # every cut from there on
    assert not verdicts[second]
    for end in list(verdicts)[::50]:
        if not verdicts[end]:
            with pytest.raises(DecodeError) as refused:
                decode_image(data[:end])
            assert refused.value.code is DecodeErrorCode.CORRUPT


def huge_canvas_gif(updates: int, side: int = 5900) -> bytes:
    """The tiny-frames GIF on a ``side`` x ``side`` logical screen: each one-pixel
    update is composited onto the whole canvas."""
    data = bytearray(still_gif_with_updates(updates))
    data[6:10] = struct.pack("<HH", side, side)
    return bytes(data)


def test_a_huge_canvas_stops_at_the_pixel_budget_cheaply() -> None:
    data = huge_canvas_gif(3000)
    assert len(data) < 100_000
    with cpu_budget(10.0):
        clip = hash_bytes(data)
    assert clip.stopped is StopReason.PIXELS
    assert not clip.complete
    side = 5900 * 5900
    assert clip.frames_decoded == ClipLimits().max_composited // side == 3


def test_the_pixel_budget_counts_canvas_pixels_not_frames() -> None:
    small = still_gif_with_updates(200)  # a 32x32 canvas: far within any budget
    assert hash_bytes(small).stopped is None
    clip = hash_animation(small, sha256(small), ClipLimits(max_composited=32 * 32 * 50))
    assert clip.stopped is StopReason.PIXELS
    assert clip.frames_decoded == 50
