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
from hashing.types import HashValue, u8

# Browsers play a GIF frame delay of 10 ms or less (including 0) at 100 ms.
_MIN_DELAY_MS = 10
_DEFAULT_DELAY_MS = 100
_HASH_SIDE = 512


def _delay(info: Mapping[Any, Any]) -> float:
    value = info.get("duration", _DEFAULT_DELAY_MS)
    delay = float(value) if isinstance(value, int | float) else _DEFAULT_DELAY_MS
    return (delay if delay > _MIN_DELAY_MS else _DEFAULT_DELAY_MS) / 1000


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
    decoded = 0
    at = 0.0
    stopped: StopReason | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            image = Image.open(io.BytesIO(data))
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
        with image:
            width, height = image.size
            check_frame_size(width, height, limits, DecodeErrorCode.CORRUPT)
            fmt = (image.format or "").lower()
            keyframes = collector(limits, None, local=local, item=item)
            scale = min(1.0, _HASH_SIDE / max(width, height))
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            try:
                for frame in ImageSequence.Iterator(image):
                    if decoded >= limits.max_frames:
                        stopped = StopReason.FRAMES
                        break
                    # Judged before the frame is composited, the first always.
                    if decoded and (decoded + 1) * width * height > limits.max_composited:
                        stopped = StopReason.PIXELS
                        break
                    # The first frame is always looked at, so a good file is never
                    # "without frames" however little budget is left.
                    if decoded and time.perf_counter() - started > limits.time_budget:
                        stopped = StopReason.TIME_BUDGET
                        break
                    if at > limits.max_seconds:
                        stopped = StopReason.DURATION
                        break
                    rgb = u8(np.asarray(frame.convert("RGB")))
                    decoded += 1
                    if scale < 1.0:
                        rgb = u8(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
                    seen = keyframes.glance(u8(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)))
                    frame_at = at
                    at += _delay(frame.info)
                    if keyframes.offer(frame_at, seen, partial(u8, rgb)):
                        stopped = StopReason.KEYFRAMES
                        break
            except (OSError, ValueError, SyntaxError, EOFError, IndexError, RuntimeError) as exc:
                if decoded == 0:
                    raise DecodeError(
                        DecodeErrorCode.CORRUPT, f"no frame of the {fmt} decodes: it is damaged"
                    ) from exc
                stopped = StopReason.DECODE_ERROR
    if decoded == 0:
        raise DecodeError(DecodeErrorCode.CORRUPT, "the animation has no frames")
    return ClipHashes(
        sha256=sha256,
        kind="animation",
        container=fmt,
        width=width,
        height=height,
        duration=round(at, 3) if stopped is None else None,
        hashed_until=round(at, 3),
        frames_decoded=decoded,
        keyframes=keyframes.keyframes,
        low_quality=keyframes.low_quality,
        stopped=stopped,
    )
