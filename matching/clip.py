"""Matching a clip (a video or an animated image) against registered items.

A clip's keyframes are searched in the same index as stills, so a registered
photo shown in an uploaded video matches, and so does a screenshot of a
registered video (that direction is a still check, :mod:`matching.still`).

The index only finds candidate items. For each, every keyframe of the upload is
then compared with every keyframe of the item (PDQ, all views, all eight
orientations of the upload), which gives the two shares a decision rests on:
how much of the upload is the item, and how much of the item is in the upload.
An excerpt of a registered video scores high on the first; a whole video whose
excerpt was registered scores high on the second. Either blocks.

Keyframes with local features also go through the local tier (:func:`search_local`),
which finds a registered picture inside a keyframe (a reframe, an inset, a large
crop) and shares out its evidence over time the same way.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from hashing.clip import ClipHashes
from hashing.features import LocalFeatures
from hashing.transforms import Transform, inverse
from hashing.types import HashValue, Signal
from hashing.variants import Variant
from hashing.vpdq import VpdqFrame
from index import HashIndex
from index.local import LocalIndex
from matching.decide import best_per_item
from matching.local import as_candidate, verified
from matching.policy import MatchPolicy
from matching.rules import FAR, Strength, grade
from matching.types import Candidate, Coverage, Decision, Evidence

PDQ_BYTES = Signal.PDQ.bits // 8
PHASH_BYTES = Signal.PHASH.bits // 8


class Part(IntEnum):
    """What of a keyframe a PDQ hash covers; only like parts are compared."""

    WHOLE = 0
    TOP = 1
    BOTTOM = 2
    """The top and bottom bands of the canvas (:func:`hashing.pipeline.halves`): a
    caption or banner across one of them leaves the other matching."""


BAND_VARIANTS: Mapping[str, Part] = {Variant.HALF_TOP: Part.TOP, Variant.HALF_BOTTOM: Part.BOTTOM}
"""The variants that are PDQ of a band of an image, and the part each covers:
evidence only in pairs (a caption across the middle leaves both), never shared
as a picture on its own (a hash-list export leaves them out)."""


@dataclass(frozen=True, slots=True)
class ClipQuery:
    """A clip's keyframes to search: ``codes[i]`` is a PDQ hash of ``part[i]`` of
    keyframe ``frame[i]`` after ``applied[i]`` was applied to it."""

    times: list[float]
    codes: npt.NDArray[np.uint8]
    frame: npt.NDArray[np.intp]
    part: npt.NDArray[np.intp]
    applied: list[Transform]
    sha256: HashValue | None
    quality: int | None
    phash: npt.NDArray[np.uint8] = field(default_factory=lambda: _matrix([], PHASH_BYTES))
    """pHash of each keyframe's primary view in every orientation, rows of ``phash_frame``."""
    phash_frame: npt.NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, np.intp))
    local: list[LocalKeyframe] = field(default_factory=list)
    """The keyframes given local features, searched in the local tier."""


@dataclass(frozen=True, slots=True)
class LocalKeyframe:
    """An upload keyframe's local features and feature frame."""

    at: float
    features: LocalFeatures
    frame: npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class ItemFrames:
    """An item's stored PDQ hashes grouped into keyframes (a still is one frame)."""

    times: list[float | None]
    codes: npt.NDArray[np.uint8]
    frame: npt.NDArray[np.intp]
    part: npt.NDArray[np.intp]
    phash: npt.NDArray[np.uint8]
    phash_frame: npt.NDArray[np.intp]


def item_frames_of(rows: Iterable[tuple[str, bytes, float | None, str]]) -> ItemFrames:
    """Group an item's stored hashes (signal, value, frame time, variant), in the
    order they were stored, into keyframes; a still's hashes form one frame."""
    pdq: list[tuple[bytes, float | None, Part]] = []
    phash: list[tuple[bytes, float | None]] = []
    for signal, value, at, variant in rows:
        if signal == Signal.PDQ:
            pdq.append((value, at, BAND_VARIANTS.get(variant, Part.WHOLE)))
        elif signal == Signal.PHASH:
            phash.append((value, at))
    keys = sorted({at for _, at, _ in pdq}, key=lambda t: (t is None, t or 0.0))
    position = {at: i for i, at in enumerate(keys)}
    phash = [(v, at) for v, at in phash if at in position]
    return ItemFrames(
        times=keys,
        codes=_matrix([v for v, _, _ in pdq]),
        frame=np.array([position[at] for _, at, _ in pdq], np.intp),
        part=np.array([p for _, _, p in pdq], np.intp),
        phash=_matrix([v for v, _ in phash], PHASH_BYTES),
        phash_frame=np.array([position[at] for _, at in phash], np.intp),
    )


FramesLoader = Callable[[Sequence[int]], dict[int, ItemFrames]]


def clip_query(clip: ClipHashes) -> ClipQuery:
    """Every orientation of every view of every keyframe (rotation metadata is
    not always right), and the bands of the primary view as is and mirrored."""
    times: list[float] = []
    codes: list[bytes] = []
    frame: list[int] = []
    part: list[int] = []
    applied: list[Transform] = []
    phash: list[bytes] = []
    phash_frame: list[int] = []

    def add(value: HashValue, i: int, p: Part, t: Transform) -> None:
        if not value.informative:  # a flat band matches every flat band
            return
        codes.append(value.value)
        frame.append(i)
        part.append(p)
        applied.append(t)

    local: list[LocalKeyframe] = []
    for i, keyframe in enumerate(clip.keyframes):
        times.append(keyframe.at)
        if keyframe.local is not None and keyframe.frame is not None and len(keyframe.local):
            local.append(LocalKeyframe(keyframe.at, keyframe.local, keyframe.frame))
        for view in keyframe.views:
            for transform, value in view.pdq.items():
                add(value, i, Part.WHOLE, transform)
        primary = keyframe.views[0]
        for value in primary.phash.values():
            if not value.informative:
                continue
            phash.append(value.value)
            phash_frame.append(i)
        for transform, bands in (
            (Transform.ORIGINAL, primary.halves),
            (Transform.FLIP_HORIZONTAL, primary.mirrored_halves),
        ):
            if bands is not None:
                add(bands[0], i, Part.TOP, transform)
                add(bands[1], i, Part.BOTTOM, transform)
    return ClipQuery(
        times=times,
        codes=_matrix(codes),
        frame=np.array(frame, np.intp),
        part=np.array(part, np.intp),
        applied=applied,
        sha256=clip.sha256,
        quality=clip.quality,
        phash=_matrix(phash, PHASH_BYTES),
        phash_frame=np.array(phash_frame, np.intp),
        local=local,
    )


def vpdq_query(frames: Sequence[VpdqFrame], min_quality: int) -> ClipQuery:
    """A query from a vPDQ hash: frames below the quality floor are left out."""
    kept = [f for f in frames if f.quality >= min_quality and f.pdq.informative]
    quality = int(np.median([f.quality for f in frames])) if frames else None
    return ClipQuery(
        times=[f.at for f in kept],
        codes=_matrix([f.pdq.value for f in kept]),
        frame=np.arange(len(kept), dtype=np.intp),
        part=np.zeros(len(kept), np.intp),
        applied=[Transform.ORIGINAL] * len(kept),
        sha256=None,
        quality=quality,
    )


def _matrix(codes: Sequence[bytes], width: int = PDQ_BYTES) -> npt.NDArray[np.uint8]:
    if not codes:
        return np.zeros((0, width), np.uint8)
    return np.frombuffer(b"".join(codes), np.uint8).reshape(len(codes), width)


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


def _share(times: Sequence[float | None], hit: npt.NDArray[np.bool_]) -> float:
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


def _span(times: Sequence[float | None], hit: npt.NDArray[np.bool_]) -> tuple[float, float] | None:
    found = [t for t, h in zip(times, hit, strict=True) if h and t is not None]
    return (min(found), max(found)) if found else None


# Candidates compared frame by frame, most-hit first: bounds a check's work when a
# common picture (a logo card) is in many items.
MAX_CANDIDATES = 64


def search_clip(
    index: HashIndex, query: ClipQuery, load: FramesLoader, policy: MatchPolicy
) -> list[Candidate]:
    """Candidates for a clip, each with its coverage, best first."""
    results: dict[int, Candidate] = {}
    exact: set[int] = set()
    if query.sha256 is not None:
        exact = {h.key for h in index.search(Signal.SHA256.value, [query.sha256.value], 0)}
    if len(query.codes):
        hits = index.search(
            Signal.PDQ.value,
            [bytes(row) for row in query.codes],
            policy.pdq_review,
            exact_distance=policy.exact_distance,
        )
        frames_hit: dict[int, set[int]] = {}
        for hit in hits:
            frames_hit.setdefault(hit.key, set()).add(int(query.frame[hit.query]))
        ranked = sorted(frames_hit, key=lambda k: -len(frames_hit[k]))[:MAX_CANDIDATES]
        for item_id, frames in load(sorted(set(ranked) | exact)).items():
            candidate = compare(item_id, query, frames, policy)
            if candidate is not None:
                results[item_id] = candidate
    for item_id in exact:
        # The same file: a block whatever the frames say; their coverage says where.
        found = results.get(item_id)
        results[item_id] = Candidate(
            item_id,
            Evidence.SHA256,
            0,
            Transform.ORIGINAL,
            Decision.BLOCK,
            found.coverage if found is not None else Coverage(1.0, 1.0, _whole(query.times), None),
        )
    if index.local is not None and query.local:
        return best_per_item([*results.values(), *search_local(index.local, query, policy)])
    return sorted(results.values(), key=Candidate.sort_key)


def search_local(index: LocalIndex, query: ClipQuery, policy: MatchPolicy) -> list[Candidate]:
    """Candidates of the local tier: each of the upload's keyframes with local
    features searched as a still is (:func:`matching.local.verified`).

    An item blocks as a clip does on hashes: strongly verified in
    ``clip_min_frames`` keyframes (fewer when the upload has fewer) covering
    ``clip_block_share`` of the upload's time or of the item's (its entries'
    times; an item that is a still is all or nothing). Anything else verified
    is a review.
    """
    times = [k.at for k in query.local]
    hits: dict[int, list[tuple[int, int, Candidate]]] = defaultdict(list)
    limit = policy.local_keyframe_candidates
    for i, keyframe in enumerate(query.local):
        for found, match in verified(index, keyframe.features, keyframe.frame, policy, limit):
            hits[found.key].append((i, found.slot, as_candidate(found.key, match)))
    out: list[Candidate] = []
    for item_id, found_in in hits.items():
        # An entry replaced since the search (the change feed re-adding the item)
        # is no longer among the item's: it still counts for the upload's side.
        item_times = index.times(item_id)
        position = {slot: j for j, slot in enumerate(item_times)}
        strong = np.zeros(len(times), np.bool_)
        seen = np.zeros(len(times), np.bool_)
        item_strong = np.zeros(len(position), np.bool_)
        item_seen = np.zeros(len(position), np.bool_)
        for i, slot, c in found_in:
            j = position.get(slot)
            seen[i] = True
            if j is not None:
                item_seen[j] = True
            if c.decision is Decision.BLOCK:
                strong[i] = True
                if j is not None:
                    item_strong[j] = True
        upload_share = _share(times, strong)
        item_share = _share(list(item_times.values()), item_strong)
        enough = int(strong.sum()) >= min(policy.clip_min_frames, len(times))
        covered = max(upload_share, item_share) >= policy.clip_block_share
        best = min((c for _, _, c in found_in), key=Candidate.sort_key)
        turns = Counter(c.transform for _, _, c in found_in if c.decision is Decision.BLOCK)
        out.append(
            replace(
                best,
                decision=Decision.BLOCK if enough and covered else Decision.REVIEW,
                transform=turns.most_common(1)[0][0] if turns else best.transform,
                coverage=Coverage(
                    round(upload_share, 4),
                    round(item_share, 4),
                    _span(times, strong if strong.any() else seen),
                    _span(list(item_times.values()), item_strong if strong.any() else item_seen),
                ),
            )
        )
    return sorted(out, key=Candidate.sort_key)


def _whole(times: Sequence[float]) -> tuple[float, float] | None:
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
    upload_share = _share(query.times, matched)
    item_share = _share(item.times, found)
    # A keyframe matched strongly may decide alone when either clip has one
    # keyframe; one matched by a band needs company.
    enough = (
        int(strong.any(axis=1).sum()) >= min(policy.clip_min_frames, nq, ni)
        or int(matched.sum()) >= policy.clip_min_frames
    )
    covered = max(upload_share, item_share) >= policy.clip_block_share
    decision = Decision.BLOCK if covered and enough else Decision.REVIEW

    # Report the closest whole-picture distance, and the orientation most
    # keyframes matched through rather than one lucky frame's.
    by_whole = np.where(
        (query.part == Part.WHOLE)[:, None] & (item.part == Part.WHOLE)[None, :], distances, FAR
    )
    row, col = np.unravel_index(int(by_whole.argmin()), by_whole.shape)
    limit = max(int(by_whole.min()), policy.pdq_block)
    votes = Counter(query.applied[int(i)] for i in np.flatnonzero(by_whole.min(axis=1) <= limit))
    applied = votes.most_common(1)[0][0] if votes else query.applied[int(row)]
    return Candidate(
        item_id=item_id,
        signal=Evidence.PDQ,
        distance=int(by_whole[row, col]),
        transform=inverse(applied),
        decision=decision,
        coverage=Coverage(
            upload_share=round(upload_share, 4),
            item_share=round(item_share, 4),
            upload_span=_span(query.times, matched if matched.any() else near),
            item_span=_span(
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
    distances = _distances(_matrix(codes), item.codes)
    distances[:, item.part != Part.WHOLE] = FAR
    item_best = _per_frame(distances.min(axis=0), item.frame, len(item.times))
    found = item_best <= policy.pdq_block
    if not found.any():
        return None
    return Coverage(
        upload_share=1.0,
        item_share=round(float(found.mean()), 4),
        upload_span=None,
        item_span=_span(item.times, found),
    )
