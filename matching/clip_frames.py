"""A clip's keyframes as clip matching reads them: an upload's (:class:`ClipQuery`,
every orientation of every view of every keyframe) and a registered item's
(:class:`ItemFrames`, its stored hashes grouped by keyframe).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from hashing.clip import ClipHashes
from hashing.features import LocalFeatures
from hashing.transforms import Transform
from hashing.types import HashValue, Signal
from hashing.variants import Variant
from hashing.vpdq import VpdqFrame

PDQ_BYTES = Signal.PDQ.bits // 8


PHASH_BYTES = Signal.PHASH.bits // 8


class Part(IntEnum):
    """What of a keyframe a PDQ hash covers; only like parts are compared."""

    WHOLE = 0
    TOP = 1
    BOTTOM = 2
    """The top and bottom bands of the canvas (:func:`hashing.pipeline.halves`): a
    caption or banner across one of them leaves the other matching."""


BAND_VARIANTS: Mapping[str, Part] = {Variant.HALF_TOP: Part.TOP, Variant.HALF_BOTTOM: Part.BOTTOM}
"""The variants that are PDQ of a band of an image, and the part each covers:
evidence only in pairs (a caption across the middle leaves both), never shared
as a picture on its own (a hash-list export leaves them out)."""


@dataclass(frozen=True, slots=True)
class ClipQuery:
    """A clip's keyframes to search: ``codes[i]`` is a PDQ hash of ``part[i]`` of
    keyframe ``frame[i]`` after ``applied[i]`` was applied to it."""

    times: list[float]
    codes: npt.NDArray[np.uint8]
    frame: npt.NDArray[np.intp]
    part: npt.NDArray[np.intp]
    applied: list[Transform]
    sha256: HashValue | None
    quality: int | None
    phash: npt.NDArray[np.uint8] = field(default_factory=lambda: code_matrix([], PHASH_BYTES))
    """pHash of each keyframe's primary view in every orientation, rows of ``phash_frame``."""
    phash_frame: npt.NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, np.intp))
    local: list[LocalKeyframe] = field(default_factory=list)
    """The keyframes given local features, searched in the local tier."""


@dataclass(frozen=True, slots=True)
class LocalKeyframe:
    """An upload keyframe's local features and feature frame."""

    at: float
    features: LocalFeatures
    frame: npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class ItemFrames:
    """An item's stored PDQ hashes grouped into keyframes (a still is one frame)."""

    times: list[float | None]
    codes: npt.NDArray[np.uint8]
    frame: npt.NDArray[np.intp]
    part: npt.NDArray[np.intp]
    phash: npt.NDArray[np.uint8]
    phash_frame: npt.NDArray[np.intp]


def item_frames_of(rows: Iterable[tuple[str, bytes, float | None, str]]) -> ItemFrames:
    """Group an item's stored hashes (signal, value, frame time, variant), in the
    order they were stored, into keyframes; a still's hashes form one frame."""
    pdq: list[tuple[bytes, float | None, Part]] = []
    phash: list[tuple[bytes, float | None]] = []
    for signal, value, at, variant in rows:
        if signal == Signal.PDQ:
            pdq.append((value, at, BAND_VARIANTS.get(variant, Part.WHOLE)))
        elif signal == Signal.PHASH:
            phash.append((value, at))
    keys = sorted({at for _, at, _ in pdq}, key=lambda t: (t is None, t or 0.0))
    position = {at: i for i, at in enumerate(keys)}
    phash = [(v, at) for v, at in phash if at in position]
    return ItemFrames(
        times=keys,
        codes=code_matrix([v for v, _, _ in pdq]),
        frame=np.array([position[at] for _, at, _ in pdq], np.intp),
        part=np.array([p for _, _, p in pdq], np.intp),
        phash=code_matrix([v for v, _ in phash], PHASH_BYTES),
        phash_frame=np.array([position[at] for _, at in phash], np.intp),
    )


FramesLoader = Callable[[Sequence[int]], dict[int, ItemFrames]]


def clip_query(clip: ClipHashes) -> ClipQuery:
    """Every orientation of every view of every keyframe (rotation metadata is
    not always right), and the bands of the primary view as is and mirrored."""
    times: list[float] = []
    codes: list[bytes] = []
    frame: list[int] = []
    part: list[int] = []
    applied: list[Transform] = []
    phash: list[bytes] = []
    phash_frame: list[int] = []

    def add(value: HashValue, i: int, p: Part, t: Transform) -> None:
        if not value.informative:  # a flat band matches every flat band
            return
        codes.append(value.value)
        frame.append(i)
        part.append(p)
        applied.append(t)

    local: list[LocalKeyframe] = []
    for i, keyframe in enumerate(clip.keyframes):
        times.append(keyframe.at)
        if keyframe.local is not None and keyframe.frame is not None and len(keyframe.local):
            local.append(LocalKeyframe(keyframe.at, keyframe.local, keyframe.frame))
        for view in keyframe.views:
            for transform, value in view.pdq.items():
                add(value, i, Part.WHOLE, transform)
        primary = keyframe.views[0]
        for value in primary.phash.values():
            if not value.informative:
                continue
            phash.append(value.value)
            phash_frame.append(i)
        for transform, bands in (
            (Transform.ORIGINAL, primary.halves),
            (Transform.FLIP_HORIZONTAL, primary.mirrored_halves),
        ):
            if bands is not None:
                add(bands[0], i, Part.TOP, transform)
                add(bands[1], i, Part.BOTTOM, transform)
    return ClipQuery(
        times=times,
        codes=code_matrix(codes),
        frame=np.array(frame, np.intp),
        part=np.array(part, np.intp),
        applied=applied,
        sha256=clip.sha256,
        quality=clip.quality,
        phash=code_matrix(phash, PHASH_BYTES),
        phash_frame=np.array(phash_frame, np.intp),
        local=local,
    )


def vpdq_query(frames: Sequence[VpdqFrame], min_quality: int) -> ClipQuery:
    """A query from a vPDQ hash: frames below the quality floor are left out."""
    kept = [f for f in frames if f.quality >= min_quality and f.pdq.informative]
    quality = int(np.median([f.quality for f in frames])) if frames else None
    return ClipQuery(
        times=[f.at for f in kept],
        codes=code_matrix([f.pdq.value for f in kept]),
        frame=np.arange(len(kept), dtype=np.intp),
        part=np.zeros(len(kept), np.intp),
        applied=[Transform.ORIGINAL] * len(kept),
        sha256=None,
        quality=quality,
    )


def code_matrix(codes: Sequence[bytes], width: int = PDQ_BYTES) -> npt.NDArray[np.uint8]:
    if not codes:
        return np.zeros((0, width), np.uint8)
    return np.frombuffer(b"".join(codes), np.uint8).reshape(len(codes), width)
