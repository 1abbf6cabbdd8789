"""Hash values and the names of the signals Hashwall matches on."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt


class Signal(StrEnum):
    """A kind of hash. The value is the name used in the API and the database."""

    PDQ = "pdq"
    PHASH = "phash"
    SHA256 = "sha256"

    @property
    def bits(self) -> int:
        return SIGNAL_BITS[self]

    @property
    def perceptual(self) -> bool:
        """Perceptual signals match by Hamming distance; the others only exactly."""
        return self is not Signal.SHA256


SIGNAL_BITS: dict[Signal, int] = {Signal.PDQ: 256, Signal.PHASH: 64, Signal.SHA256: 256}


def u8(array: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """View an OpenCV result as the uint8 array it is (no copy); OpenCV's stubs are generic."""
    return np.asarray(array, dtype=np.uint8)


class HashFormatError(ValueError):
    """A hash string is not lowercase hex of the signal's exact length."""


def hex_bytes(signal: Signal, text: str) -> bytes:
    """The bytes of a hash written as hex of exactly the signal's length (upper
    case accepted, surrounding whitespace ignored); raises :class:`HashFormatError`.

    The one hex validator: :meth:`HashValue.from_hex` and bulk imports (which
    check millions of lines, so it avoids a regex) both use it.
    """
    text = text.strip()
    want = signal.bits // 4
    if len(text) == want:
        try:
            value = bytes.fromhex(text)
        except ValueError:
            pass
        else:
            # fromhex skips whitespace between digit pairs: a short result is one.
            if len(value) * 2 == want:
                return value
    raise HashFormatError(f"a {signal} hash is {want} hex digits, got {text.lower()[:80]!r}")


def informative(signal: Signal, value: bytes) -> bool:
    """Whether a hash says anything about a picture. PDQ and pHash set a bit for
    each coefficient above their median, so a picture's hash has about half its
    bits set (every dev-corpus photo and edit: PDQ exactly 128 of 256, pHash 16
    to 32 of 64); a flat image (all coefficients equal) gives all zeros, which
    would match every other flat image. A perceptual hash with fewer than a
    quarter or more than three quarters of its bits set is not stored, searched
    or matched on; a file digest always is."""
    if not signal.perceptual:
        return True
    ones = int.from_bytes(value, "big").bit_count()
    return signal.bits // 4 <= ones <= 3 * signal.bits // 4


@dataclass(frozen=True, slots=True)
class HashValue:
    """A fixed-length binary hash of one signal.

    ``a.distance(b)`` is the Hamming distance in bits, as imagehash's ``a - b``.
    """

    signal: Signal
    value: bytes

    def __post_init__(self) -> None:
        if len(self.value) * 8 != self.signal.bits:
            raise HashFormatError(
                f"a {self.signal} hash has {self.signal.bits} bits, got {len(self.value) * 8}"
            )

    @classmethod
    def from_hex(cls, signal: Signal, text: str) -> HashValue:
        """Parse hex of exactly the signal's length; upper case is accepted and folded."""
        return cls(signal, hex_bytes(signal, text))

    def to_hex(self) -> str:
        return self.value.hex()

    @property
    def informative(self) -> bool:
        """See :func:`informative`."""
        return informative(self.signal, self.value)

    def distance(self, other: HashValue) -> int:
        """Hamming distance in bits; both hashes must be of the same signal."""
        if other.signal is not self.signal:
            raise ValueError(f"cannot compare {self.signal} with {other.signal}")
        a = int.from_bytes(self.value, "big")
        b = int.from_bytes(other.value, "big")
        return (a ^ b).bit_count()

    def __str__(self) -> str:
        return f"{self.signal}:{self.to_hex()}"
