"""Speed of hashing a video: Hashwall's keyframes against decoding every frame.

Clips (made once from the photos and cached under ``var/bench/``, or given with
``--clip``): 60 s at 30 fps of photos filmed with a slow zoom and pan
(:func:`testkit.videos.shot`), a hard cut every 5 s, encoded with libx264 preset
veryfast CRF 23 and the encoder's ``thread_type`` FRAME, so every frame is one
slice as a phone writes it (libx264 through PyAV slices by default):

* ``720p``: 1280x720 with x264's default B-frames;
* ``1080p``: 1920x1080, likewise;
* ``720p-no-b``: 1280x720 without B-frames (``bframes=0``), as many phone
  encoders write H.264: every frame is then a reference frame, and
  ``skip_frame`` NONREF has nothing to skip.

Timed in one run, alternating clip and method each repetition, medians reported:

(a) Hashwall: SHA-256 of the file and ``hashing.video.hash_video`` with the
    default ``ClipLimits`` (a check's: by clock and cuts, 2 decoder threads);
(b) OpenCV ``VideoCapture.read()`` of every frame (2 decoder threads);
(c) the vPDQ-style baseline: (b), plus the reference PDQ of every
    ``round(fps)``-th frame at full size;
(d) PyAV decoding every frame, nothing skipped, frames not converted;
(e) what ``/check`` does with the local tier: (a) with local features on up to
    16 keyframes, then ``matching.clip.search_clip`` (global hashes and the
    local tier) against an index holding the timed clips registered as
    ``POST /register`` stores them, so each check finds its clip and verifies it.

Then the cost per frame inside a copy of ``hash_video``'s loop that calls the
same functions: decoding, keyframe choice (``_luma``, ``glance`` and the
selector) and hashing (``_rgb`` and ``hash_pixels``).

    .venv/bin/python -m bench.video_speed [--clip FILE ...] [--reps 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import av
import cv2
import numpy as np

from app.repository.features import clip_features, entry_from
from app.repository.hashes import clip_hashes
from app.services.index_store import new_index
from app.services.rules import clip_limits
from app.settings import Settings
from hashing.clip import ClipLimits, glance, selector
from hashing.hashers import PDQ_MIN_QUALITY, pdq, sha256
from hashing.media import video_container
from hashing.pipeline import hash_pixels
from hashing.transforms import Transform
from hashing.types import u8
from hashing.video import _luma, _rgb, hash_video
from index import HashIndex
from matching import Decision
from matching.clip import search_clip
from matching.clip_frames import ItemFrames, clip_query, item_frames_of
from testkit import videos

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "corpus-dev"
CACHE = REPO / "var" / "bench"
SUFFIXES = (".jpg", ".jpeg", ".png")

SECONDS = 60.0
FPS = 30
SHOT_SECONDS = 5.0
CLIPS = {
    "720p": ((1280, 720), True),
    "1080p": ((1920, 1080), True),
    "720p-no-b": ((1280, 720), False),
}
"""Name: (size, B-frames)."""
DECODER_THREADS = 2
"""What ``ClipLimits.threads`` gives Hashwall; OpenCV and PyAV get the same."""

TARGET_REALTIME = 30.0
"""x real time for 720p H.264."""
TARGET_VS_BASELINE = 1.5

METHODS = (
    "(a) Hashwall hash_video (+ SHA-256)",
    "(b) OpenCV read() of every frame",
    "(c) vPDQ-style: (b) + PDQ of 1 frame/s",
    "(d) PyAV decode of every frame",
    "(e) Hashwall with the local tier: (a) with local features + their search",
)
TARGET_LOCAL = 0.8
"""Speed of (e) against (a): checking a video with the local tier may cost at
most a quarter more than without."""


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


# ---------------------------------------------------------------- clips


def largest_photos(folder: Path, count: int) -> list[Path]:
    """The ``count`` photos of most pixels (least upscaling), by name on ties."""
    sized = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES):
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is not None:
            sized.append((-image.shape[0] * image.shape[1], path.name, path))
    if len(sized) < count:
        raise SystemExit(f"{folder} holds {len(sized)} photos; {count} are needed")
    return [path for _, _, path in sorted(sized)[:count]]


def make_clip(photos: Sequence[Path], size: tuple[int, int], bframes: bool, path: Path) -> Path:
    """Encode one shot per photo, :data:`SHOT_SECONDS` each, frame by frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.mp4")
    with av.open(str(partial), "w") as box:
        stream = box.add_stream("libx264", rate=FPS)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_type = "FRAME"  # one slice per frame
        options: dict[str, object] = {"preset": "veryfast", "crf": "23"}
        if not bframes:
            options["x264-params"] = "bframes=0"
        stream.options = options
        for i, photo in enumerate(photos):
            for frame in videos.shot(videos.load_rgb(photo), SHOT_SECONDS, FPS, size, seed=i):
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    partial.replace(path)
    return path


def cached_clip(name: str, folder: Path) -> Path:
    size, bframes = CLIPS[name]
    count = round(SECONDS / SHOT_SECONDS)
    photos = largest_photos(folder, count)
    key = hashlib.sha256(
        repr((size, bframes, FPS, SHOT_SECONDS, [p.name for p in photos], "v1")).encode()
    ).hexdigest()[:10]
    path = CACHE / f"video-speed-{name}-{key}.mp4"
    if not path.exists():
        started = time.perf_counter()
        make_clip(photos, size, bframes, path)
        log(f"made {path} in {time.perf_counter() - started:.0f} s")
    return path


@dataclass(frozen=True, slots=True)
class ClipInfo:
    name: str
    path: Path
    width: int
    height: int
    frames: int
    seconds: float
    fps: float
    megabytes: float
    encoder: str
    """x264's own account of its options (B-frames, slicing), when it wrote one."""


def describe(name: str, path: Path) -> ClipInfo:
    frames = 0
    with av.open(str(path)) as box:
        stream = box.streams.video[0]
        for packet in box.demux(stream):
            frames += packet.size > 0
        base = stream.time_base
        seconds = float(stream.duration * base) if stream.duration and base else 0.0
        if not seconds and box.duration:
            seconds = box.duration / av.time_base
        fps = float(stream.average_rate or 0)
        width, height = stream.codec_context.width, stream.codec_context.height
    head = path.read_bytes()[: 1 << 20]
    found = re.search(rb"x264 - core (\d+).*?options: ([ -~]+)", head, re.S)
    encoder = "not x264, or no options written"
    if found:
        opts = dict(
            item.split("=", 1)
            for item in found.group(2).decode().split()
            if "=" in item and not item.startswith("x264")
        )
        encoder = (
            f"x264 core {found.group(1).decode()}: bframes={opts.get('bframes')}, "
            f"sliced_threads={opts.get('sliced_threads')}, keyint={opts.get('keyint')}"
        )
    return ClipInfo(
        name=name,
        path=path,
        width=width,
        height=height,
        frames=frames,
        seconds=seconds,
        fps=fps,
        megabytes=path.stat().st_size / 1e6,
        encoder=encoder,
    )


# ---------------------------------------------------------------- methods


def hashwall(path: Path) -> str:
    data = path.read_bytes()
    container = video_container(data[:512])
    if container is None:
        raise SystemExit(f"{path} is no video container Hashwall knows")
    clip = hash_video(path, container, sha256(data), ClipLimits())
    return f"{len(clip.keyframes)} keyframes of {clip.frames_decoded} frames decoded"


def registered(paths: Sequence[Path]) -> tuple[HashIndex, dict[int, ItemFrames]]:
    """An index holding each clip registered as ``POST /register`` stores it
    (global hashes and local features of its keyframes), and each item's
    keyframes as ``item_frames`` loads them."""
    settings = Settings()
    index = new_index(settings)
    frames: dict[int, ItemFrames] = {}
    limits = clip_limits(settings, register=True)
    for item, path in enumerate(paths, 1):
        data = path.read_bytes()
        container = video_container(data[:512])
        if container is None:
            raise SystemExit(f"{path} is no video container Hashwall knows")
        clip = hash_video(path, container, sha256(data), limits, local=True, item=True)
        stored = clip_hashes(clip)
        for h in stored:
            index.add(h.value.signal.value, h.value.value, item)
        frames[item] = item_frames_of(
            (h.value.signal.value, h.value.value, h.at, h.variant) for h in stored
        )
        if index.local is not None:
            for features in clip_features(clip):
                index.local.add(item, entry_from(features))
    return index, frames


def with_local_tier(index: HashIndex, frames: dict[int, ItemFrames], path: Path) -> str:
    """A check of the clip as ``/check`` makes it with the local tier: hashing
    with local features, then the clip search (global hashes and the local
    tier) against ``index``."""
    data = path.read_bytes()
    container = video_container(data[:512])
    if container is None:
        raise SystemExit(f"{path} is no video container Hashwall knows")
    clip = hash_video(path, container, sha256(data), ClipLimits(), local=True)
    query = clip_query(clip)
    found = search_clip(
        index, query, lambda ids: {i: frames[i] for i in ids}, Settings().match_policy()
    )
    blocked = sum(c.decision is Decision.BLOCK for c in found)
    return (
        f"{len(clip.keyframes)} keyframes, {len(query.local)} with local features; "
        f"{blocked} item(s) blocked"
    )


def capture(path: Path) -> cv2.VideoCapture:
    return cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, DECODER_THREADS])


def opencv_read(path: Path) -> str:
    reader = capture(path)
    frames = 0
    try:
        while reader.read()[0]:
            frames += 1
    finally:
        reader.release()
    return f"{frames} frames"


def vpdq_style(path: Path) -> str:
    reader = capture(path)
    step = max(1, round(reader.get(cv2.CAP_PROP_FPS) or FPS))
    frames = hashed = kept = 0
    try:
        while True:
            ok, bgr = reader.read()
            if not ok:
                break
            if frames % step == 0:
                _, quality = pdq(u8(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
                hashed += 1
                kept += quality >= PDQ_MIN_QUALITY
            frames += 1
    finally:
        reader.release()
    return f"{hashed} frames hashed ({kept} of quality >= {PDQ_MIN_QUALITY}) of {frames}"


def pyav_decode(path: Path) -> str:
    with av.open(str(path)) as box:
        stream = box.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = DECODER_THREADS
        frames = sum(1 for _ in box.decode(stream))
    return f"{frames} frames"


RUNNERS: dict[str, Callable[[Path], str]] = dict(
    zip(METHODS[:4], (hashwall, opencv_read, vpdq_style, pyav_decode), strict=True)
)


@dataclass(slots=True)
class Split:
    """Seconds of one pass of the breakdown loop."""

    decode: float = 0.0
    choose: float = 0.0
    rgb: float = 0.0
    hash: float = 0.0
    frames: int = 0
    hashed: int = 0
    keyframes: int = 0

    @property
    def total(self) -> float:
        return self.decode + self.choose + self.rgb + self.hash


def breakdown(path: Path, limits: ClipLimits) -> Split:
    """``hash_video``'s loop with a clock between its steps (no error handling)."""
    data = path.read_bytes()
    container = video_container(data[:512])
    assert container is not None
    split = Split()
    clock = time.perf_counter
    with av.open(
        str(path),
        format=container.value,
        container_options={"protocol_whitelist": "file"},
        metadata_errors="ignore",
    ) as box:
        stream = box.streams.video[0]
        codec = stream.codec_context
        stream.thread_type = "AUTO"
        codec.thread_count = limits.threads
        codec.skip_frame = "NONREF"
        codec.options = {"skip_loop_filter": "all"}
        base = stream.time_base
        duration = float(stream.duration * base) if stream.duration and base else None
        start = float(stream.start_time * base) if stream.start_time and base else 0.0
        rate = float(stream.average_rate) if stream.average_rate else 25.0
        pick = selector(limits, duration)
        frames = box.decode(stream)
        while True:
            t0 = clock()
            frame = next(frames, None)
            t1 = clock()
            split.decode += t1 - t0
            if frame is None:
                break
            at = max(0.0, frame.time - start) if frame.time is not None else split.frames / rate
            split.frames += 1
            seen = glance(_luma(frame), preview=limits.motion_bits is not None)
            wanted = pick.wants(at, seen)
            t2 = clock()
            split.choose += t2 - t1
            if not wanted:
                continue
            pixels = _rgb(frame)
            t3 = clock()
            views = hash_pixels(pixels)
            t4 = clock()
            split.rgb += t3 - t2
            split.hash += t4 - t3
            split.hashed += 1
            good = views[0].quality >= limits.min_quality
            if pick.keep(at, seen, views[0].pdq[Transform.ORIGINAL] if good else None):
                split.keyframes += 1
            split.choose += clock() - t4
    return split


# ---------------------------------------------------------------- report


@dataclass(slots=True)
class Samples:
    seconds: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    splits: list[Split] = field(default_factory=list)

    def median(self, method: str) -> float:
        return float(np.median(self.seconds[method]))


def timed(run: Callable[[Path], str], path: Path) -> tuple[float, str]:
    started = time.perf_counter()
    note = run(path)
    return time.perf_counter() - started, note


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.video_speed",
        description="Seconds of video hashed per wall-clock second: Hashwall vs full decoding.",
    )
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="folder of photos")
    parser.add_argument(
        "--clip",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="time this video file instead of the made clips (repeatable)",
    )
    parser.add_argument(
        "--clips",
        default=",".join(CLIPS),
        help=f"made clips to time (default: {','.join(CLIPS)})",
    )
    parser.add_argument("--reps", type=int, default=5, help="repetitions (default: 5, min 3)")
    args = parser.parse_args(argv)
    if args.reps < 3:
        parser.error("--reps must be at least 3")

    cv2.setNumThreads(1)  # as the service's lifespan does
    if args.clip:
        clips = [describe(p.stem, p) for p in args.clip]
    else:
        names = [n for n in args.clips.split(",") if n]
        unknown = [n for n in names if n not in CLIPS]
        if unknown:
            parser.error(f"unknown clips: {', '.join(unknown)}; known: {', '.join(CLIPS)}")
        clips = [describe(n, cached_clip(n, args.photos)) for n in names]
    index, frames = registered([c.path for c in clips])
    runners: dict[str, Callable[[Path], str]] = {
        **RUNNERS,
        METHODS[4]: partial(with_local_tier, index, frames),
    }
    out = [f"Started with {load_average()}.", ""]
    samples = {c.name: Samples({m: [] for m in METHODS}) for c in clips}
    started = time.perf_counter()
    for rep in range(args.reps):
        for clip in clips:
            runs = list(METHODS)
            # Rotate the order each repetition so no method always runs first.
            runs = runs[rep % len(runs) :] + runs[: rep % len(runs)]
            for method in runs:
                seconds, note = timed(runners[method], clip.path)
                samples[clip.name].seconds[method].append(seconds)
                samples[clip.name].notes[method] = note
            samples[clip.name].splits.append(breakdown(clip.path, ClipLimits()))
        log(f"repetition {rep + 1} of {args.reps} ({time.perf_counter() - started:.0f} s)")

    out += [
        "| clip | file | frames | encoder |",
        "|---|---|---|---|",
        *(
            f"| {c.name} | {c.width}x{c.height}, {c.seconds:.1f} s at {c.fps:g} fps, "
            f"{c.megabytes:.1f} MB | {c.frames} | {c.encoder} |"
            for c in clips
        ),
        "",
        f"{args.reps} repetitions, clips and methods alternated (the method order rotated "
        f"each repetition); median wall-clock seconds. Decoders get {DECODER_THREADS} threads "
        "(Hashwall's ClipLimits.threads); cv2.setNumThreads(1) as in the service.",
        "",
        "| clip | method | median s | min s | max s | x real time | what it did |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for clip in clips:
        s = samples[clip.name]
        for method in METHODS:
            v = s.seconds[method]
            name = f"**{method}**" if method == METHODS[0] else method
            out.append(
                f"| {clip.name} | {name} | {s.median(method):.2f} | {min(v):.2f} | "
                f"{max(v):.2f} | {clip.seconds / s.median(method):.1f}x | {s.notes[method]} |"
            )
        ours = s.median(METHODS[0])
        ratio = s.median(METHODS[2]) / ours
        paired = [b / a for a, b in zip(s.seconds[METHODS[0]], s.seconds[METHODS[2]], strict=True)]
        realtime = clip.seconds / ours
        target = ""
        if clip.height == 720:
            met = "met" if realtime >= TARGET_REALTIME else "not met"
            target = f" (target >= {TARGET_REALTIME:g}x: **{met}**)"
        met = "met" if ratio >= TARGET_VS_BASELINE else "not met"
        verdicts.append(
            f"- {clip.name}: Hashwall {realtime:.1f}x real time{target}, {ratio:.2f}x the "
            f"vPDQ-style baseline (paired per repetition: {min(paired):.2f} to "
            f"{max(paired):.2f}; target >= {TARGET_VS_BASELINE:g}x: **{met}**), "
            f"{s.median(METHODS[3]) / ours:.2f}x PyAV decoding every frame."
        )
        local = ours / s.median(METHODS[4])
        met = "met" if local >= TARGET_LOCAL else "not met"
        verdicts.append(
            f"- {clip.name}: with the local tier (e) {local:.2f}x the speed of (a) "
            f"(target >= {TARGET_LOCAL:g}x: **{met}**)."
        )

    out += [
        "",
        *verdicts,
        "",
        "Cost inside a copy of hash_video's loop (the same functions, a clock between "
        "steps), medians over the repetitions: ms per decoded frame for decoding and keyframe "
        "choice (_luma, glance, the selector), ms per hashed frame for _rgb (RGB at <= 512 px) "
        "and hash_pixels.",
        "",
        "| clip | frames decoded / in file | hashed | keyframes | decode ms/frame "
        "| choice ms/frame | _rgb ms/hashed | hash_pixels ms/hashed | share: decode / choice / "
        "hashing | loop s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for clip in clips:
        splits = samples[clip.name].splits
        last = splits[-1]

        def med(values: Sequence[float]) -> float:
            return float(np.median(values))

        decode = med([x.decode for x in splits])
        choose = med([x.choose for x in splits])
        rgb = med([x.rgb for x in splits])
        hashing = med([x.hash for x in splits])
        total = decode + choose + rgb + hashing
        out.append(
            f"| {clip.name} | {last.frames} / {clip.frames} ({last.frames / clip.frames:.0%}) "
            f"| {last.hashed} | {last.keyframes} | {1000 * decode / last.frames:.2f} "
            f"| {1000 * choose / last.frames:.3f} | {1000 * rgb / max(1, last.hashed):.2f} "
            f"| {1000 * hashing / max(1, last.hashed):.2f} "
            f"| {decode / total:.0%} / {choose / total:.0%} / {(rgb + hashing) / total:.0%} "
            f"| {med([x.total for x in splits]):.2f} |"
        )
    out += ["", f"Finished with {load_average()} after {time.perf_counter() - started:.0f} s."]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
