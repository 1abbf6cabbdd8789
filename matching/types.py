"""The values matching works with: categories, decisions, and a candidate item
with the evidence it was found by."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from hashing.transforms import Transform

if TYPE_CHECKING:
    from matching.local import LocalMatch


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


class Evidence(StrEnum):
    """What an item was matched by: a hash signal, or local features."""

    SHA256 = "sha256"
    PDQ = "pdq"
    PHASH = "phash"
    LOCAL = "local"
    """The item found inside the upload by its keypoints (:mod:`matching.local`)."""

    @property
    def perceptual(self) -> bool:
        return self is not Evidence.SHA256

    @property
    def scale(self) -> int:
        """What ``Candidate.distance`` is out of: bits of a hash, or for a local
        match, percent (the share of the item's counted cells that disagree)."""
        return {"sha256": 256, "pdq": 256, "phash": 64, "local": 100}[self.value]


_EVIDENCE_RANK = {Evidence.SHA256: 0, Evidence.PDQ: 1, Evidence.LOCAL: 2, Evidence.PHASH: 3}


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
    signal: Evidence
    distance: int
    """Hamming distance in bits of the hash named by ``signal`` (0 for sha256); for
    a local match, the percent of the item's counted cells that disagree."""
    transform: Transform
    """How the upload differs from the item."""
    decision: Decision
    coverage: Coverage | None = None
    local: LocalMatch | None = None
    """For a local match: inliers, agreement and where the item sits in the upload."""

    def sort_key(self) -> tuple[int, int, float]:
        """Best first: the stronger decision, then the exact digest before PDQ
        before local features before pHash, then the smaller distance."""
        return (
            DECISION_RANK[self.decision],
            _EVIDENCE_RANK[self.signal],
            self.distance / self.signal.scale,
        )


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """What the decision needs to know of a registered item."""

    category: str
    quality: int | None
    """PDQ quality of the media it was registered from; None for hashes alone."""
    clip: bool
    """A video or animation, whose hashes carry keyframe times."""
