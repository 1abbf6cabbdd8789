"""Registering confirmed content: media, a still's hashes, or a video's vPDQ.

One use case each. Every one holds the process's registration lock over the
duplicate check and the insert, commits, then indexes: the durability rule is
database first (a crash after the commit loses nothing, the index being rebuilt
from the database on start), and the index never holds an item the database
does not.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import BinaryIO

import numpy as np
from sqlalchemy.orm import Session

from app.auth import Principal
from app.failures import DomainError, Failure, require_hash_count
from app.models import Clock, Item
from app.observability import REGISTRATIONS
from app.repository.features import NewFeatures, clip_features, media_features
from app.repository.hashes import NewHash, clip_hashes, hashes_out, media_hashes, vpdq_hashes
from app.repository.items import ItemStore, active_item, add_item, index_item
from app.services.rules import HashRules, MediaRules
from app.services.uploads import hash_upload, media_type
from hashing.clip import ClipHashes
from hashing.pipeline import ImageHashes
from hashing.transforms import Transform
from hashing.types import HashValue
from hashing.vpdq import parse_vpdq
from index import HashIndex
from matching import Category, MatchPolicy, holds
from matching.clip_frames import ClipQuery, clip_query, vpdq_query
from matching.judge import judge
from matching.still import Query, hash_query, image_query


@dataclass(frozen=True, slots=True)
class Registered:
    """A registration's outcome: the new item, or the active item that already
    holds the content (``duplicate``)."""

    item: Item
    duplicate: bool
    hashes: dict[str, list[str]]
    """The item's hashes as the answer shows them (:func:`hashes_out`)."""
    clip: ClipHashes | None = None


@dataclass(frozen=True, slots=True)
class Registrar:
    """What every registration writes to and decides with."""

    session: Session
    index: HashIndex
    policy: MatchPolicy
    lock: threading.Lock
    """Serialises the duplicate check and insert of registrations in this process."""
    clock: Clock


@dataclass(frozen=True, slots=True)
class Submission:
    """Who registers what, and the case it belongs to."""

    principal: Principal
    category: Category
    case_ref: str | None = None
    note: str | None = None


def register_media(
    to: Registrar, rules: MediaRules, file: BinaryIO, submitted: Submission
) -> Registered:
    """Register a still or animated image, or a video.

    Raises :class:`hashing.decode.DecodeError` for media Hashwall will not
    decode, ``upload_too_large`` for an image over the limit, and
    ``low_quality`` for media too flat to match on."""
    # A deployment may keep no keypoints of a category (LOCAL_FEATURES_OFF).
    keypoints = to.index.local is not None and submitted.category not in rules.no_keypoints
    layouts = rules.layouts.needed(to.session)
    hashed = hash_upload(file, rules, register=True, keypoints=keypoints, layouts=layouts)
    require_usable(hashed, rules.min_quality)
    if isinstance(hashed, ImageHashes):
        new = _New("image", hashed.quality, media_hashes(hashed), media_features(hashed))
        return _register(to, image_query(hashed), new, submitted)
    clip = _New(
        media_type(hashed),
        hashed.quality,
        clip_hashes(hashed),
        clip_features(hashed),
        duration=hashed.duration if hashed.complete else hashed.hashed_until,
        keyframes=len(hashed.keyframes),
    )
    return replace(_register(to, clip_query(hashed), clip, submitted), clip=hashed)


def register_hashes(
    to: Registrar, rules: HashRules, values: Sequence[HashValue], submitted: Submission
) -> Registered:
    """Register a still's hashes made on the partner's side; refuses hashes that
    carry no information (``uninformative_hash``)."""
    require_hash_count(len(values), rules.max_hashes)
    for value in values:
        if not value.informative:
            raise DomainError(
                Failure.INVALID,
                "uninformative_hash",
                f"{value.signal} {value.to_hex()} has too few or too many bits set to come "
                "from a picture (a flat image's hash): it would match every flat upload",
            )
    new = _New("hashes", None, [NewHash(v) for v in values])
    return _register(to, hash_query(values), new, submitted)


def register_vpdq(
    to: Registrar, rules: HashRules, lines: Sequence[str], submitted: Submission
) -> Registered:
    """Register a video's vPDQ made on the partner's side: its frames of quality,
    each unlike the one before; ``low_quality`` when none is left."""
    frames = parse_vpdq(lines)
    require_hash_count(len(frames), rules.max_vpdq_frames)
    stored = vpdq_hashes(
        frames, min_quality=rules.min_quality, dedupe_distance=rules.dedupe_distance
    )
    if not stored:
        raise DomainError(
            Failure.INVALID,
            "low_quality",
            f"no vpdq frame has PDQ quality {rules.min_quality} or more and a hash "
            "that carries information: nothing would match",
        )
    new = _New(
        "video_hashes",
        int(np.median([f.quality for f in frames])),
        stored,
        duration=max(f.at for f in frames),
        keyframes=len({h.at for h in stored}),
    )
    return _register(to, vpdq_query(frames, rules.min_quality), new, submitted)


def require_usable(hashed: ImageHashes | ClipHashes, min_quality: int) -> None:
    """Refuse media whose picture carries too little to match on (a flat or
    nearly flat image, a clip without one keyframe of quality): its hashes would
    match every other such upload. ``low_quality``, as for a vPDQ."""
    if isinstance(hashed, ImageHashes):
        if hashed.quality < min_quality or not hashed.pdq[Transform.ORIGINAL].informative:
            raise DomainError(
                Failure.INVALID,
                "low_quality",
                f"the image's PDQ quality is {hashed.quality}, under the floor of {min_quality}: "
                "a picture this flat would match every other flat upload",
            )
    elif not hashed.keyframes:
        raise DomainError(
            Failure.INVALID,
            "low_quality",
            f"no keyframe of the {hashed.kind} has PDQ quality {min_quality} or more: "
            "nothing would match",
        )


@dataclass(frozen=True, slots=True)
class _New:
    """What a registration would store."""

    media_type: str
    quality: int | None
    hashes: Sequence[NewHash]
    features: Sequence[NewFeatures] = ()
    duration: float | None = None
    keyframes: int | None = None


def _register(
    to: Registrar, query: Query | ClipQuery, new: _New, submitted: Submission
) -> Registered:
    with to.lock:
        duplicate = find_duplicate(to.session, to.index, query, to.policy)
        if duplicate is not None:
            return Registered(duplicate, True, hashes_out(duplicate))
        item = register_item(
            to.session,
            to.index,
            actor=submitted.principal.name,
            media_type=new.media_type,
            category=submitted.category,
            case_ref=submitted.case_ref,
            note=submitted.note,
            quality=new.quality,
            hashes=new.hashes,
            features=new.features,
            duration=new.duration,
            keyframes=new.keyframes,
            now=to.clock(),
        )
        return Registered(item, False, hashes_out(item))


def find_duplicate(
    session: Session, index: HashIndex, query: Query | ClipQuery, policy: MatchPolicy
) -> Item | None:
    """An active item the query would be blocked by and that already holds it: for
    a clip, most of its keyframes (registering a whole video whose excerpt is
    registered adds the rest of it), and for a match by keypoints most of the
    picture, flat pixels aside (a registered clip or photo found as an inset
    beside other pictures is only a part)."""
    # An item found in an inset is a part of the picture, never all of it: the
    # inset search could not find a duplicate, and would cost every registration.
    verdict, _ = judge(index, query, replace(policy, local_insets=0), ItemStore(session))
    frame = query.frame if isinstance(query, Query) else None
    for candidate in verdict.candidates:
        if holds(candidate, policy, frame):
            item = active_item(session, candidate.item_id)
            if item is not None:
                return item
    return None


def register_item(
    session: Session,
    index: HashIndex,
    *,
    actor: str,
    media_type: str,
    category: Category,
    case_ref: str | None,
    note: str | None,
    quality: int | None,
    hashes: Sequence[NewHash],
    features: Sequence[NewFeatures] = (),
    duration: float | None = None,
    keyframes: int | None = None,
    now: datetime,
) -> Item:
    """Store an item with its hashes, local features and audit row, as registered
    ``now``, commit, then index it (no duplicate check)."""
    item = add_item(
        session,
        actor=actor,
        media_type=media_type,
        category=category,
        case_ref=case_ref,
        note=note,
        quality=quality,
        hashes=hashes,
        features=features,
        duration=duration,
        keyframes=keyframes,
        now=now,
    )
    session.commit()
    REGISTRATIONS.labels(item.category, media_type).inc()
    index_item(index, item, features)
    return item
