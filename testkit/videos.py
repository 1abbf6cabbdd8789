"""Real encoded videos made from real photos, and the edits a re-upload goes through.

A clip is a sequence of shots, one photo each, filmed with a slow zoom and pan
(a hand-held camera's drift) and cut hard to the next. Clips are encoded with
OpenCV's ``VideoWriter`` (MPEG-4 Part 2, Motion JPEG, VP8) or, for H.264 and VP9
which OpenCV's wheels cannot write, with PyAV's libx264 and libvpx. Edits decode
a clip, change its frames or timing, and encode it again, as a re-uploader's
tools do. Used by the test suite and by ``bench/video_robustness.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]
"""RGB, (height, width, 3)."""


@dataclass(frozen=True, slots=True)
class Video:
    frames: list[Frame]
    fps: float

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.fps

    @property
    def size(self) -> tuple[int, int]:
        height, width = self.frames[0].shape[:2]
        return width, height


def load_rgb(path: Path) -> Frame:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read {path}")
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def shot(photo: Frame, seconds: float, fps: float, size: tuple[int, int], seed: int) -> list[Frame]:
    """A shot of one photo: a slow zoom from 100% to 80% of the frame while panning
    towards a corner picked by ``seed``, at 16:9 (or ``size``'s) aspect."""
    width, height = size
    rows, cols = photo.shape[:2]
    aspect = width / height
    # The largest window of the output's aspect inside the photo.
    win_h = min(rows, int(cols / aspect))
    win_w = int(win_h * aspect)
    rng = np.random.default_rng(seed)
    dx, dy = rng.uniform(-1, 1, 2)
    count = max(1, round(seconds * fps))
    out = []
    for i in range(count):
        k = i / max(1, count - 1)
        zoom = 1.0 - 0.2 * k
        h, w = int(win_h * zoom), int(win_w * zoom)
        cy = (rows - h) / 2 + dy * k * (rows - h) / 2
        cx = (cols - w) / 2 + dx * k * (cols - w) / 2
        y, x = int(round(cy)), int(round(cx))
        window = photo[y : y + h, x : x + w]
        out.append(np.asarray(cv2.resize(window, size, interpolation=cv2.INTER_AREA), np.uint8))
    return out


def make_video(
    photos: Sequence[Frame],
    *,
    shot_seconds: float = 4.0,
    fps: float = 25.0,
    size: tuple[int, int] = (480, 270),
    seed: int = 0,
) -> Video:
    """One shot per photo, hard cuts between them."""
    frames: list[Frame] = []
    for i, photo in enumerate(photos):
        frames += shot(photo, shot_seconds, fps, size, seed * 1000 + i)
    return Video(frames, fps)


# Encoders: OpenCV fourccs, and PyAV codecs for what OpenCV cannot write.
OPENCV_CODECS = {"mp4v": ".mp4", "MJPG": ".avi", "VP80": ".mkv"}
PYAV_CODECS = {"libx264": ".mp4", "libvpx-vp9": ".webm"}


def write(video: Video, path: Path, codec: str = "mp4v", *, crf: int = 23) -> Path:
    """Encode ``video`` to ``path`` (its suffix should match the codec's container)."""
    width, height = video.size
    if codec in OPENCV_CODECS:
        writer = cv2.VideoWriter(
            str(path), cv2.VideoWriter.fourcc(*codec), video.fps, (width, height)
        )
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write {codec} to {path}")
        for frame in video.frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
        return path
    with av.open(str(path), "w") as box:
        stream = box.add_stream(codec, rate=round(video.fps))
        assert isinstance(stream, av.VideoStream)
        even_w, even_h = width - width % 2, height - height % 2
        stream.width, stream.height = even_w, even_h
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "veryfast", "crf": str(crf)}
        else:
            stream.options = {
                "crf": str(crf + 10),
                "b": "0",
                "deadline": "realtime",
                "cpu-used": "8",
            }
        for frame in video.frames:
            image = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(frame[:even_h, :even_w]), format="rgb24"
            )
            for packet in stream.encode(image):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    return path


def read(path: Path) -> Video:
    """Every frame of a video file, decoded with PyAV."""
    with av.open(str(path)) as box:
        stream = box.streams.video[0]
        fps = float(stream.average_rate or 25)
        frames = [np.asarray(f.to_ndarray(format="rgb24"), np.uint8) for f in box.decode(stream)]
    return Video(frames, fps)


# Edits: a Video to a Video, plus the codec the result is written with.


def _each(video: Video, change: Callable[[Frame], Frame]) -> Video:
    return Video([change(f) for f in video.frames], video.fps)


def scale(video: Video, factor: float) -> Video:
    width, height = video.size
    size = (max(16, int(width * factor)) // 2 * 2, max(16, int(height * factor)) // 2 * 2)
    return _each(video, lambda f: np.asarray(cv2.resize(f, size, interpolation=cv2.INTER_AREA)))


def trim(video: Video, start: float, end: float) -> Video:
    """Keep seconds [start, end) of the clip."""
    return Video(video.frames[int(start * video.fps) : int(end * video.fps)], video.fps)


def letterbox(video: Video, bars: float = 0.12, sides: float = 0.06) -> Video:
    """Black bars above and below and a grey border at the sides, same output size."""

    def change(frame: Frame) -> Frame:
        height, width = frame.shape[:2]
        top, side = int(height * bars), int(width * sides)
        inner = cv2.resize(
            frame, (width - 2 * side, height - 2 * top), interpolation=cv2.INTER_AREA
        )
        out = np.zeros_like(frame)
        out[:, :] = (0, 0, 0)
        out[:, :side] = out[:, width - side :] = (96, 96, 96)
        out[top : height - top, side : width - side] = inner
        return out

    return _each(video, change)


def flip(video: Video) -> Video:
    return _each(video, lambda f: np.ascontiguousarray(f[:, ::-1]))


def frame_rate(video: Video, fps: float) -> Video:
    """Resample in time to ``fps`` by picking the nearest source frame."""
    count = int(video.seconds * fps)
    picks = [min(len(video.frames) - 1, int(i * video.fps / fps)) for i in range(count)]
    return Video([video.frames[i] for i in picks], fps)


def text_overlay(video: Video) -> Video:
    """A caption across the lower third and a handle in a corner, as re-posters add."""

    def change(frame: Frame) -> Frame:
        out = frame.copy()
        height, width = out.shape[:2]
        scale_ = width / 640
        y = int(height * 0.8)
        cv2.rectangle(out, (0, y - int(30 * scale_)), (width, y + int(12 * scale_)), (0, 0, 0), -1)
        cv2.putText(
            out,
            "you won't believe this",
            (int(12 * scale_), y),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.9 * scale_,
            (255, 255, 255),
            max(1, int(2 * scale_)),
            cv2.LINE_AA,
        )
        cv2.putText(
            out,
            "@reposter",
            (int(10 * scale_), int(28 * scale_)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.7 * scale_,
            (255, 255, 0),
            max(1, int(2 * scale_)),
            cv2.LINE_AA,
        )
        return out

    return _each(video, change)


def splice(intro: Video, video: Video) -> Video:
    """``intro`` (resized to the video's frame size) then ``video``."""
    size = video.size
    frames = [
        np.asarray(cv2.resize(f, size, interpolation=cv2.INTER_AREA), np.uint8)
        for f in intro.frames
    ]
    return Video(frames + video.frames, video.fps)


def concat(videos: Iterable[Video]) -> Video:
    items = list(videos)
    return Video([f for v in items for f in v.frames], items[0].fps)


# Edits of the families the local-feature tier is for. Each draws its layout from
# ``seed`` (the bench passes the source's number), so the sources get different
# crops, corners and sizes, the same every run.


def _even(value: float) -> int:
    return max(16, int(round(value / 2)) * 2)


def reframe_portrait(video: Video, seed: int) -> Video:
    """A 9:16 portrait reframe as short-video apps make it: the clip across the
    canvas's width (or a little less), at a height drawn per source, over a
    blurred, darkened copy of itself enlarged to fill the canvas."""
    rng = np.random.default_rng(seed)
    width, height = video.size
    canvas_h = _even(height * rng.uniform(1.5, 2.0))
    canvas_w = _even(canvas_h * 9 / 16)
    fg_w = _even(canvas_w * rng.uniform(0.9, 1.0))
    fg_h = _even(fg_w * height / width)
    x = (canvas_w - fg_w) // 2
    y = int((canvas_h - fg_h) * rng.uniform(0.3, 0.55))
    cover = canvas_h / height
    bg_w = _even(width * cover)
    left = (bg_w - canvas_w) // 2
    blur = float(rng.uniform(10, 20))
    dim = float(rng.uniform(0.55, 0.8))

    def change(frame: Frame) -> Frame:
        big = cv2.resize(frame, (bg_w, canvas_h), interpolation=cv2.INTER_LINEAR)
        back = cv2.GaussianBlur(big[:, left : left + canvas_w], (0, 0), blur)
        out = np.asarray(back * dim, np.uint8)
        out[y : y + fg_h, x : x + fg_w] = cv2.resize(
            frame, (fg_w, fg_h), interpolation=cv2.INTER_AREA
        )
        return out

    return _each(video, change)


def picture_in_picture(video: Video, background: Video, seed: int) -> Video:
    """The clip as an inset over ``background`` (looped to the clip's length and
    resized to its frame): 40-55 % of the width, in a corner drawn per source,
    with a light border."""
    rng = np.random.default_rng(seed)
    width, height = video.size
    share = float(rng.uniform(0.4, 0.55))
    w, h = _even(width * share), _even(height * share)
    margin = int(width * rng.uniform(0.02, 0.05))
    corner = int(rng.integers(0, 4))
    x = margin if corner in (0, 3) else width - w - margin
    y = margin if corner in (0, 1) else height - h - margin
    border = max(1, int(width / 200))
    backs = [
        np.asarray(cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA), np.uint8)
        for f in background.frames
    ]

    def compose(i: int, frame: Frame) -> Frame:
        out = backs[i % len(backs)].copy()
        out[y - border : y + h + border, x - border : x + w + border] = 235
        out[y : y + h, x : x + w] = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        return out

    return Video([compose(i, f) for i, f in enumerate(video.frames)], video.fps)


def crop_mirror(video: Video, area: float, seed: int) -> Video:
    """A crop keeping ``area`` of the frame (its position drawn per source),
    mirrored and scaled back to the frame size."""
    rng = np.random.default_rng(seed)
    width, height = video.size
    side = area**0.5
    w, h = int(width * side), int(height * side)
    x = int((width - w) * rng.uniform(0, 1))
    y = int((height - h) * rng.uniform(0, 1))

    def change(frame: Frame) -> Frame:
        part = np.ascontiguousarray(frame[y : y + h, x : x + w, :][:, ::-1])
        return np.asarray(cv2.resize(part, (width, height), interpolation=cv2.INTER_LINEAR))

    return _each(video, change)
