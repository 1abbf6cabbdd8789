"""Keyframes of a clip (a video or an animated image) and how they are chosen.

A clip is hashed as a list of keyframes, each hashed like a still image by
:func:`hashing.pipeline.hash_pixels`. The decoders in :mod:`hashing.video` and
:mod:`hashing.animation` hand their frames to the loop of
:mod:`hashing.keyframes`, which feeds every decoded frame's thumbnail to a
:class:`KeyframeSelector`. It picks frames by content (a shot change) and by
clock (at least one every ``interval`` seconds), and drops a frame that shows
what the previous keyframe showed, so a static shot costs one hash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt

from hashing.cells import Cells, cells
from hashing.decode import DecodeError, DecodeErrorCode
from hashing.features import LocalFeatures, item_features, upload_features
from hashing.hashers import pdq
from hashing.pipeline import View, hash_pixels
from hashing.transforms import Transform
from hashing.types import HashValue, u8

# Sides of the grayscale thumbnail consecutive frames are compared by, and of the
# shrink a preview PDQ is taken of.
THUMB_SIDE = 32
PREVIEW_SIDE = 64


@dataclass(frozen=True, slots=True)
class ClipLimits:
    """Bounds and sampling of clip hashing. Times are seconds of the clip unless
    named wall time."""

    max_pixels: int = 8192 * 4320
    """Frame width x height, read from the stream header before decoding."""
    max_seconds: float = 3600.0
    """Only the first ``max_seconds`` of a longer clip are hashed (the answer says so)."""
    time_budget: float = 30.0
    """Wall-time seconds one clip may spend decoding and hashing; then it stops."""
    interval: float = 1.0
    """At least one keyframe this often, stretched so a long clip stays within
    ``max_keyframes``."""
    max_keyframes: int = 900
    shot_change: float = 24.0
    """Mean absolute difference (0-255) between consecutive thumbnails that marks a cut."""
    still_change: float = 2.0
    """Below this difference from the last keyframe's thumbnail a frame is not
    even hashed: nothing moved."""
    dedupe_distance: int = 12
    """A keyframe within this many PDQ bits of the previous one is dropped."""
    motion_bits: int | None = None
    """With a value, a frame whose preview PDQ moved this many bits from the last
    keyframe's is a keyframe too (at most one per ``min_gap`` seconds). Registration
    samples this densely so that a check, sampling only by clock and cuts, finds a
    stored keyframe near whatever instant it samples."""
    min_gap: float = 0.2
    min_quality: int = 50
    """Keyframes of lower PDQ quality are not kept (flat frames collide)."""
    max_frames: int = 3000
    """Frames an animated image may have decoded; the rest are not looked at."""
    max_composited: int = 120_000_000
    """Canvas pixels an animated image may composite (frames x width x height).
    Every frame of a GIF, WebP or APNG is drawn on the whole canvas, however
    small its own update, at about 25 ns a pixel here (decoding and compositing
    included): a 5900x5900 canvas with 3,000 one-pixel updates cost a check its
    whole time budget. This bounds it to about 3 s of CPU: 900 frames of a
    480x270 GIF, 130 of a 720p animation, 3 of that canvas."""
    threads: int = 2
    """Decoder threads per clip."""
    min_side: int = 16
    local_keyframes: int = 16
    """Keyframes given local features when a clip is hashed with them: the first
    kept, then the first kept ``local_every`` seconds after the last (stretched
    so that a long clip's are spread over all of it)."""
    local_every: float = 2.0


class StopReason(StrEnum):
    """Why hashing stopped before the end of the clip."""

    DURATION = "duration_limit"
    TIME_BUDGET = "time_budget"
    KEYFRAMES = "keyframe_limit"
    FRAMES = "frame_limit"
    PIXELS = "pixel_limit"
    """An animated image's frames composited as many canvas pixels as allowed."""
    DECODE_ERROR = "decode_error"
    TRUNCATED = "truncated"
    """The stream ended well before the duration the container declares."""


@dataclass(frozen=True, slots=True)
class Keyframe:
    at: float
    """Seconds from the start of the clip."""
    views: list[View]
    local: LocalFeatures | None = None
    """Local features (:mod:`hashing.features`), on some keyframes of a clip
    hashed with them: an item's, or an upload's."""
    cells: Cells | None = None
    """An item keyframe's cell signatures, stored with its local features."""
    frame: npt.NDArray[np.uint8] | None = None
    """An upload keyframe's feature frame (luma)."""

    @property
    def quality(self) -> int:
        return self.views[0].quality

    @property
    def pdq(self) -> HashValue:
        return self.views[0].pdq[Transform.ORIGINAL]


@dataclass(frozen=True, slots=True)
class ClipHashes:
    """Every hash of a clip, and how much of it was looked at."""

    sha256: HashValue
    kind: str
    """``video`` or ``animation``."""
    container: str
    width: int
    height: int
    duration: float | None
    """As the container declares it; None when it does not say."""
    hashed_until: float
    """Timestamp of the last frame decoded."""
    frames_decoded: int
    keyframes: list[Keyframe]
    low_quality: int
    """Keyframes dropped for PDQ quality below the floor."""
    stopped: StopReason | None = None
    """None when the whole clip was looked at."""

    @property
    def complete(self) -> bool:
        return self.stopped is None

    @property
    def quality(self) -> int | None:
        """Median keyframe quality; None without keyframes."""
        if not self.keyframes:
            return None
        return int(np.median([k.quality for k in self.keyframes]))


@dataclass(frozen=True, slots=True)
class Glance:
    """What the selector sees of a frame: cheap to make for every decoded frame."""

    thumb: npt.NDArray[np.float32]
    """32x32 grayscale, compared by mean absolute difference (0-255)."""
    preview: HashValue | None
    """PDQ of a 64x64 grayscale shrink, when motion sampling is on. Its distance
    between two frames tracks the full pipeline's: measured on moving shots, a
    preview distance of 16-20 bits was a median 18 (90th percentile 22) in PDQ of
    the frames themselves, at 0.17 ms a frame."""


def glance(gray: npt.NDArray[np.uint8], *, preview: bool) -> Glance:
    """The selector's view of a frame's 8-bit luma.

    A large frame is first thinned to every k-th row and column (at least twice
    the 64-pixel side remains): OpenCV's area filter took 1.2 ms on a 720p frame,
    more than decoding it, and 0.06 ms after thinning.
    """
    step = max(1, min(gray.shape[:2]) // (2 * PREVIEW_SIDE))
    small = u8(
        cv2.resize(gray[::step, ::step], (PREVIEW_SIDE, PREVIEW_SIDE), interpolation=cv2.INTER_AREA)
    )
    thumb = cv2.resize(small, (THUMB_SIDE, THUMB_SIDE), interpolation=cv2.INTER_AREA)
    return Glance(
        np.asarray(thumb, dtype=np.float32),
        pdq(np.ascontiguousarray(np.dstack([small, small, small])))[0] if preview else None,
    )


def _difference(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    return float(np.mean(np.abs(a - b)))


@dataclass
class KeyframeSelector:
    """Decides, frame by frame, which frames are worth hashing.

    Call :meth:`wants` for every decoded frame in order, hash the frames it
    accepts, and report each hash back with :meth:`keep`, which says whether
    the keyframe is new enough to store.
    """

    interval: float
    shot_change: float
    still_change: float
    dedupe_distance: int
    motion_bits: int | None = None
    min_gap: float = 0.2
    _previous: npt.NDArray[np.float32] | None = None
    _last: Glance | None = None
    _last_at: float | None = None
    _last_pdq: HashValue | None = field(default=None)

    def wants(self, at: float, frame: Glance) -> bool:
        cut = (
            self._previous is not None
            and _difference(frame.thumb, self._previous) > self.shot_change
        )
        self._previous = frame.thumb
        due = self._last_at is None or at - self._last_at >= self.interval
        moved = (
            self.motion_bits is not None
            and self._last is not None
            and self._last.preview is not None
            and frame.preview is not None
            and self._last_at is not None
            and at - self._last_at >= self.min_gap
            and frame.preview.distance(self._last.preview) >= self.motion_bits
        )
        if not (cut or due or moved):
            return False
        if (
            self._last is not None
            and _difference(frame.thumb, self._last.thumb) < self.still_change
        ):
            self._last_at = at  # the same picture is still on screen: nothing to hash
            return False
        return True

    def keep(self, at: float, frame: Glance, pdq: HashValue | None) -> bool:
        """Record a hashed frame; False when it repeats the previous keyframe
        (or had no usable hash)."""
        self._last_at = at
        self._last = frame
        if pdq is None:
            return False
        if self._last_pdq is not None and pdq.distance(self._last_pdq) < self.dedupe_distance:
            return False
        self._last_pdq = pdq
        return True


def check_frame_size(width: int, height: int, limits: ClipLimits, small: DecodeErrorCode) -> None:
    """Refuse frames over ``max_pixels`` (``too_many_pixels``) or under ``min_side``
    (``small``, the decoder's own corrupt-file code), from the header's size."""
    if width * height > limits.max_pixels:
        raise DecodeError(
            DecodeErrorCode.TOO_MANY_PIXELS,
            f"{width}x{height} frames exceed the limit of {limits.max_pixels} pixels",
        )
    if min(width, height) < limits.min_side:
        raise DecodeError(
            small, f"{width}x{height} frames are too small to hash (min {limits.min_side} px)"
        )


@dataclass
class KeyframeCollector:
    """The keyframes of one clip as its frames go by: glances at each frame, hashes
    the ones the selector wants, keeps those of good quality that are new, and
    with ``local`` gives some of them local features (an item's when ``item``)."""

    limits: ClipLimits
    pick: KeyframeSelector
    local: bool = False
    item: bool = False
    local_every: float = 2.0
    keyframes: list[Keyframe] = field(default_factory=list)
    low_quality: int = 0
    featured: int = 0
    _featured_at: float | None = None

    def glance(self, gray: npt.NDArray[np.uint8]) -> Glance:
        return glance(gray, preview=self.limits.motion_bits is not None)

    def offer(self, at: float, seen: Glance, pixels: Callable[[], npt.NDArray[np.uint8]]) -> bool:
        """Consider the frame at ``at`` (its RGB pixels made only if it is hashed);
        True once the keyframe limit is reached."""
        if not self.pick.wants(at, seen):
            return False
        rgb = pixels()
        views = hash_pixels(rgb)
        good = views[0].quality >= self.limits.min_quality
        self.low_quality += not good
        code = views[0].pdq[Transform.ORIGINAL]
        if self.pick.keep(at, seen, code if good else None):
            keyframe = Keyframe(round(at, 3), views)
            if self._wants_features(at):
                keyframe = self._with_features(keyframe, rgb)
                self.featured += 1
                self._featured_at = at
            self.keyframes.append(keyframe)
        return len(self.keyframes) >= self.limits.max_keyframes

    def _wants_features(self, at: float) -> bool:
        if not self.local or self.featured >= self.limits.local_keyframes:
            return False
        return self._featured_at is None or at - self._featured_at >= self.local_every

    def _with_features(self, keyframe: Keyframe, rgb: npt.NDArray[np.uint8]) -> Keyframe:
        luma = rgb if rgb.ndim == 2 else u8(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        if self.item:
            features, frame = item_features(luma)
            return replace(keyframe, local=features, cells=cells(frame))
        features, frame = upload_features(luma)
        return replace(keyframe, local=features, frame=frame)


def collector(
    limits: ClipLimits, duration: float | None, *, local: bool = False, item: bool = False
) -> KeyframeCollector:
    """A collector for a clip of ``duration`` (None: unknown) sampled as
    :func:`selector` says, spreading its local features over the whole clip."""
    every = limits.local_every
    if duration is not None and duration > 0 and limits.local_keyframes > 0:
        every = max(every, min(duration, limits.max_seconds) / limits.local_keyframes)
    return KeyframeCollector(
        limits, selector(limits, duration), local=local, item=item, local_every=every
    )


def selector(limits: ClipLimits, duration: float | None) -> KeyframeSelector:
    """A selector whose clock interval and motion gap keep a clip of ``duration``
    within the keyframe limit (leaving room for shot changes)."""
    interval, min_gap = limits.interval, limits.min_gap
    if duration is not None and duration > 0:
        seconds = min(duration, limits.max_seconds)
        interval = max(interval, 2 * seconds / limits.max_keyframes)
        if limits.motion_bits is not None:
            min_gap = max(min_gap, 2 * seconds / limits.max_keyframes)
    return KeyframeSelector(
        interval=interval,
        shot_change=limits.shot_change,
        still_change=limits.still_change,
        dedupe_distance=limits.dedupe_distance,
        motion_bits=limits.motion_bits,
        min_gap=min_gap,
    )
