"""The rules use cases hash and accept media and hashes by, made once from the
settings: small frozen objects, so the services never read settings themselves."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.orm import Session

from app.repository.hashes import any_layout_only_item
from app.settings import Settings
from hashing.clip import ClipLimits
from hashing.decode import DecodeLimits
from matching import Category

REGISTER_LOCAL_KEYFRAMES = 32
"""Keyframes of a registered clip given local features: twice a check's, so
that a check's land near a stored one (5.2 KB each, docs/local-features.md)."""


def clip_limits(settings: Settings, *, register: bool = False) -> ClipLimits:
    """How clips are sampled: by clock and cuts on a check, and on a registration
    also by motion, densely, so a check's samples land near a stored keyframe."""
    limits = ClipLimits(
        max_pixels=settings.video_max_pixels,
        max_seconds=settings.video_max_seconds,
        time_budget=settings.video_time_budget,
        interval=settings.video_keyframe_interval,
        max_keyframes=settings.video_max_keyframes,
        shot_change=settings.video_shot_change,
        dedupe_distance=settings.video_dedupe_distance,
        min_quality=settings.pdq_min_quality,
        max_frames=settings.animation_max_frames,
        max_composited=settings.animation_max_pixels,
        threads=settings.video_decode_threads,
    )
    if register:
        limits = replace(
            limits,
            motion_bits=settings.video_register_motion_bits,
            max_keyframes=settings.video_register_max_keyframes,
            local_keyframes=REGISTER_LOCAL_KEYFRAMES,
        )
    return limits


class LayoutViews:
    """Whether stills get their layout views (the bands of their canvas, a
    picture embedded in a larger one): only while they can match something,
    that is while the local tier is off, off for a category, or an active item
    registered without local features holds the bands of its canvas. Otherwise
    the local tier finds every picture under a caption or inside a canvas, and
    the views would cost a check a millisecond and a half for nothing.

    Asked of the database once per process, at the first upload (the database
    may not answer at start): neither the settings nor the items registered
    before the local tier change while the process runs."""

    def __init__(self, settings: Settings) -> None:
        self._needed: bool | None = (
            True if not settings.local_features or settings.local_features_off else None
        )

    @property
    def known(self) -> bool | None:
        """The answer once asked (or set by the settings alone); None before."""
        return self._needed

    def needed(self, session: Session) -> bool:
        if self._needed is None:
            self._needed = any_layout_only_item(session)
        return self._needed


@dataclass(frozen=True, slots=True)
class MediaRules:
    """How uploads are hashed: the limits decoding holds them to, where videos
    are spooled, and what registering media needs of them."""

    decode: DecodeLimits
    clip: ClipLimits
    register_clip: ClipLimits
    max_image_bytes: int
    spool_dir: Path
    layouts: LayoutViews
    min_quality: int
    """PDQ quality under which media is too flat to register."""
    no_keypoints: frozenset[Category]
    """Categories whose items are registered without local features."""

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaRules:
        return cls(
            decode=DecodeLimits(
                max_pixels=settings.max_image_pixels, max_side=settings.max_image_side
            ),
            clip=clip_limits(settings),
            register_clip=clip_limits(settings, register=True),
            max_image_bytes=settings.max_image_bytes,
            spool_dir=settings.upload_dir,
            layouts=LayoutViews(settings),
            min_quality=settings.pdq_min_quality,
            no_keypoints=frozenset(settings.local_features_off),
        )


@dataclass(frozen=True, slots=True)
class HashRules:
    """What is accepted of hashes sent without media."""

    max_hashes: int
    """A still's hashes per request."""
    max_vpdq_frames: int
    min_quality: int
    """PDQ quality under which a vPDQ frame is neither searched nor stored."""
    dedupe_distance: int
    """A vPDQ frame within this many bits of the previous stored one is not stored."""

    @classmethod
    def from_settings(cls, settings: Settings) -> HashRules:
        return cls(
            max_hashes=settings.max_hashes_per_request,
            max_vpdq_frames=settings.vpdq_max_frames,
            min_quality=settings.pdq_min_quality,
            dedupe_distance=settings.video_dedupe_distance,
        )
