"""From an uploaded file to its hashes, whatever kind of media it is.

The kind is read from the file's first bytes (:mod:`hashing.media`). A still or
animated image is read into memory, within ``max_image_bytes``. A video is
copied to a private temporary file for FFmpeg to read, hashed on the way, and
the file is deleted on every path out; a file left by a crash is removed at the
next start (:func:`clear_spool`). Media is never kept.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from app.failures import DomainError, Failure
from app.schemas import ClipInfo
from app.services.items import needs_layouts
from app.state import AppState
from hashing.animation import hash_animation
from hashing.clip import ClipHashes
from hashing.hashers import sha256
from hashing.media import SNIFF_BYTES, is_animated, video_container
from hashing.pipeline import ImageHashes, hash_image_bytes
from hashing.types import HashValue, Signal
from hashing.video import hash_video

SPOOL_PREFIX = "upload-"
_CHUNK = 1 << 20


def layouts(state: AppState) -> bool:
    """Whether stills get their layout views in this process (asked of the
    database once: only settings and items registered before the local tier
    make them needed, and neither changes while the process runs)."""
    if state.layouts is None:
        with state.sessions() as session:
            state.layouts = needs_layouts(session, state.settings)
    return state.layouts


def hash_upload(
    file: BinaryIO, state: AppState, *, register: bool, keypoints: bool
) -> ImageHashes | ClipHashes:
    """Hash an upload: a still, an animated image, or a video. A registration
    (``register``) samples a clip's keyframes more densely. With ``keypoints``
    a still, and some keyframes of a clip, get local features (an item's to
    store, or an upload's to search);
    a still registered without them gets the crop and rotation variants and the
    bands of its canvas instead, the global hashes' fixed grid of what the local
    tier finds at any crop, angle and layout (docs/benchmarks.md, section 1b). A
    still's layout views are made only where they can match something
    (``state.layouts``).

    Raises :class:`hashing.decode.DecodeError` for media Hashwall will not
    decode, and :class:`DomainError` ``upload_too_large`` for an image over
    ``max_image_bytes``.
    """
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    container = video_container(head)
    limits = state.register_clip_limits if register else state.clip_limits
    if container is not None:
        with spool(file, state.settings.upload_dir) as (path, digest):
            return hash_video(path, container, digest, limits, local=keypoints, item=register)
    limit = state.settings.max_image_bytes
    data = file.read(limit + 1)
    if len(data) > limit:
        raise DomainError(
            Failure.TOO_LARGE, "upload_too_large", f"images are limited to {limit} bytes"
        )
    if is_animated(data):
        return hash_animation(data, sha256(data), limits, local=keypoints, item=register)
    return hash_image_bytes(
        data,
        state.limits,
        variants=register and not keypoints,
        local=keypoints,
        item=register,
        layouts=layouts(state) or (register and not keypoints),
    )


@contextmanager
def spool(source: BinaryIO, directory: Path) -> Iterator[tuple[Path, HashValue]]:
    """Copy ``source`` to a new file only this process's user can read, yielding
    its path and SHA-256; the file is gone when the block exits, however it exits."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=SPOOL_PREFIX, dir=directory)  # created 0600
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        yield Path(name), HashValue(Signal.SHA256, digest.digest())
    finally:
        Path(name).unlink(missing_ok=True)


def clear_spool(directory: Path) -> int:
    """Delete upload files a killed process left behind; returns how many."""
    if not directory.is_dir():
        return 0
    removed = 0
    for path in directory.glob(f"{SPOOL_PREFIX}*"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def clip_info(hashed: ImageHashes | ClipHashes) -> ClipInfo | None:
    """The answer's account of what of a clip was looked at; None for a still."""
    if isinstance(hashed, ImageHashes):
        return None
    return ClipInfo(
        container=hashed.container,
        width=hashed.width,
        height=hashed.height,
        duration_s=None if hashed.duration is None else round(hashed.duration, 3),
        hashed_s=hashed.hashed_until,
        frames_decoded=hashed.frames_decoded,
        keyframes=len(hashed.keyframes),
        low_quality_keyframes=hashed.low_quality,
        complete=hashed.complete,
        stopped_by=None if hashed.stopped is None else hashed.stopped.value,
    )


def media_type(hashed: ImageHashes | ClipHashes) -> str:
    return "image" if isinstance(hashed, ImageHashes) else hashed.kind
