"""The one loop over a clip's decoded frames that chooses and hashes its keyframes.

A video (:mod:`hashing.video`) and an animated image (:mod:`hashing.animation`)
differ in how frames are decoded, timed and bounded; each is a generator of
:class:`ClipFrame` that applies its own limits. What is done with the frames
(counting them, choosing keyframes by content and clock, hashing them, stopping
at the keyframe limit or on a decoding error) is this loop, so both kinds of
clip are keyframed by the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hashing.clip import KeyframeCollector, StopReason
from hashing.decode import DecodeError

Pixels = Callable[[], npt.NDArray[np.uint8]]
"""Pixels of a frame, made only when asked (most frames are never hashed)."""


@dataclass(frozen=True, slots=True)
class ClipFrame:
    """One decoded frame, as its source hands it to the loop."""

    at: float
    """Seconds from the start of the clip at which the frame is shown."""
    until: float
    """Seconds of the clip known once this frame is counted (its own time for a
    video; the end of its display for an animated image)."""
    luma: Pixels
    """The frame's 8-bit luma, for the selector's glance."""
    rgb: Pixels
    """Its RGB pixels at hashing size, upright, for a keyframe's hashes."""
    refused: StopReason | None = None
    """Set when the source decoded this frame but a limit ends the clip at it:
    the frame counts as decoded, and is not looked at."""


FrameSource = Generator[ClipFrame, None, StopReason | None]
"""A clip's frames in order; it returns the limit that ended it early (None
when the clip ended by itself)."""


@dataclass(slots=True)
class ClipRun:
    """How far the loop got through a clip."""

    decoded: int = 0
    """Frames counted as decoded."""
    until: float = 0.0
    """Seconds of the clip looked at (see :attr:`ClipFrame.until`)."""
    stopped: StopReason | None = None
    """None when the whole clip was looked at."""


def collect_keyframes(
    frames: FrameSource,
    keyframes: KeyframeCollector,
    failures: tuple[type[Exception], ...],
    unreadable: Callable[[Exception], DecodeError],
) -> ClipRun:
    """Feed every frame of ``frames`` to ``keyframes`` until the clip ends, its
    source refuses a frame, or the collector reaches its keyframe limit.

    A ``failures`` exception from decoding or hashing ends the clip there
    (``decode_error``) once a frame has been counted; before that it is raised
    as ``unreadable(exc)``, a :class:`DecodeError`.
    """
    run = ClipRun()
    try:
        while True:
            try:
                frame = next(frames)
            except StopIteration as end:
                run.stopped = end.value
                break
            run.decoded += 1
            run.until = frame.until
            if frame.refused is not None:
                run.stopped = frame.refused
                break
            seen = keyframes.glance(frame.luma())
            if keyframes.offer(frame.at, seen, frame.rgb):
                run.stopped = StopReason.KEYFRAMES
                break
    except failures as exc:
        if run.decoded == 0:
            raise unreadable(exc) from exc
        run.stopped = StopReason.DECODE_ERROR
    return run
