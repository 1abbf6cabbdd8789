"""Video matching quality: what Hashwall decides for re-uploads of real videos.

Source videos are made from the photos of a folder (:mod:`testkit.videos`: one
photo per 4-5 s shot with a slow zoom and pan, hard cuts, 25 fps, 480x270 or
640x360, H.264 CRF 20), each from its own photos while the folder lasts; then
photos are reused, only within the registered or within the unregistered half,
in a new order and with new motion. Every other source is registered into an
in-memory index as ``POST /register`` stores it (``hash_video`` with the
registration limits and local features, ``clip_hashes``, each distinct hash
once, ``index.add``, and ``clip_features`` into the local tier), and a second
index holds a 10 s excerpt of each registered source instead.
Every edit is applied to every source's decoded file, encoded again and
decided by the service's own logic (``hash_video`` with the check limits,
``matching.clip_frames.clip_query``, ``search_clip``, ``matching.decide``),
with frames loaded from the stored hashes as ``item_frames`` groups them, and
again without the local tier's candidates (the global hashes alone).

A vPDQ-style baseline runs on the same files in the same run: OpenCV's
``VideoCapture`` reads every frame, one frame per second (every
``round(fps)``-th) is hashed with the reference PDQ (``hashing.hashers.pdq``)
at full size, frames of quality < 50 are dropped and exact repeats removed, and
an item matches when >= 80% of the query's frames are within 31 bits of one of
its frames (vPDQ's query-match threshold; compared-match 0%). No flips, no
border trimming.

Then the distribution of ``max(upload_share, item_share)`` for the right item
and the best wrong item, a sweep of ``video_block_share`` and
``video_min_frames``, and a recommendation.

    .venv/bin/python -m bench.video_robustness [PHOTO_DIR] [--sources 12]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import faiss
import numpy as np
import numpy.typing as npt

import matching
from app.repository.features import clip_features, entry_from
from app.repository.hashes import NewHash, clip_hashes
from app.services.index_store import new_index
from app.services.rules import clip_limits
from app.settings import Settings
from hashing.clip import ClipHashes, ClipLimits
from hashing.hashers import PDQ_MIN_QUALITY, pdq, sha256
from hashing.media import video_container
from hashing.types import Signal, u8
from hashing.video import hash_video
from index import HashIndex
from matching import Candidate, Decision, ItemFacts
from matching.clip import search_clip
from matching.clip_frames import PDQ_BYTES, ClipQuery, ItemFrames, Part, clip_query, item_frames_of
from testkit import videos
from testkit.videos import Video

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "corpus-dev"
SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

FPS = 25.0
SIZES = ((480, 270), (640, 360))
SHOT_SECONDS = (4.0, 4.5, 5.0)
SOURCE_CRF = 20
"""The registered file's quality; an edit is written at CRF 23 unless it says otherwise."""
EXCERPT_SECONDS = 10.0
INTRO_SECONDS = 3.0

VPDQ_DISTANCE = 31
"""vPDQ's default: a frame matches within 31 of 256 PDQ bits."""
VPDQ_QUERY_MATCH = 0.8
VPDQ_COMPARED_MATCH = 0.0

SHARE_MARGIN = 0.1
"""A recommended share stays this far above the best partial-overlap or unrelated score."""
SWEEP_SHARES = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SWEEP_FRAMES = (1, 2, 3, 4)

Codes = npt.NDArray[np.uint8]
"""PDQ hashes as rows of 32 bytes."""


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def pct(count: int, total: int) -> str:
    return f"{100 * count / total:.0f}%" if total else "-"


def frac(count: int, total: int) -> str:
    return f"{count}/{total}"


# ---------------------------------------------------------------- sources


@dataclass(frozen=True, slots=True)
class Source:
    number: int
    photos: tuple[str, ...]
    size: tuple[int, int]
    shot_seconds: float
    registered: bool

    @property
    def seconds(self) -> float:
        return len(self.photos) * self.shot_seconds

    @property
    def label(self) -> str:
        return f"s{self.number:02d}"


def list_photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)


def plan_sources(names: Sequence[str], count: int, seed: int) -> list[Source]:
    """``count`` sources, even-numbered ones registered, 5 or 6 photos each.

    The photos are shuffled and split into a registered and an unregistered pool
    in proportion to what each half needs, so the halves never share a photo.
    Within a half each source takes the next photos of its pool; a pool that
    runs out is reshuffled and reused (never twice in one source).
    """
    rng = np.random.default_rng(seed)
    counts = [5 + (i // 2) % 2 for i in range(count)]
    need = [sum(c for i, c in enumerate(counts) if (i % 2 == 0) is reg) for reg in (True, False)]
    order = [names[i] for i in rng.permutation(len(names))]
    cut = round(len(order) * need[0] / max(1, sum(need)))
    pools = {True: order[:cut], False: order[cut:]}
    if min(len(p) for p in pools.values()) < max(counts):
        raise SystemExit(f"{len(names)} photos are too few for {count} sources")
    queues: dict[bool, list[str]] = {True: [], False: []}
    sources = []
    for i in range(count):
        registered = i % 2 == 0
        queue = queues[registered]
        picked: list[str] = []
        while len(picked) < counts[i]:
            if not queue:
                pool = pools[registered]
                queue += [pool[j] for j in rng.permutation(len(pool))]
            name = queue.pop(0)
            if name in picked:
                queue.append(name)
                continue
            picked.append(name)
        sources.append(
            Source(
                number=i,
                photos=tuple(picked),
                size=SIZES[(i // 4) % 2],
                shot_seconds=SHOT_SECONDS[i % 3],
                registered=registered,
            )
        )
    return sources


def render(source: Source, folder: Path, path: Path) -> Path:
    photos = [videos.load_rgb(folder / name) for name in source.photos]
    video = videos.make_video(
        photos, shot_seconds=source.shot_seconds, fps=FPS, size=source.size, seed=source.number
    )
    return videos.write(video, path, "libx264", crf=SOURCE_CRF)


def excerpt(video: Video) -> Video:
    """The middle :data:`EXCERPT_SECONDS` of a clip."""
    start = max(0.0, (video.seconds - EXCERPT_SECONDS) / 2)
    return videos.trim(video, start, start + EXCERPT_SECONDS)


# ---------------------------------------------------------------- Hashwall


def hash_file(path: Path, limits: ClipLimits, *, register: bool) -> ClipHashes:
    """``hash_upload`` of a video file: container from its first bytes, SHA-256 of
    all, local features on some keyframes (an item's for a registration)."""
    data = path.read_bytes()
    container = video_container(data[:512])
    if container is None:
        raise ValueError(f"{path} is no video container Hashwall knows")
    return hash_video(path, container, sha256(data), limits, local=True, item=register)


def frames_of(stored: Sequence[NewHash]) -> ItemFrames:
    """What ``app.repository.hashes.item_frames`` loads for an item, from its rows."""
    return item_frames_of((h.value.signal.value, h.value.value, h.at, h.variant) for h in stored)


@dataclass(slots=True)
class Registry:
    """An in-memory stand-in for the items table and the index of one service."""

    index: HashIndex = field(default_factory=new_index)
    frames: dict[int, ItemFrames] = field(default_factory=dict)
    quality: dict[int, int | None] = field(default_factory=dict)
    keyframes: dict[int, int] = field(default_factory=dict)

    def load(self, item_ids: Sequence[int]) -> dict[int, ItemFrames]:
        return {k: self.frames[k] for k in item_ids if k in self.frames}

    def decide(
        self, query: ClipQuery, settings: Settings, *, local: bool = True
    ) -> tuple[Decision, list[Candidate]]:
        """What ``app.services.checking.check_upload`` decides, without the database;
        without ``local``, as the service decided before its local tier."""
        if not local:
            query = replace(query, local=[])
        verdict = matching.decide(
            search_clip(self.index, query, self.load, settings.match_policy()),
            self.facts(),
            settings.match_policy(),
        )
        return verdict.decision, verdict.candidates

    def facts(self) -> dict[int, ItemFacts]:
        return {k: ItemFacts("other", q, clip=True) for k, q in self.quality.items()}

    def register(self, item: int, clip: ClipHashes, settings: Settings) -> int | None:
        """What ``POST /register`` does with a video: the item it duplicates (an
        active item that blocks it and holds most of it), or None after storing
        each distinct hash once (the first keyframe showing it keeps it)."""
        policy = settings.match_policy()
        found = search_clip(self.index, clip_query(clip), self.load, policy)
        for c in matching.decide(found, self.facts(), policy).candidates:
            if matching.holds(c, policy):
                return c.item_id
        unique: dict[tuple[Signal, bytes], NewHash] = {}
        for h in clip_hashes(clip):
            unique.setdefault((h.value.signal, h.value.value), h)
        for h in unique.values():
            self.index.add(h.value.signal.value, h.value.value, item)
        if self.index.local is not None:
            for features in clip_features(clip):
                self.index.local.add(item, entry_from(features))
        self.frames[item] = frames_of(list(unique.values()))
        self.quality[item] = clip.quality
        self.keyframes[item] = len(clip.keyframes)
        return None


def matched_keyframes(query: ClipQuery, item: ItemFrames, block: int) -> tuple[int, int]:
    """Upload keyframes within ``block`` bits of the item, counted as
    ``app.services.clips`` counts them for ``video_min_frames``: (on the whole
    picture, on the whole picture or a band against the same band)."""
    if not len(query.codes) or not len(item.codes):
        return 0, 0
    close = hamming(query.codes, item.codes) <= block
    close &= query.part[:, None] == item.part[None, :]
    whole = close & (query.part == Part.WHOLE)[:, None]
    return (
        len(set(query.frame[whole.any(axis=1)].tolist())),
        len(set(query.frame[close.any(axis=1)].tolist())),
    )


# ---------------------------------------------------------------- vPDQ-style baseline


def hamming(a: Codes, b: Codes) -> npt.NDArray[np.intp]:
    """Bits that differ between every row of ``a`` and every row of ``b``."""
    counts: npt.NDArray[np.intp] = np.bitwise_count(a[:, None, :] ^ b[None, :, :]).sum(
        axis=2, dtype=np.intp
    )
    return counts


def vpdq_codes(path: Path) -> Codes:
    """vPDQ-style hashes of a file: OpenCV reads every frame, every ``round(fps)``-th
    is hashed with PDQ at full size; quality < 50 dropped, exact repeats removed."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    fps = capture.get(cv2.CAP_PROP_FPS) or FPS
    step = max(1, round(fps))
    kept: dict[bytes, None] = {}
    number = 0
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            if number % step == 0:
                value, quality = pdq(u8(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
                if quality >= PDQ_MIN_QUALITY:
                    kept[value.value] = None
            number += 1
    finally:
        capture.release()
    if not kept:
        return np.zeros((0, PDQ_BYTES), np.uint8)
    return np.frombuffer(b"".join(kept), np.uint8).reshape(-1, PDQ_BYTES)


def vpdq_matches(query: Codes, gallery: dict[int, Codes]) -> set[int]:
    """Items whose frames hold >= 80% of the query's frames (and >= 0% of theirs)."""
    found = set()
    for item, codes in gallery.items():
        if not len(query) or not len(codes):
            continue
        close = hamming(query, codes) <= VPDQ_DISTANCE
        query_match = float(close.any(axis=1).mean())
        compared_match = float(close.any(axis=0).mean())
        if query_match >= VPDQ_QUERY_MATCH and compared_match >= VPDQ_COMPARED_MATCH:
            found.add(item)
    return found


# ---------------------------------------------------------------- edits


@dataclass(frozen=True, slots=True)
class Edit:
    name: str
    what: str
    change: Callable[[Video, Video, int], Video] | None
    """From the decoded source, an unrelated intro and the source's number (which
    draws the edit's layout) to the upload's frames; None: the upload is the
    source file itself."""
    codec: str = "libx264"
    crf: int = 23
    against_excerpts: bool = False
    """Checked against the index of registered excerpts instead of whole videos."""


EDITS = (
    Edit("h264_crf32", "H.264 re-encode at CRF 32", lambda v, _intro, _seed: v, crf=32),
    Edit(
        "vp9",
        "VP9 in WebM (libvpx-vp9 CRF 33, realtime)",
        lambda v, _intro, _seed: v,
        codec="libvpx-vp9",
    ),
    Edit("scale_50", "scaled to 50%", lambda v, _intro, _seed: videos.scale(v, 0.5)),
    Edit("scale_25", "scaled to 25%", lambda v, _intro, _seed: videos.scale(v, 0.25)),
    Edit(
        "trim_20",
        "first and last 20% cut",
        lambda v, _intro, _seed: videos.trim(v, 0.2 * v.seconds, 0.8 * v.seconds),
    ),
    Edit(
        "letterbox",
        "scaled into black bars (12% top and bottom) and grey sides (6%)",
        lambda v, _intro, _seed: videos.letterbox(v),
    ),
    Edit("flip", "mirrored left to right", lambda v, _intro, _seed: videos.flip(v)),
    Edit("fps_12", "25 -> 12 frames a second", lambda v, _intro, _seed: videos.frame_rate(v, 12)),
    Edit(
        "text_overlay",
        "caption bar across the lower third and a handle in a corner",
        lambda v, _intro, _seed: videos.text_overlay(v),
    ),
    Edit(
        "intro_3s",
        f"{INTRO_SECONDS:g} s of an unrelated unregistered shot spliced before",
        lambda v, intro, _seed: videos.splice(intro, v),
    ),
    Edit(
        "excerpt_10s",
        f"the middle {EXCERPT_SECONDS:g} s, checked against the whole registered video",
        lambda v, _intro, _seed: excerpt(v),
    ),
    Edit(
        "reframe_9x16",
        "9:16 portrait reframe over a blurred, darkened enlarged copy (canvas 1.5-2x the "
        "height, the clip 90-100% of its width, placed 30-55% down)",
        lambda v, _intro, seed: videos.reframe_portrait(v, seed),
    ),
    Edit(
        "picture_in_picture",
        "the clip as a 40-55% inset with a light border in a corner (drawn per source) over "
        "an unrelated unregistered shot, looped",
        lambda v, intro, seed: videos.picture_in_picture(v, intro, seed),
    ),
    Edit(
        "crop70_mirror",
        "a crop keeping 70% of the area (position drawn per source), mirrored, scaled back",
        lambda v, _intro, seed: videos.crop_mirror(v, 0.7, seed),
    ),
    Edit(
        "whole_vs_excerpt",
        f"the source file as is, checked against its registered middle {EXCERPT_SECONDS:g} s",
        None,
        against_excerpts=True,
    ),
)


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class Probe:
    """One edited upload, kept so other settings can decide it again."""

    source: Source
    edit: str
    query: ClipQuery
    registry: Registry
    own: int | None
    """The source's item in ``registry``; None for an unregistered source."""
    related: frozenset[int]
    """Other items showing one of the source's photos: neither right nor false."""

    def judge(self, settings: Settings, *, local: bool = True) -> Judged:
        decision, candidates = self.registry.decide(self.query, settings, local=local)
        blocked = {c.item_id for c in candidates if c.decision is Decision.BLOCK}
        return Judged(
            decision,
            candidates,
            right=self.own in blocked,
            wrong=bool(blocked - self.related - {self.own}),
            related=bool(blocked & self.related),
        )


@dataclass(frozen=True, slots=True)
class Judged:
    decision: Decision
    candidates: list[Candidate]
    right: bool
    """The source's own item is blocked."""
    wrong: bool
    """An item sharing no photo with the source is blocked."""
    related: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    probe: Probe
    decision: Decision
    right_block: bool
    wrong_block: bool
    related_block: bool
    right_score: float | None
    """max(upload_share, item_share) of the own item; 0 without a candidate; None
    for an unregistered source."""
    right_frames: tuple[int, int] | None
    """Upload keyframes matching the own item (whole picture, any part)."""
    wrong_score: float
    """The best score of an unrelated item; 0 when none is a candidate."""
    wrong_frames: tuple[int, int]
    """Upload keyframes matching the unrelated item with the most."""
    related_score: float | None
    """The best score of an item sharing a shot; None when no item does."""
    closest: tuple[int, int]
    """Fewest bits between any hash the check searched and any hash of an unrelated
    item: (whole pictures, like bands)."""
    keyframes: int
    """Keyframes the check hashed."""
    vpdq_right: bool
    vpdq_wrong: bool
    global_right: bool = False
    """Blocked with the own item by the global hashes alone (no local tier)."""
    global_wrong: bool = False


def score(candidate: Candidate) -> float:
    coverage = candidate.coverage
    if coverage is None:
        return 1.0  # a SHA-256 match
    return max(coverage.upload_share, coverage.item_share)


def closest_unrelated(probe: Probe) -> tuple[int, int]:
    """(whole, band) fewest bits from the query to any unrelated item's hashes."""
    skip = probe.related | {probe.own}
    best = [Signal.PDQ.bits, Signal.PDQ.bits]
    for item, frames in probe.registry.frames.items():
        if item in skip or not len(frames.codes) or not len(probe.query.codes):
            continue
        d = hamming(probe.query.codes, frames.codes)
        same = probe.query.part[:, None] == frames.part[None, :]
        whole = same & (probe.query.part == Part.WHOLE)[:, None]
        band = same & ~whole
        if whole.any():
            best[0] = min(best[0], int(d[whole].min()))
        if band.any():
            best[1] = min(best[1], int(d[band].min()))
    return best[0], best[1]


def outcome(probe: Probe, settings: Settings, vpdq_found: set[int]) -> Outcome:
    judged = probe.judge(settings)
    alone = probe.judge(settings, local=False)
    candidates = judged.candidates
    block = settings.pdq_block_distance
    own = [c for c in candidates if c.item_id == probe.own]
    others = [c for c in candidates if c.item_id != probe.own and c.item_id not in probe.related]
    related = [c for c in candidates if c.item_id in probe.related]
    frames = probe.registry.frames
    right_frames = None
    if probe.own is not None:
        right_frames = matched_keyframes(probe.query, frames[probe.own], block)
    wrong_frames = max(
        (matched_keyframes(probe.query, frames[c.item_id], block) for c in others),
        key=lambda f: (f[1], f[0]),
        default=(0, 0),
    )
    return Outcome(
        probe=probe,
        decision=judged.decision,
        right_block=judged.right,
        wrong_block=judged.wrong,
        related_block=judged.related,
        right_score=None if probe.own is None else (score(own[0]) if own else 0.0),
        right_frames=right_frames,
        wrong_score=max((score(c) for c in others), default=0.0),
        wrong_frames=wrong_frames,
        related_score=max((score(c) for c in related), default=0.0) if probe.related else None,
        closest=closest_unrelated(probe),
        keyframes=len(probe.query.times),
        vpdq_right=probe.own in vpdq_found,
        vpdq_wrong=bool(vpdq_found - probe.related - {probe.own}),
        global_right=alone.right,
        global_wrong=alone.wrong or (probe.own is None and alone.right),
    )


def related_items(source: Source, sources: Sequence[Source], item_of: dict[int, int]) -> set[int]:
    shared = set(source.photos)
    return {
        item_of[s.number]
        for s in sources
        if s.number != source.number and s.number in item_of and shared & set(s.photos)
    }


def intro_for(source: Source, sources: Sequence[Source], folder: Path) -> Video:
    """A shot of a photo of the unregistered half that is not in ``source``."""
    pool = sorted({p for s in sources if not s.registered for p in s.photos} - set(source.photos))
    if not pool:
        raise SystemExit("no unregistered photo is left for the intro")
    name = pool[source.number % len(pool)]
    return videos.make_video(
        [videos.load_rgb(folder / name)],
        shot_seconds=INTRO_SECONDS,
        fps=FPS,
        size=source.size,
        seed=1000 + source.number,
    )


# ---------------------------------------------------------------- report


def q(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    return float(np.percentile(np.asarray(values), p, method="inverted_cdf"))


def edit_table(rows: dict[str, list[Outcome]]) -> list[str]:
    everything = [o for r in rows.values() for o in r]
    n_reg = sum(o.probe.own is not None for o in rows[next(iter(rows))])
    n_all = len(rows[next(iter(rows))])
    lines = [
        f"Each edit is applied to the {n_reg} registered and the {n_all - n_reg} unregistered "
        f"sources. Blocked and review count the registered sources' uploads (of {n_reg}): "
        "blocked with the right item, and decided review (no block at all). False blocks "
        "count unregistered sources' uploads blocked at all plus registered ones blocked with "
        f"an item that shares no photo with them (of {n_all}).",
        "",
        "| edit | Hashwall blocked | review | false blocks | unregistered sent to review "
        "| global hashes alone blocked | false | vPDQ-style blocked | vPDQ false "
        "| keyframes per check (median) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, outs in [*rows.items(), ("**all edits**", everything)]:
        reg = [o for o in outs if o.probe.own is not None]
        unreg = [o for o in outs if o.probe.own is None]
        block = sum(o.right_block for o in reg)
        review = sum(o.decision is Decision.REVIEW for o in reg)
        false = sum(o.wrong_block or (o.probe.own is None and o.right_block) for o in outs)
        alone = sum(o.global_right for o in reg)
        base = sum(o.vpdq_right for o in reg)
        base_false = sum(o.vpdq_wrong for o in outs)
        cells = [
            name,
            f"{frac(block, len(reg))} ({pct(block, len(reg))})",
            frac(review, len(reg)),
            frac(false, len(outs)),
            frac(sum(o.decision is Decision.REVIEW for o in unreg), len(unreg)),
            f"{frac(alone, len(reg))} ({pct(alone, len(reg))})",
            frac(sum(o.global_wrong for o in outs), len(outs)),
            f"{frac(base, len(reg))} ({pct(base, len(reg))})",
            frac(base_false, len(outs)),
            f"{q([o.keyframes for o in outs], 50):.0f}",
        ]
        if outs is everything:
            cells[1], cells[7] = f"**{cells[1]}**", f"**{cells[7]}**"
        lines.append("| " + " | ".join(cells) + " |")
    related = sum(o.related_block for o in everything)
    if related:
        lines += [
            "",
            f"{related} uploads also blocked another registered source that shows one of the "
            "same photos (reused photos): right, and counted neither way.",
        ]
    return lines


BINS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def score_tables(rows: dict[str, list[Outcome]], settings: Settings) -> list[str]:
    everything = [o for r in rows.values() for o in r]
    right = [o.right_score for o in everything if o.right_score is not None]
    shared = [o.related_score for o in everything if o.related_score is not None]
    wrong = [o.wrong_score for o in everything if o.wrong_score > 0]
    lines = [
        "Score = max(upload_share, item_share) of a candidate (0 when the item is no "
        f"candidate: none of its keyframes within {settings.pdq_review_distance} bits). Right "
        f"item: every registered source's upload ({len(right)}). Item sharing shots: uploads "
        "of a source that shares 1 or 2 photos with another registered source (photos reused "
        f"once the folder ran out), best such item ({len(shared)}), the partial overlap the "
        "share is there to send to review. Best unrelated item: every upload that had one as "
        f"a candidate at all ({len(wrong)} of {len(everything)}).",
        "",
        "| score in | right item | item sharing 1-2 shots | best unrelated item |",
        "|---|---|---|---|",
    ]
    for lo, hi in zip(BINS, BINS[1:], strict=False):
        last = hi == BINS[-1]

        def inside(x: float, lo: float = lo, hi: float = hi, last: bool = last) -> bool:
            return lo <= x < hi or (last and x == hi)

        cells = [
            f"[{lo:.1f}, {hi:.1f}{']' if last else ')'}",
            str(sum(inside(x) for x in right)),
            str(sum(inside(x) for x in shared)),
            str(sum(inside(x) for x in wrong)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Per edit: the right item's score and the upload keyframes matching it within "
        f"{settings.pdq_block_distance} bits (whole picture / any part: whole or a band), the "
        "best score of an item sharing shots, and for every upload the fewest bits from any "
        "hash it searched to any hash of an unrelated item (whole pictures / bands).",
        "",
        "| edit | right score min | p50 | right keyframes matched, min (whole / any) "
        "| sharing shots: score max | closest unrelated, min (whole / band) | p50 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, outs in [*rows.items(), ("**all edits**", everything)]:
        scores = [o.right_score for o in outs if o.right_score is not None]
        frames = [o.right_frames for o in outs if o.right_frames is not None]
        related = [o.related_score for o in outs if o.related_score is not None]
        cells = [
            name,
            f"{min(scores):.2f}",
            f"{q(scores, 50):.2f}",
            f"{min(f[0] for f in frames)} / {min(f[1] for f in frames)}",
            f"{max(related):.2f}" if related else "-",
            f"{min(o.closest[0] for o in outs)} / {min(o.closest[1] for o in outs)}",
            " / ".join(f"{q([o.closest[k] for o in outs], 50):.0f}" for k in (0, 1)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


@dataclass(frozen=True, slots=True)
class Cell:
    share: float
    frames: int
    right: int
    shared: int
    """Uploads that blocked an item they share only 1 or 2 shots with."""
    false: int


def sweep(probes: Sequence[Probe], settings: Settings) -> list[Cell]:
    cells = []
    for share in SWEEP_SHARES:
        for frames in SWEEP_FRAMES:
            trial = settings.model_copy(
                update={"video_block_share": share, "video_min_frames": frames}
            )
            right = shared = false = 0
            for probe in probes:
                judged = probe.judge(trial)
                shared += judged.related
                if probe.own is None:
                    false += judged.right or judged.wrong
                else:
                    right += judged.right
                    false += judged.wrong
            cells.append(Cell(share, frames, right, shared, false))
    return cells


def sweep_table(cells: Sequence[Cell], n_reg: int, n_all: int, settings: Settings) -> list[str]:
    lines = [
        f"Right blocks (of {n_reg}) / blocks of an item sharing 1-2 shots / false blocks (of "
        f"{n_all}) over every edit, decided again with other values (the rest of the settings "
        "as above):",
        "",
        "| video_block_share | " + " | ".join(f"video_min_frames={f}" for f in SWEEP_FRAMES) + " |",
        "|---|" + "---|" * len(SWEEP_FRAMES),
    ]
    for share in SWEEP_SHARES:
        row = [c for c in cells if c.share == share]
        texts = []
        for c in row:
            text = f"{c.right} / {c.shared} / {c.false}"
            if share == settings.video_block_share and c.frames == settings.video_min_frames:
                text = f"**{text}**"
            texts.append(text)
        lines.append(f"| {share:g} | " + " | ".join(texts) + " |")
    return lines


def recommendation(
    cells: Sequence[Cell], outcomes: Sequence[Outcome], settings: Settings
) -> list[str]:
    """Of the swept values that block neither an unrelated item nor one sharing only
    a shot or two, with a share at least :data:`SHARE_MARGIN` above the best such
    score, those that block the most right items; of them the current values, or
    the one whose share lies nearest the middle of the gap between that score and
    the lowest right score that blocked."""
    wrong = max((o.wrong_score for o in outcomes), default=0.0)
    wrong_frames = max((o.wrong_frames[1] for o in outcomes), default=0)
    shared = max((o.related_score or 0.0 for o in outcomes), default=0.0)
    closest = min(o.closest[0] for o in outcomes), min(o.closest[1] for o in outcomes)
    right = [o.right_score for o in outcomes if o.right_score is not None]
    blocked = [o.right_score for o in outcomes if o.right_score is not None and o.right_block]
    right_frames = [o.right_frames[0] for o in outcomes if o.right_frames and o.right_block]
    lines = [
        f"The best unrelated item scored {wrong:.2f} at most, with {wrong_frames} upload "
        f"keyframes within {settings.pdq_block_distance} bits (any part); no hash any check "
        f"searched came closer than {closest[0]} bits to an unrelated item's whole-picture "
        f"hash, or {closest[1]} to a band. An item sharing 1-2 shots scored {shared:.2f} at "
        f"most. The right item scored below {settings.video_block_share:g} for "
        f"{sum(x < settings.video_block_share for x in right)} of {len(right)} uploads"
        + (
            f"; the lowest score that blocked was {min(blocked):.2f}, and every blocked "
            f"upload matched at least {min(right_frames)} keyframe(s) on the whole picture"
            if blocked and right_frames
            else ""
        )
        + ".",
        "",
    ]
    floor = max(wrong, shared) + SHARE_MARGIN
    safe = [c for c in cells if c.false == 0 and c.shared == 0 and c.share >= floor - 1e-9]
    if not safe:
        return [*lines, f"No swept value blocks nothing wrong with a share >= {floor:.2f}."]
    best = max(c.right for c in safe)
    plateau = [c for c in safe if c.right == best]
    current = next(
        (
            c
            for c in plateau
            if c.share == settings.video_block_share and c.frames == settings.video_min_frames
        ),
        None,
    )
    middle = (floor - SHARE_MARGIN + (min(blocked) if blocked else 1.0)) / 2
    pick = current or min(
        plateau,
        key=lambda c: (abs(c.share - middle), abs(c.frames - settings.video_min_frames)),
    )
    lines += [
        f"Blocking no unrelated item and no partial overlap, with a share of at least "
        f"{floor:.2f} ({SHARE_MARGIN:g} above the best partial or unrelated score), at most "
        f"{best} right items are blocked, by {len(plateau)} of the {len(cells)} swept pairs "
        "(shares "
        f"{min(c.share for c in plateau):g} to {max(c.share for c in plateau):g}, "
        f"video_min_frames {min(c.frames for c in plateau)} to "
        f"{max(c.frames for c in plateau)}); the middle of the gap between the partial or "
        f"unrelated scores and the blocked right scores is {middle:.2f}.",
        "",
    ]
    if current is not None:
        lines.append(
            f"**Recommended: keep video_block_share={settings.video_block_share:g} and "
            f"video_min_frames={settings.video_min_frames}.**"
        )
    else:
        lines.append(
            f"**Recommended: video_block_share={pick.share:g}, video_min_frames={pick.frames}** "
            f"({pick.right} / {pick.shared} / {pick.false}; the current values are not among "
            "the best)."
        )
    return lines


# ---------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m bench.video_robustness",
        description="Video matching quality of Hashwall vs a vPDQ-style baseline.",
    )
    parser.add_argument(
        "photos",
        nargs="?",
        type=Path,
        default=DEFAULT_PHOTOS,
        help="folder of photos (default: ../shared/corpus-dev beside the repository)",
    )
    parser.add_argument(
        "--sources", type=int, default=12, help="source videos, half registered (default: 12)"
    )
    parser.add_argument("--seed", type=int, default=0, help="photo order (default: 0)")
    parser.add_argument("--video-block-share", type=float, default=defaults.video_block_share)
    parser.add_argument("--video-min-frames", type=int, default=defaults.video_min_frames)
    parser.add_argument("--pdq-block-distance", type=int, default=defaults.pdq_block_distance)
    parser.add_argument(
        "--edits", default="", help="comma-separated subset of the edits (default: all)"
    )
    parser.add_argument("--no-sweep", action="store_true", help="skip the threshold sweep")
    args = parser.parse_args(argv)
    known = {e.name: e for e in EDITS}
    chosen = [e for e in args.edits.split(",") if e] or list(known)
    unknown = [e for e in chosen if e not in known]
    if unknown:
        parser.error(f"unknown edits: {', '.join(unknown)}; known: {', '.join(known)}")
    if args.sources < 4:
        parser.error("at least 4 sources are needed")
    edits = [known[e] for e in chosen]
    settings = Settings(
        video_block_share=args.video_block_share,
        video_min_frames=args.video_min_frames,
        pdq_block_distance=args.pdq_block_distance,
    )
    paths = list_photos(args.photos)
    names = [p.name for p in paths]

    # As the service's lifespan does.
    faiss.omp_set_num_threads(settings.faiss_threads)
    cv2.setNumThreads(1)
    started = time.perf_counter()
    sources = plan_sources(names, args.sources, args.seed)
    register_limits = clip_limits(settings, register=True)
    check_limits = clip_limits(settings)
    whole, excerpts = Registry(), Registry()
    item_of: dict[str, dict[int, int]] = {"whole": {}, "excerpt": {}}
    vpdq: dict[str, dict[int, Codes]] = {"whole": {}, "excerpt": {}}
    notes: list[str] = []
    rows: dict[str, list[Outcome]] = {e.name: [] for e in edits}
    probes: list[Probe] = []
    with tempfile.TemporaryDirectory(prefix="hashwall-video-bench-") as tmp:
        work = Path(tmp)
        files: dict[int, Path] = {}
        for source in sources:
            path = render(source, args.photos, work / f"{source.label}.mp4")
            files[source.number] = path
            if not source.registered:
                continue
            short = videos.write(
                excerpt(videos.read(path)),
                work / f"{source.label}-excerpt.mp4",
                "libx264",
                crf=SOURCE_CRF,
            )
            for kind, registry, file in (("whole", whole, path), ("excerpt", excerpts, short)):
                item = source.number + 1
                duplicate = registry.register(
                    item, hash_file(file, register_limits, register=True), settings
                )
                if duplicate is not None:
                    notes.append(
                        f"{source.label} ({kind}) registered as a duplicate of item {duplicate}"
                    )
                    item = duplicate
                else:
                    vpdq[kind][item] = vpdq_codes(file)
                item_of[kind][source.number] = item
            log(f"registered {source.label} ({time.perf_counter() - started:.0f} s)")

        for source in sources:
            decoded = videos.read(files[source.number])
            intro = intro_for(source, sources, args.photos)
            for edit in edits:
                kind = "excerpt" if edit.against_excerpts else "whole"
                registry = excerpts if edit.against_excerpts else whole
                if edit.change is None:
                    upload = files[source.number]
                else:
                    suffix = videos.PYAV_CODECS[edit.codec]
                    upload = videos.write(
                        edit.change(decoded, intro, source.number),
                        work / f"{source.label}-{edit.name}{suffix}",
                        edit.codec,
                        crf=edit.crf,
                    )
                probe = Probe(
                    source=source,
                    edit=edit.name,
                    query=clip_query(hash_file(upload, check_limits, register=False)),
                    registry=registry,
                    own=item_of[kind].get(source.number),
                    related=frozenset(related_items(source, sources, item_of[kind])),
                )
                found = vpdq_matches(vpdq_codes(upload), vpdq[kind])
                rows[edit.name].append(outcome(probe, settings, found))
                probes.append(probe)
                if upload != files[source.number]:
                    upload.unlink()
            log(f"checked {source.label} ({time.perf_counter() - started:.0f} s)")
    checked = time.perf_counter() - started
    everything = [o for r in rows.values() for o in r]
    n_reg = sum(s.registered for s in sources)
    cells = [] if args.no_sweep else sweep(probes, settings)
    elapsed = time.perf_counter() - started

    used = [p for s in sources for p in s.photos]
    seconds = [s.seconds for s in sources]
    out = [
        "### Video matching quality",
        "",
        f"Photos: `{args.photos}` ({len(names)} files; {len(set(used))} used in {len(used)} "
        f"shots, the registered and unregistered halves share none). {len(sources)} source "
        f"videos of {min(seconds):g} to {max(seconds):g} s (5 or 6 shots of "
        f"{', '.join(f'{x:g}' for x in SHOT_SECONDS)} s, {FPS:g} fps, "
        f"{' and '.join(f'{w}x{h}' for w, h in SIZES)}, H.264 CRF {SOURCE_CRF}); "
        f"{n_reg} registered. Uploads are written with H.264 CRF 23 unless the edit says "
        "otherwise.",
        "",
        f"Hashwall settings: pdq_block_distance={settings.pdq_block_distance}, "
        f"pdq_review_distance={settings.pdq_review_distance}, "
        f"video_block_share={settings.video_block_share:g}, "
        f"video_min_frames={settings.video_min_frames}, "
        f"video_register_motion_bits={settings.video_register_motion_bits}, "
        f"video_keyframe_interval={settings.video_keyframe_interval:g}. Index of whole videos: "
        f"{whole.index.sizes()} distinct hashes, "
        f"{np.mean(list(whole.keyframes.values())):.0f} keyframes per item; index of "
        f"{EXCERPT_SECONDS:g} s excerpts: {excerpts.index.sizes()}.",
        "",
        "vPDQ-style baseline: OpenCV VideoCapture reads every frame, PDQ of every "
        "round(fps)-th frame at full size, quality >= 50, exact repeats removed; an item "
        f"matches when >= {VPDQ_QUERY_MATCH:.0%} of the query's frames are within "
        f"{VPDQ_DISTANCE} bits of one of its frames (compared-match >= "
        f"{VPDQ_COMPARED_MATCH:.0%}).",
        "",
        "| edit | what the upload is |",
        "|---|---|",
        *(f"| {e.name} | {e.what} |" for e in edits),
        "",
    ]
    if notes:
        out += ["Registration notes: " + "; ".join(notes), ""]
    out += edit_table(rows)
    out += ["", "### Scores behind video_block_share and video_min_frames", ""]
    out += score_tables(rows, settings)
    if cells:
        out += [""] + sweep_table(cells, n_reg * len(edits), len(everything), settings)
        out += [""] + recommendation(cells, everything, settings)
    out += [
        "",
        f"({len(everything)} uploads; sources, registration and checks in {checked:.0f} s, "
        f"{elapsed:.0f} s in all)",
    ]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
