"""Keyframes and hashes of animated GIF, WebP and PNG (APNG) images.

Pillow decodes all three (OpenCV reads only the first frame of most), frame by
frame and composited as a browser shows them. Frame timing comes from each
frame's duration, with the browsers' rule that a delay of 10 ms or less plays
at 100 ms, so a GIF's timestamps are the ones a viewer sees.
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Mapping
from functools import partial
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageSequence

from hashing.clip import (
    ClipHashes,
    ClipLimits,
    StopReason,
    check_frame_size,
    collector,
)
from hashing.decode import DecodeError, DecodeErrorCode
from hashing.keyframes import ClipFrame, FrameSource, collect_keyframes
from hashing.types import HashValue, u8

# Browsers play a GIF frame delay of 10 ms or less (including 0) at 100 ms.
_MIN_DELAY_MS = 10
_DEFAULT_DELAY_MS = 100
_HASH_SIDE = 512

# What a damaged frame can make Pillow raise (RuntimeError: its AVIF plugin).
_FAILURES = (OSError, ValueError, SyntaxError, EOFError, IndexError, RuntimeError)


def _delay(info: Mapping[Any, Any]) -> float:
    value = info.get("duration", _DEFAULT_DELAY_MS)
    delay = float(value) if isinstance(value, int | float) else _DEFAULT_DELAY_MS
    return (delay if delay > _MIN_DELAY_MS else _DEFAULT_DELAY_MS) / 1000


def _open(data: bytes, limits: ClipLimits) -> Image.Image:
    """Pillow's reader of the animation; :class:`DecodeError` ``too_many_pixels``
    for a canvas over the limit, ``corrupt_image`` for a damaged header."""
    try:
        return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise DecodeError(
            DecodeErrorCode.TOO_MANY_PIXELS,
            f"the canvas exceeds the limit of {limits.max_pixels} pixels",
        ) from exc
    except (OSError, ValueError, SyntaxError, RuntimeError) as exc:
        # RuntimeError: Pillow's AVIF plugin reports a damaged file that way.
        raise DecodeError(
            DecodeErrorCode.CORRUPT, "the animation's header is damaged or incomplete"
        ) from exc


def _stop_before(
    decoded: int, at: float, area: int, limits: ClipLimits, started: float
) -> StopReason | None:
    """The limit that ends the clip before its next frame (shown at ``at``
    seconds, on a canvas of ``area`` pixels) is composited, if any.

    The first frame is always looked at, so a good file is never "without
    frames" however little of the wall-time budget since ``started`` is left.
    """
    if decoded >= limits.max_frames:
        return StopReason.FRAMES
    if decoded and (decoded + 1) * area > limits.max_composited:
        return StopReason.PIXELS
    if decoded and time.perf_counter() - started > limits.time_budget:
        return StopReason.TIME_BUDGET
    if at > limits.max_seconds:
        return StopReason.DURATION
    return None


def _frames(image: Image.Image, limits: ClipLimits, started: float) -> FrameSource:
    """The animation's frames composited as a browser shows them, shrunk to the
    hashing size; returns the limit that stopped it before a frame."""
    width, height = image.size
    scale = min(1.0, _HASH_SIDE / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    decoded = 0
    at = 0.0
    for frame in ImageSequence.Iterator(image):
        stop = _stop_before(decoded, at, width * height, limits, started)
        if stop is not None:
            return stop
        rgb = u8(np.asarray(frame.convert("RGB")))
        decoded += 1
        if scale < 1.0:
            rgb = u8(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
        gray = u8(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        shown = at
        at += _delay(frame.info)
        yield ClipFrame(shown, at, partial(u8, gray), partial(u8, rgb))
    return None


def _undecodable(fmt: str, _failure: Exception) -> DecodeError:
    return DecodeError(DecodeErrorCode.CORRUPT, f"no frame of the {fmt} decodes: it is damaged")


def hash_animation(
    data: bytes, sha256: HashValue, limits: ClipLimits, *, local: bool = False, item: bool = False
) -> ClipHashes:
    """Choose keyframes of an animated image and hash each like a still image;
    with ``local``, some keyframes get local features too (an item's when ``item``).

    At most ``limits.max_frames`` frames are decoded, ``limits.max_composited``
    canvas pixels composited and ``limits.time_budget`` seconds spent; the
    result says when hashing stopped early. Raises
    :class:`DecodeError` (``too_many_pixels`` from the header, ``corrupt_image``
    when no frame decodes).
    """
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with _open(data, limits) as image:
            width, height = image.size
            check_frame_size(width, height, limits, DecodeErrorCode.CORRUPT)
            fmt = (image.format or "").lower()

            keyframes = collector(limits, None, local=local, item=item)
            run = collect_keyframes(
                _frames(image, limits, started), keyframes, _FAILURES, partial(_undecodable, fmt)
            )
    if run.decoded == 0:
        raise DecodeError(DecodeErrorCode.CORRUPT, "the animation has no frames")
    return ClipHashes(
        sha256=sha256,
        kind="animation",
        container=fmt,
        width=width,
        height=height,
        duration=round(run.until, 3) if run.stopped is None else None,
        hashed_until=round(run.until, 3),
        frames_decoded=run.decoded,
        keyframes=keyframes.keyframes,
        low_quality=keyframes.low_quality,
        stopped=run.stopped,
    )
