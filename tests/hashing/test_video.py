"""Video keyframes: where they fall (cuts, clock, motion) and the limits that stop
hashing.

Every video is a real encode of real photos (:mod:`testkit.videos`), small
(320x180, 25 fps) and built once per module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hashing.clip import ClipLimits, Keyframe, StopReason
from hashing.hashers import sha256
from hashing.media import SNIFF_BYTES, video_container
from hashing.video import hash_video
from testkit import videos
from tests.budget import cpu_budget
from tests.hashing.video_clips import FPS, FRAME, SIZE, film, hash_file, times


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
