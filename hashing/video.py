"""Keyframes and hashes of a video file.

FFmpeg (through PyAV) demuxes and decodes; OpenCV does everything to the
frames themselves. OpenCV's ``VideoCapture`` cannot skip decoding work, and
measured on a 60 s 720p H.264 clip (docs/benchmarks.md) decoding every frame
with it took longer than the whole budget of a check. PyAV lets the decoder skip
frames no other frame refers to and the in-loop deblocking filter (neither
changes what a 32-pixel thumbnail or a PDQ hash sees), and hands over the luma
plane without a colour conversion, so only keyframes are ever converted to RGB,
and at the hashing size rather than full size.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

import av
import av.error
import cv2
import numpy as np
import numpy.typing as npt

from hashing.clip import (
    ClipHashes,
    ClipLimits,
    StopReason,
    check_frame_size,
    collector,
)
from hashing.decode import DecodeError, DecodeErrorCode
from hashing.keyframes import ClipFrame, FrameSource, collect_keyframes
from hashing.media import Container
from hashing.types import HashValue, u8

av.logging.set_level(None)  # FFmpeg's own log lines are noise on hostile files

# Long side of the RGB picture a keyframe is hashed from; the same reduction
# still images get (hashing.decode.DecodeLimits.reduce_to_side).
HASH_SIDE = 512

# Pixel formats whose first plane is 8-bit luma, read without conversion.
_LUMA_FIRST = frozenset(
    {
        "yuv420p",
        "yuvj420p",
        "yuv422p",
        "yuvj422p",
        "yuv444p",
        "yuvj444p",
        "yuv440p",
        "yuvj440p",
        "yuv411p",
        "yuv410p",
        "nv12",
        "nv21",
        "gray",
    }
)

_ROTATE = {
    90: cv2.ROTATE_90_COUNTERCLOCKWISE,
    -90: cv2.ROTATE_90_CLOCKWISE,
    270: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    -180: cv2.ROTATE_180,
}

# What a hostile or broken file can make FFmpeg or PyAV raise.
_DECODE_FAILURES = (av.error.FFmpegError, ValueError, OSError, EOFError, IndexError)


def _luma(frame: av.VideoFrame) -> npt.NDArray[np.uint8]:
    """The frame's 8-bit luma plane, shrunk on the way when it needs converting."""
    if frame.format.name in _LUMA_FIRST:
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
        return rows[: plane.height, : plane.width]
    return u8(frame.to_ndarray(format="gray", width=64, height=64))


def _rgb(frame: av.VideoFrame) -> npt.NDArray[np.uint8]:
    """RGB pixels of a keyframe at hashing size, upright."""
    width, height = frame.width, frame.height
    scale = min(1.0, HASH_SIDE / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    pixels = u8(
        frame.to_ndarray(format="rgb24", width=size[0], height=size[1], interpolation="AREA")
    )
    turn = _ROTATE.get(int(getattr(frame, "rotation", 0) or 0))
    return pixels if turn is None else u8(cv2.rotate(pixels, turn))


def _reason(exc: Exception) -> str:
    """What went wrong, without the spool file's path FFmpeg puts in its messages."""
    text = getattr(exc, "strerror", None)
    return str(text) if text else type(exc).__name__


def _duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration / av.time_base)
    return None


def _open(path: Path, container: Container) -> Any:
    """The demuxer of ``path``; :class:`DecodeError` ``corrupt_video`` when FFmpeg
    cannot open it."""
    try:
        return av.open(
            str(path),
            format=container.value,
            container_options={"protocol_whitelist": "file"},
            metadata_errors="ignore",
        )
    except _DECODE_FAILURES as exc:
        raise DecodeError(
            DecodeErrorCode.CORRUPT_VIDEO, f"unreadable {container.name} file: {_reason(exc)}"
        ) from exc


def _video_stream(box: Any, limits: ClipLimits) -> Any:
    """The first video stream, its decoder set to skip what hashing does not see.

    Raises :class:`DecodeError`: ``corrupt_video`` without a video stream or for
    frames under the minimum side, ``unsupported`` without a decoder for the
    codec, ``too_many_pixels`` for frames over the limit.
    """
    if not box.streams.video:
        raise DecodeError(DecodeErrorCode.CORRUPT_VIDEO, "the file has no video stream")
    stream = box.streams.video[0]
    codec = stream.codec_context
    if codec is None:  # FFmpeg has no decoder for this stream's codec
        raise DecodeError(
            DecodeErrorCode.UNSUPPORTED,
            "the video's codec is not one Hashwall can decode",
        )
    check_frame_size(codec.width, codec.height, limits, DecodeErrorCode.CORRUPT_VIDEO)
    stream.thread_type = "AUTO"
    codec.thread_count = limits.threads
    codec.skip_frame = "NONREF"
    codec.options = {"skip_loop_filter": "all"}
    return stream


def _frames(box: Any, stream: Any, limits: ClipLimits, started: float) -> FrameSource:
    """The stream's frames timed from its start; the first past ``max_seconds``
    of video or ``time_budget`` seconds of wall time since ``started`` (a
    :func:`time.perf_counter` reading) is counted and refused."""
    base = stream.time_base
    start = float(stream.start_time * base) if stream.start_time and base else 0.0
    rate = float(stream.average_rate) if stream.average_rate else 25.0
    for number, frame in enumerate(box.decode(stream)):
        at = max(0.0, frame.time - start) if frame.time is not None else number / rate
        refused: StopReason | None = None
        if at > limits.max_seconds:
            refused = StopReason.DURATION
        elif time.perf_counter() - started > limits.time_budget:
            refused = StopReason.TIME_BUDGET
        yield ClipFrame(at, at, partial(_luma, frame), partial(_rgb, frame), refused)
    return None


def _undecodable(exc: Exception) -> DecodeError:
    return DecodeError(
        DecodeErrorCode.CORRUPT_VIDEO, f"no frame of the video decodes: {_reason(exc)}"
    )


def hash_video(
    path: Path,
    container: Container,
    sha256: HashValue,
    limits: ClipLimits,
    *,
    local: bool = False,
    item: bool = False,
) -> ClipHashes:
    """Choose keyframes of a video file and hash each like a still image; with
    ``local``, some keyframes get local features too (an item's when ``item``).

    ``container`` is the demuxer the file's magic bytes named (never probed
    further). Hashing stops early, and the result says why, at ``max_seconds``
    of video, after ``time_budget`` seconds of wall time, or at
    ``max_keyframes``; a decoding error after the first frame ends the clip
    there, and one that ends well before its declared duration is ``truncated``.
    Raises :class:`DecodeError`: ``corrupt_video`` when the file yields
    no frame, ``too_many_pixels`` for frames over the limit.
    """
    started = time.perf_counter()
    with _open(path, container) as box:
        stream = _video_stream(box, limits)
        width, height = stream.codec_context.width, stream.codec_context.height
        duration = _duration(box, stream)
        keyframes = collector(limits, duration, local=local, item=item)
        run = collect_keyframes(
            _frames(box, stream, limits, started), keyframes, _DECODE_FAILURES, _undecodable
        )
    if run.decoded == 0:
        raise DecodeError(DecodeErrorCode.CORRUPT_VIDEO, "the video has no frames")
    stopped = run.stopped
    if stopped is None and duration is not None and run.until < duration - max(2.0, 0.1 * duration):
        stopped = StopReason.TRUNCATED
    return ClipHashes(
        sha256=sha256,
        kind="video",
        container=container.name.lower(),
        width=width,
        height=height,
        duration=duration,
        hashed_until=round(run.until, 3),
        frames_decoded=run.decoded,
        keyframes=keyframes.keyframes,
        low_quality=keyframes.low_quality,
        stopped=stopped,
    )
