"""The thresholds every decision is made with, fixed when the service starts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """Thresholds of matching, in bits of Hamming distance unless said otherwise.

    PDQ has 256 bits, pHash 64. The defaults are the service's (chosen in
    docs/benchmarks.md): unrelated photos never came within 82 PDQ bits of a
    registration, different shots of one scene within 52, so a block stays at
    the industry's 31 and a review stops at 51. pHash is too short to decide
    alone at millions of items; its job is to corroborate a PDQ near miss.
    """

    pdq_block: int = 31
    pdq_review: int = 51
    phash_block: int | None = None
    """None: a pHash match alone never blocks."""
    phash_review: int = 0
    pdq_corroborated: int = 51
    """A PDQ distance this close blocks when the item's pHash is within ``phash_corroboration``."""
    phash_corroboration: int = 10
    min_quality: int = 50
    """PDQ quality (0-100) under which a hash only ever sends to review."""
    max_matches: int = 20
    exact_distance: int | None = None
    """PDQ searches find every match up to this distance and may miss ones
    beyond it (up to ``pdq_review``); None: exact at every distance."""
    clip_block_share: float = 0.5
    """A clip blocks when this share of the upload's time, or of the item's, matched."""
    clip_min_frames: int = 2
    """Keyframes that must match for a clip to block (fewer when either clip has fewer)."""
    duplicate_share: float = 0.9
    """A registration this much inside an active item is a duplicate of it."""
    local_block_inliers: int = 10
    """Keypoint pairs a homography must explain for a local match to block."""
    local_review_inliers: int = 8
    local_block_agreement: float = 0.85
    """Share of the item's counted cells the upload must agree with to block
    (:mod:`matching.local`)."""
    local_review_agreement: float = 0.5
    local_min_cells: int = 6
    """Cells of the item's own content (of 64) that must lie inside the upload."""
    local_block_shown: float = 0.4
    """Share of the item's own content that must lie inside the upload to block
    (cells the upload's edge cuts counted by the share it shows): an upload
    showing less (one tile of a registered collage, a quarter of it and at most
    a ring of cut cells around it) is sent to review."""
    local_candidates: int = 12
    """Items the descriptor index proposes for a still, all verified, best first."""
    local_keyframe_candidates: int = 4
    """Items it proposes for each keyframe of a clip: a clip's item is looked
    for in all of its keyframes, and found in several."""
    local_insets: int = 1
    """Pictures set into a still (picture in picture, :mod:`hashing.insets`)
    searched again on their own when the rest of its check does not block; 0:
    none."""
    local_inset_candidates: int = 4
    """Items the descriptor index proposes for an inset, all verified: it holds
    one picture, no chrome or text to outvote it (4 found the same insets as 12)."""

    def __post_init__(self) -> None:
        if self.pdq_review < self.pdq_block:
            raise ValueError("pdq_review must be >= pdq_block")
        if not self.pdq_block <= self.pdq_corroborated <= self.pdq_review:
            raise ValueError("pdq_corroborated must lie between pdq_block and pdq_review")
        if self.phash_block is not None and self.phash_review < self.phash_block:
            raise ValueError("phash_review must be >= phash_block")

    @property
    def phash_radius(self) -> int:
        """How far a pHash search reaches: to review on it, or to corroborate."""
        return max(self.phash_review, self.phash_corroboration)
