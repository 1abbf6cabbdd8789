"""ThreatExchange's vPDQ text form of a video hash: one PDQ-hashed frame per line.

Two layouts are in use and both are read:

- ``pdq_hex,quality,timestamp_s`` (python-threatexchange's compact feature, the
  form hash-sharing partners exchange), which :func:`format_vpdq` writes;
- ``frame_number,quality,pdq_hex,timestamp_s`` (the reference C++ tool's files),
  and ``frame_number,pdq_hex,quality,timestamp_s`` (its Python binding's README).

The hash is told apart from the integers by its length, so no layout flag is needed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hashing.types import HashFormatError, HashValue, Signal

_HEX_DIGITS = Signal.PDQ.bits // 4


@dataclass(frozen=True, slots=True)
class VpdqFrame:
    pdq: HashValue
    quality: int
    """PDQ quality, 0-100."""
    at: float
    """Seconds from the start of the video."""


def _frame(fields: list[str]) -> VpdqFrame:
    positions = [i for i, f in enumerate(fields) if len(f) == _HEX_DIGITS]
    if len(fields) == 3 and positions == [0]:
        hex_text, quality_text, at_text = fields
    elif len(fields) == 4 and positions in ([1], [2]):
        hex_text = fields[positions[0]]
        quality_text = fields[3 - positions[0]]
        at_text = fields[3]
    else:
        raise ValueError("expected pdq_hex,quality,timestamp (or frame,quality,pdq_hex,timestamp)")
    pdq = HashValue.from_hex(Signal.PDQ, hex_text)
    quality = int(quality_text)
    at = float(at_text)
    if not 0 <= quality <= 100:
        raise ValueError(f"quality {quality} is outside 0-100")
    if not math.isfinite(at) or at < 0:
        raise ValueError(f"timestamp {at_text!r} is not a non-negative number of seconds")
    return VpdqFrame(pdq, quality, at)


def parse_vpdq(lines: Iterable[str]) -> list[VpdqFrame]:
    """Frames of a vPDQ hash, in file order; blank lines are skipped.

    Raises :class:`HashFormatError` naming the first bad line (1-based).
    """
    frames = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text:
            continue
        try:
            frames.append(_frame([f.strip() for f in text.split(",")]))
        except (ValueError, HashFormatError) as exc:
            raise HashFormatError(f"vpdq line {number}: {exc}") from None
    return frames


def format_vpdq(frames: Sequence[VpdqFrame]) -> list[str]:
    """Lines of the compact form ``pdq_hex,quality,timestamp_s`` (milliseconds kept)."""
    return [f"{f.pdq.to_hex()},{f.quality},{f.at:.3f}" for f in frames]
