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
from app.services.rules import MediaRules
from hashing.animation import hash_animation
from hashing.clip import ClipHashes
from hashing.hashers import sha256
from hashing.media import SNIFF_BYTES, is_animated, video_container
from hashing.pipeline import ImageHashes, hash_image_bytes
from hashing.types import HashValue, Signal
from hashing.video import hash_video

SPOOL_PREFIX = "upload-"
_CHUNK = 1 << 20


def hash_upload(
    file: BinaryIO, rules: MediaRules, *, register: bool, keypoints: bool, layouts: bool
) -> ImageHashes | ClipHashes:
    """Hash an upload: a still, an animated image, or a video. A registration
    (``register``) samples a clip's keyframes more densely. With ``keypoints``
    a still, and some keyframes of a clip, get local features (an item's to
    store, or an upload's to search);
    a still registered without them gets the crop and rotation variants and the
    bands of its canvas instead, the global hashes' fixed grid of what the local
    tier finds at any crop, angle and layout (docs/benchmarks.md, section 1b). A
    still's layout views are made where they can match something (``layouts``,
    :class:`LayoutViews`).

    Raises :class:`hashing.decode.DecodeError` for media Hashwall will not
    decode, and :class:`DomainError` ``upload_too_large`` for an image over
    ``max_image_bytes``.
    """
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    container = video_container(head)
    limits = rules.register_clip if register else rules.clip
    if container is not None:
        with spool(file, rules.spool_dir) as (path, digest):
            return hash_video(path, container, digest, limits, local=keypoints, item=register)
    limit = rules.max_image_bytes
    data = file.read(limit + 1)
    if len(data) > limit:
        raise DomainError(
            Failure.TOO_LARGE, "upload_too_large", f"images are limited to {limit} bytes"
        )
    if is_animated(data):
        return hash_animation(data, sha256(data), limits, local=keypoints, item=register)
    return hash_image_bytes(
        data,
        rules.decode,
        variants=register and not keypoints,
        local=keypoints,
        item=register,
        layouts=layouts or (register and not keypoints),
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


def media_type(hashed: ImageHashes | ClipHashes) -> str:
    """The kind of media an upload was: ``image``, or a clip's kind."""
    return "image" if isinstance(hashed, ImageHashes) else hashed.kind
