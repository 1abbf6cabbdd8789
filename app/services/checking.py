"""Checking an upload, or hashes made on the platform's side, against the
registered items: one use case each, deciding and logging in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy.orm import Session

from app.auth import Principal
from app.failures import require_hash_count
from app.models import Clock
from app.observability import MATCHES
from app.repository.checks import log_check
from app.repository.items import ItemStore
from app.services.rules import MediaRules
from app.services.uploads import hash_upload, media_type
from hashing.clip import ClipHashes
from hashing.pipeline import ImageHashes
from hashing.types import HashValue
from hashing.vpdq import parse_vpdq
from index import HashIndex
from matching import MatchPolicy, Verdict
from matching.clip_frames import ClipQuery, clip_query, vpdq_query
from matching.judge import judge
from matching.still import Query, hash_query, image_query


@dataclass(frozen=True, slots=True)
class Checked:
    """What a check decided, and of what."""

    verdict: Verdict
    categories: dict[int, str]
    """The category of each item the verdict names."""
    media_type: str
    """``image``, a clip's kind, ``hashes`` or ``video_hashes``."""
    quality: int | None
    clip: ClipHashes | None = None
    """A clip's hashes, for the answer's account of what of it was looked at."""


def check_upload(
    session: Session,
    index: HashIndex,
    policy: MatchPolicy,
    rules: MediaRules,
    file: BinaryIO,
    *,
    principal: Principal,
    upload_ref: str | None,
    clock: Clock,
) -> Checked:
    """Check an upload (a still or animated image, or a video): hash it, search,
    decide, and log the check as made at ``clock()`` once hashed.

    Raises :class:`hashing.decode.DecodeError` for media Hashwall will not
    decode, and ``upload_too_large`` for an image over the limit."""
    hashed = hash_upload(
        file,
        rules,
        register=False,
        keypoints=index.local is not None,
        layouts=rules.layouts.needed(session),
    )
    query = image_query(hashed) if isinstance(hashed, ImageHashes) else clip_query(hashed)
    verdict, categories = _decide(session, index, query, policy, principal, upload_ref, clock)
    clip = None if isinstance(hashed, ImageHashes) else hashed
    return Checked(verdict, categories, media_type(hashed), hashed.quality, clip)


def check_hashes(
    session: Session,
    index: HashIndex,
    policy: MatchPolicy,
    values: Sequence[HashValue],
    *,
    max_hashes: int,
    principal: Principal,
    upload_ref: str | None,
    clock: Clock,
) -> Checked:
    """Check a still's hashes computed on the platform's side (at most
    ``max_hashes``)."""
    require_hash_count(len(values), max_hashes)
    query = hash_query(values)
    verdict, categories = _decide(session, index, query, policy, principal, upload_ref, clock)
    return Checked(verdict, categories, "hashes", query.quality)


def check_vpdq(
    session: Session,
    index: HashIndex,
    policy: MatchPolicy,
    lines: Sequence[str],
    *,
    max_frames: int,
    min_quality: int,
    principal: Principal,
    upload_ref: str | None,
    clock: Clock,
) -> Checked:
    """Check a video's vPDQ computed on the platform's side (at most
    ``max_frames`` frames), matched keyframe by keyframe; frames under
    ``min_quality`` are not searched."""
    frames = parse_vpdq(lines)
    require_hash_count(len(frames), max_frames)
    query = vpdq_query(frames, min_quality)
    verdict, categories = _decide(session, index, query, policy, principal, upload_ref, clock)
    return Checked(verdict, categories, "video_hashes", query.quality)


def _decide(
    session: Session,
    index: HashIndex,
    query: Query | ClipQuery,
    policy: MatchPolicy,
    principal: Principal,
    upload_ref: str | None,
    clock: Clock,
) -> tuple[Verdict, dict[int, str]]:
    """Judge, log the check (a match event if anything matched, and the
    quarter-hour counter always) and commit once; returns the verdict and the
    category of each item it names."""
    at = clock()
    verdict, facts = judge(index, query, policy, ItemStore(session))
    best = facts[verdict.candidates[0].item_id].category if verdict.candidates else None
    log_check(session, verdict, best, principal=principal, upload_ref=upload_ref, at=at)
    session.commit()
    if best is not None:
        MATCHES.labels(best, verdict.decision.value).inc()
    return verdict, {c.item_id: facts[c.item_id].category for c in verdict.candidates}
