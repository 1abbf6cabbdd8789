"""One item's keyframes against an upload's: which pairs match (graded by
:func:`matching.rules.grade`), and how much of each clip's time they cover.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hashing.transforms import Transform, inverse
from matching.clip_frames import ClipQuery, ItemFrames, Part, code_matrix
from matching.policy import MatchPolicy
from matching.rules import FAR, Strength, grade
from matching.types import Candidate, Coverage, Decision, Evidence


def _distances(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> npt.NDArray[np.intp]:
    """Hamming distances in bits between every row of ``a`` and every row of ``b``."""
    x = a.view(np.uint64)[:, None, :] ^ b.view(np.uint64)[None, :, :]
    counts: npt.NDArray[np.intp] = np.bitwise_count(x).sum(axis=2, dtype=np.intp)
    return counts


def _per_frame(
    best: npt.NDArray[np.intp], frame: npt.NDArray[np.intp], frames: int
) -> npt.NDArray[np.intp]:
    out = np.full(frames, 1 << 20, np.intp)
    np.minimum.at(out, frame, best)
    return out


# Two matching keyframes at most this many seconds apart vouch for the keyframes
# between them. A check samples about once a second and a registration densely
# (hashing.clip.ClipLimits.motion_bits), so most of the dense side's keyframes
# have no sample of the other side near them, though they are the same footage.
FILL_GAP = 2.5


# Weight of a keyframe: the time until the next one, within these bounds (seconds).
_MIN_WEIGHT, _MAX_WEIGHT = 0.04, 2.0


def time_share(times: Sequence[float | None], hit: npt.NDArray[np.bool_]) -> float:
    """Share of a clip's time covered by matching keyframes.

    Each keyframe stands for the time until the next one, so densely sampled
    motion does not outweigh a static shot; keyframes between two matching ones
    at most :data:`FILL_GAP` apart count as matching. A still is all or nothing.
    """
    if not len(hit):
        return 0.0
    if len(hit) == 1 or any(t is None for t in times):
        return float(hit.mean())
    t = np.array(times, dtype=np.float64)
    order = np.argsort(t, kind="stable")
    t, hit = t[order], hit[order]
    filled = hit.copy()
    matched = t[hit]
    if len(matched) >= 2:
        after = np.searchsorted(matched, t, side="left")  # first match at or after
        before = np.searchsorted(matched, t, side="right") - 1  # last match at or before
        inside = (before >= 0) & (after < len(matched))
        gap = matched[np.minimum(after, len(matched) - 1)] - matched[np.maximum(before, 0)]
        filled |= inside & (gap <= FILL_GAP)
    steps = np.diff(t)
    last = float(np.median(steps)) if len(steps) else 1.0
    weights = np.clip(np.append(steps, last), _MIN_WEIGHT, _MAX_WEIGHT)
    return float((weights * filled).sum() / weights.sum())


def time_span(
    times: Sequence[float | None], hit: npt.NDArray[np.bool_]
) -> tuple[float, float] | None:
    """The first and last time (seconds) of a matching keyframe; None when no
    keyframe with a time matches (a still has none)."""
    found = [t for t, h in zip(times, hit, strict=True) if h and t is not None]
    return (min(found), max(found)) if found else None


def whole_span(times: Sequence[float]) -> tuple[float, float] | None:
    """The first and last keyframe time (seconds); None without keyframes."""
    return (min(times), max(times)) if times else None


def _pairs(
    distances: npt.NDArray[np.intp],
    rows: npt.NDArray[np.intp],
    n_rows: int,
    cols: npt.NDArray[np.intp],
    n_cols: int,
) -> npt.NDArray[np.intp]:
    """Hash-to-hash distances reduced to keyframe-to-keyframe minima: ``rows`` and
    ``cols`` name the keyframe of each hash; pairs without hashes are far."""
    out = np.full((n_rows, n_cols), FAR, np.intp)
    if not distances.size:
        return out
    by_row = np.argsort(rows, kind="stable")
    by_col = np.argsort(cols, kind="stable")
    distances = distances[by_row][:, by_col]
    row_ids, row_starts = np.unique(rows[by_row], return_index=True)
    col_ids, col_starts = np.unique(cols[by_col], return_index=True)
    reduced = np.minimum.reduceat(
        np.minimum.reduceat(distances, row_starts, axis=0), col_starts, axis=1
    )
    out[np.ix_(row_ids, col_ids)] = reduced
    return out


def _any(pairs: npt.NDArray[np.bool_], axis: int) -> npt.NDArray[np.bool_]:
    return np.asarray(pairs.any(axis=axis), dtype=np.bool_)


def _closest(
    query: ClipQuery, item: ItemFrames, distances: npt.NDArray[np.intp], policy: MatchPolicy
) -> tuple[int, Transform]:
    """The closest whole-picture distance (bits) between the clips' PDQ hashes,
    and the transform from the item to the upload most keyframes matched
    through (within the block distance, or the closest if farther), rather
    than one lucky frame's."""
    by_whole = np.where(
        (query.part == Part.WHOLE)[:, None] & (item.part == Part.WHOLE)[None, :], distances, FAR
    )
    row, col = np.unravel_index(int(by_whole.argmin()), by_whole.shape)
    limit = max(int(by_whole.min()), policy.pdq_block)
    votes = Counter(query.applied[int(i)] for i in np.flatnonzero(by_whole.min(axis=1) <= limit))
    applied = votes.most_common(1)[0][0] if votes else query.applied[int(row)]
    return int(by_whole[row, col]), inverse(applied)


def compare(
    item_id: int, query: ClipQuery, item: ItemFrames, policy: MatchPolicy
) -> Candidate | None:
    """Every keyframe of the upload against every keyframe of the item, graded by
    :func:`matching.rules.grade`: a block when the matching keyframes cover
    enough of either clip, a review when any keyframe is near."""
    if not len(item.codes):
        return None
    nq, ni = len(query.times), len(item.times)
    distances = _distances(query.codes, item.codes)

    def part(p: Part) -> npt.NDArray[np.intp]:
        rows, cols = query.part == p, item.part == p
        return _pairs(distances[np.ix_(rows, cols)], query.frame[rows], nq, item.frame[cols], ni)

    whole, top, bottom = part(Part.WHOLE), part(Part.TOP), part(Part.BOTTOM)
    phash = _pairs(_distances(query.phash, item.phash), query.phash_frame, nq, item.phash_frame, ni)
    strength = grade(whole, phash, top, bottom, policy)
    strong = strength >= Strength.STRONG
    # One band alone (a banner across the other) counts towards coverage, in company.
    pair = strength >= Strength.PARTIAL
    matched = _any(pair, 1)
    near = _any(whole <= policy.pdq_review, 1)
    if not (matched.any() or near.any()):
        return None
    found = _any(pair, 0)
    upload_share = time_share(query.times, matched)
    item_share = time_share(item.times, found)
    # A keyframe matched strongly may decide alone when either clip has one
    # keyframe; one matched by a band needs company.
    enough = (
        int(strong.any(axis=1).sum()) >= min(policy.clip_min_frames, nq, ni)
        or int(matched.sum()) >= policy.clip_min_frames
    )
    covered = max(upload_share, item_share) >= policy.clip_block_share
    decision = Decision.BLOCK if covered and enough else Decision.REVIEW
    distance, transform = _closest(query, item, distances, policy)
    return Candidate(
        item_id=item_id,
        signal=Evidence.PDQ,
        distance=distance,
        transform=transform,
        decision=decision,
        coverage=Coverage(
            upload_share=round(upload_share, 4),
            item_share=round(item_share, 4),
            upload_span=time_span(query.times, matched if matched.any() else near),
            item_span=time_span(
                item.times, found if found.any() else _any(whole <= policy.pdq_review, 0)
            ),
        ),
    )


def still_coverage(
    codes: Sequence[bytes], item: ItemFrames, policy: MatchPolicy
) -> Coverage | None:
    """Where in a clip item a still upload (a screenshot) was found: the item's
    keyframes within the block distance of any of the still's PDQ hashes. None
    when the item is a still itself or no keyframe is that close."""
    timed = [t is not None for t in item.times]
    if not codes or not any(timed) or not len(item.codes):
        return None
    distances = _distances(code_matrix(codes), item.codes)
    distances[:, item.part != Part.WHOLE] = FAR
    item_best = _per_frame(distances.min(axis=0), item.frame, len(item.times))
    found = item_best <= policy.pdq_block
    if not found.any():
        return None
    return Coverage(
        upload_share=1.0,
        item_share=round(float(found.mean()), 4),
        upload_span=None,
        item_span=time_span(item.times, found),
    )
