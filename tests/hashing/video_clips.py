"""Shared by the video hashing tests: films of real photos (320x180, 25 fps), a file
hashed as the service hashes it, and PyAV muxing for containers testkit does not write."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import av

from hashing.clip import ClipHashes, ClipLimits
from hashing.hashers import sha256
from hashing.media import SNIFF_BYTES, video_container
from hashing.video import hash_video
from testkit import videos
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
