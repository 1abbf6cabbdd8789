"""How strongly one picture of an upload matches one picture of an item: the
rule stills and clip keyframes share.

The evidence for a pair of pictures is four Hamming distances: the whole
picture's PDQ, its pHash, and the PDQ of the top and bottom bands of its canvas
(:func:`hashing.pipeline.halves`); a distance that was not found is
:data:`FAR`. A text banner across the middle moves the whole picture's PDQ by 38
bits at the median but leaves both bands close; a caption across one band leaves
the other.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt

from matching.policy import MatchPolicy

FAR = 1 << 20
"""The distance of evidence that was not found."""

Distances = npt.NDArray[np.intp] | int


class Strength(IntEnum):
    NONE = 0
    NEAR = 1
    """The whole picture within the review distance: someone should look."""
    PARTIAL = 2
    """One band matches: a banner may hide the rest. Evidence only in company
    (other keyframes of a clip)."""
    STRONG = 3
    """The whole picture within the block distance, a PDQ near miss the pHash
    agrees with, or both bands: enough to block."""


def grade(
    whole: Distances, phash: Distances, top: Distances, bottom: Distances, policy: MatchPolicy
) -> npt.NDArray[np.int8]:
    """The :class:`Strength` of each pair of pictures (element-wise over arrays)."""
    w, p, t, b = np.broadcast_arrays(
        np.asarray(whole), np.asarray(phash), np.asarray(top), np.asarray(bottom)
    )
    top_hit, bottom_hit = t <= policy.pdq_block, b <= policy.pdq_block
    strong = (
        (w <= policy.pdq_block)
        | ((w <= policy.pdq_corroborated) & (p <= policy.phash_corroboration))
        | (top_hit & bottom_hit)
    )
    out = np.full(w.shape, Strength.NONE, np.int8)
    out[w <= policy.pdq_review] = Strength.NEAR
    out[top_hit | bottom_hit] = Strength.PARTIAL
    out[strong] = Strength.STRONG
    return out
