"""What a local index keeps of each item for verification (keypoint positions,
whole descriptors, cell signatures), and the growable row arrays that hold
them: a base read from a snapshot, memory-mapped when asked, and rows
appended in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]


S = TypeVar("S", bound=np.generic)


@dataclass(frozen=True, slots=True)
class Entry:
    """What the index keeps of one item."""

    xy: F32
    """``(n, 2)`` keypoint positions in the item's frame (pixels)."""
    descriptors: U8
    """``(n, 32)`` ORB descriptors."""
    width: int
    height: int
    signatures: npt.NDArray[np.uint64]
    """The item's cell signatures (one per cell of its grid)."""
    flat: U8
    """Each cell's share of flat pixels (0-255)."""
    at: float | None = None
    """Seconds into the clip of a keyframe's entry; None for a still."""


def same_entry(held: Entry, entry: Entry) -> bool:
    """Whether an indexed entry is ``entry`` as it would be stored."""
    return (
        (held.width, held.height, held.at) == (entry.width, entry.height, entry.at)
        and np.array_equal(held.xy, np.asarray(entry.xy, np.float32))
        and np.array_equal(held.descriptors, entry.descriptors)
        and np.array_equal(held.signatures, entry.signatures)
        and np.array_equal(held.flat, entry.flat)
    )


def grown(array: npt.NDArray[S], needed: int) -> npt.NDArray[S]:
    """``array`` with room for ``needed`` rows: as it is when it has it, else a
    copy a quarter larger (a loaded index is sized exactly, and doubling would
    double its memory at the first registration after a load)."""
    if needed <= len(array):
        return array
    capacity = max(needed, len(array) + len(array) // 4 + 1024)
    grown = np.zeros((capacity, *array.shape[1:]), array.dtype)
    grown[: len(array)] = array
    return grown


class Rows:
    """A growable array of rows: a base read from a snapshot (memory-mapped when
    asked), then rows appended in memory, growing a quarter at a time."""

    def __init__(self, shape: tuple[int, ...], dtype: type[np.generic]) -> None:
        self.base: npt.NDArray[np.generic] = np.zeros((0, *shape), dtype)
        self.tail: npt.NDArray[np.generic] = np.zeros((1024, *shape), dtype)
        self.appended = 0

    @property
    def size(self) -> int:
        return len(self.base) + self.appended

    def append(self, rows: npt.NDArray[np.generic]) -> int:
        """Append ``rows``; returns where they start."""
        start = self.appended
        end = start + len(rows)
        self.tail = grown(self.tail, end)
        self.tail[start:end] = rows
        self.appended = end
        return len(self.base) + start

    def read(self, start: int, count: int = 1) -> npt.NDArray[np.generic]:
        """Rows ``start`` to ``start + count`` (a copy; an entry's rows are never
        split between the base and the appended rows)."""
        base = len(self.base)
        if start >= base:
            return self.tail[start - base : start - base + count].copy()
        return np.array(self.base[start : start + count])

    def load(self, values: npt.NDArray[np.generic]) -> None:
        self.base = values
        self.tail = np.zeros((1024, *values.shape[1:]), values.dtype)
        self.appended = 0

    def save(self, path: Path) -> None:
        """Write every row as one ``.npy`` file, a block at a time."""
        out = np.lib.format.open_memmap(
            path, mode="w+", dtype=self.tail.dtype, shape=(self.size, *self.tail.shape[1:])
        )
        base, block = len(self.base), 1 << 20
        for start in range(0, base, block):
            out[start : min(base, start + block)] = self.base[start : start + block]
        out[base:] = self.tail[: self.appended]
        out.flush()
        del out

    def resident_bytes(self) -> int:
        base = 0 if isinstance(self.base, np.memmap) else int(self.base.nbytes)
        return base + int(self.tail.nbytes)

    def mapped_bytes(self) -> int:
        return int(self.base.nbytes) if isinstance(self.base, np.memmap) else 0
