"""The values matching works with: categories, decisions, and a candidate item
with the evidence it was found by."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hashing.transforms import Transform
from hashing.types import Signal


class Category(StrEnum):
    NCII = "ncii"
    DEEPFAKE = "deepfake"
    CSAM = "csam"
    ILLEGAL_FILMING = "illegal_filming"
    OTHER = "other"


class Decision(StrEnum):
    BLOCK = "block"
    REVIEW = "review"
    ALLOW = "allow"


DECISION_RANK = {Decision.BLOCK: 0, Decision.REVIEW: 1, Decision.ALLOW: 2}
_SIGNAL_RANK = {Signal.SHA256: 0, Signal.PDQ: 1, Signal.PHASH: 2}


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of a clip matched an item (see :mod:`matching.clip`)."""

    upload_share: float
    """Share of the upload's time that matched the item."""
    item_share: float
    """Share of the item's time found in the upload."""
    upload_span: tuple[float, float] | None
    """Seconds of the upload from the first to the last matching keyframe."""
    item_span: tuple[float, float] | None
    """Seconds of the item likewise; None for a still item."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """An item a query found, graded on its own evidence."""

    item_id: int
    signal: Signal
    distance: int
    """Hamming distance in bits of the evidence named by ``signal`` (0 for sha256)."""
    transform: Transform
    """How the upload differs from the item."""
    decision: Decision
    coverage: Coverage | None = None

    def sort_key(self) -> tuple[int, int, float]:
        """Best first: the stronger decision, then the exact digest before PDQ
        before pHash, then the smaller share of differing bits."""
        return (
            DECISION_RANK[self.decision],
            _SIGNAL_RANK[self.signal],
            self.distance / self.signal.bits,
        )


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """What the decision needs to know of a registered item."""

    category: str
    quality: int | None
    """PDQ quality of the media it was registered from; None for hashes alone."""
    clip: bool
    """A video or animation, whose hashes carry keyframe times."""
