"""Index snapshots on disk, so a restart reads files instead of the whole database.

A snapshot is a directory holding each signal's codes (FAISS's own format for
Hamming signals, NumPy's ``.npy`` for digests; never pickle), their keys, and a
``manifest.json`` naming the format version and the change-feed position the
index had reached. ``CURRENT`` names the newest complete snapshot; it is
replaced atomically after the snapshot directory is complete and synced, so a
crash while writing leaves the previous snapshot in use.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.signals import HashIndex

log = logging.getLogger(__name__)

FORMAT = "hashwall-index"
VERSION = 4
"""4: the local index's postings hold each keypoint's slot and signature, and
its entries are memory-mapped when loaded. 3: with the local-feature index
(``local/``). 2: multi-index tables of per-slot widths with compressed bucket
starts (slots, bases, offsets and rows).
An older snapshot is refused and the index is loaded from the database."""
KEEP = 2
"""Snapshots kept: the current one and the one before it."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """A snapshot read into an index."""

    path: Path
    checkpoint: int
    rows: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)
    """What the writer stored beside the index (see :func:`write`)."""


def _fsync_tree(directory: Path) -> None:
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    for path in [*sorted(p for p in directory.rglob("*") if p.is_dir()), directory]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write(
    root: Path, index: HashIndex, checkpoint: int, extra: Mapping[str, Any] | None = None
) -> Path:
    """Write a snapshot of ``index`` at change-feed position ``checkpoint``;
    ``extra`` (JSON values) is kept in the manifest for the reader."""
    root.mkdir(parents=True, exist_ok=True)
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{checkpoint}"
    tmp = root / f".tmp-{name}-{os.getpid()}"
    tmp.mkdir()
    try:
        contents = index.save(tmp)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "checkpoint": checkpoint,
            "created_at": datetime.now(UTC).isoformat(),
            "signals": contents,
        }
        if extra:
            manifest["extra"] = dict(extra)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        _fsync_tree(tmp)
        final = root / name
        tmp.rename(final)
        pointer = root / "CURRENT.tmp"
        pointer.write_text(name + "\n")
        with pointer.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(pointer, root / "CURRENT")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(root, keep=name)
    return final


def _prune(root: Path, keep: str) -> None:
    snapshots = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in [p for p in snapshots if p.name != keep][: max(0, len(snapshots) - KEEP)]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".tmp-*"):
        # Left by a writer that died; a live writer finishes well within ten minutes.
        if time.time() - stale.stat().st_mtime > 600:
            shutil.rmtree(stale, ignore_errors=True)


def current(root: Path) -> Path | None:
    try:
        name = (root / "CURRENT").read_text().strip()
    except FileNotFoundError:
        return None
    path = root / name
    return path if path.is_dir() else None


def manifest(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path / "manifest.json").read_text())
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError(f"{path}: not a {FORMAT} v{VERSION} snapshot")
    return data


def read(root: Path, index: HashIndex) -> Loaded | None:
    """Load the current snapshot into ``index``; None when there is none usable.

    A snapshot that cannot be read is logged and skipped: the caller then loads
    from the database, which is always the source of truth.
    """
    path = current(root)
    if path is None:
        return None
    started = time.perf_counter()
    try:
        data = manifest(path)
        checkpoint = int(data["checkpoint"])
        rows = sum(int(s["rows"]) + int(s.get("delta_rows", 0)) for s in data["signals"].values())
        extra = dict(data.get("extra") or {})
        index.load(path, data["signals"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError) as exc:
        log.warning("index snapshot %s unusable, loading from the database: %s", path, exc)
        return None
    return Loaded(path, checkpoint, rows, time.perf_counter() - started, extra)
