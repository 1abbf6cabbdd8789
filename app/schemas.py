"""Request and response bodies of the HTTP API. ``Category`` and ``Decision``
are matching's own (:mod:`matching.types`), named here for the routers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.services.hashlists.formats import HashListFormat
from app.text import MultilineText, PlainText
from hashing.types import HashValue, Signal
from matching.types import Category, Decision, Evidence


class HashSet(BaseModel):
    """Hashes as lowercase hex: PDQ 64 digits, pHash 16, SHA-256 64."""

    model_config = ConfigDict(extra="forbid")

    pdq: list[str] = Field(default_factory=list, max_length=1024)
    phash: list[str] = Field(default_factory=list, max_length=1024)
    sha256: list[str] = Field(default_factory=list, max_length=1024)

    @field_validator("pdq", "phash", "sha256")
    @classmethod
    def _hex(cls, values: list[str], info: ValidationInfo) -> list[str]:
        signal = Signal(str(info.field_name))
        return [HashValue.from_hex(signal, v).to_hex() for v in values]

    def values(self) -> list[HashValue]:
        return [
            HashValue.from_hex(signal, text)
            for signal in Signal
            for text in getattr(self, signal.value)
        ]


VpdqText = Annotated[
    str | list[str],
    Field(
        description="A video's vPDQ hash: lines (or a list) of pdq_hex,quality,timestamp_s; "
        "the reference tool's frame_number,quality,pdq_hex,timestamp_s is read too",
    ),
]


class _HashesOrVpdq(BaseModel):
    hashes: HashSet | None = None
    vpdq: VpdqText | None = None

    @model_validator(mode="after")
    def _one_form(self) -> _HashesOrVpdq:
        if (self.hashes is None) == (self.vpdq is None):
            raise ValueError("send exactly one of 'hashes' (a still) or 'vpdq' (a video)")
        return self

    def vpdq_lines(self) -> list[str]:
        if self.vpdq is None:
            return []
        return self.vpdq.splitlines() if isinstance(self.vpdq, str) else self.vpdq


class RegisterHashes(_HashesOrVpdq):
    """Register an item by its hashes only, as hash-sharing partners receive them:
    still-image ``hashes``, or a video's ``vpdq``."""

    model_config = ConfigDict(extra="forbid")

    category: Category
    case_ref: Annotated[str | None, Field(default=None, max_length=200), PlainText] = None
    note: Annotated[str | None, Field(default=None, max_length=4000), MultilineText] = None


class CheckHashes(_HashesOrVpdq):
    """Check precomputed hashes, for platforms that hash on their side: a still's
    ``hashes`` or a video's ``vpdq``."""

    model_config = ConfigDict(extra="forbid")

    upload_ref: Annotated[str | None, Field(default=None, max_length=200), PlainText] = None


class ItemSummary(BaseModel):
    item_id: int
    category: Category
    case_ref: str | None
    created_at: datetime


class ClipInfo(BaseModel):
    """What of a video or animated image was looked at."""

    container: str
    width: int
    height: int
    duration_s: float | None = Field(description="As the container declares it")
    hashed_s: float = Field(description="Timestamp of the last frame decoded")
    frames_decoded: int
    keyframes: int = Field(description="Keyframes hashed and searched (or stored)")
    low_quality_keyframes: int = Field(
        description="Keyframes left out for PDQ quality below the floor"
    )
    complete: bool = Field(description="False when only the first part was hashed")
    stopped_by: str | None = Field(
        description="Why hashing stopped early: duration_limit, time_budget, "
        "keyframe_limit, frame_limit, pixel_limit, decode_error or truncated"
    )


class RegisterResult(BaseModel):
    item_id: int
    media_type: str
    category: Category
    hashes: dict[str, list[str]]
    quality: int | None
    duplicate_of: ItemSummary | None = None
    clip: ClipInfo | None = None


class Match(BaseModel):
    item_id: int
    category: Category
    signal: Evidence = Field(
        description="What matched: sha256, pdq or phash (hashes), or local (the item "
        "found inside the upload by its keypoints)"
    )
    distance: int = Field(
        description="Hamming distance in bits (0 for sha256); for local, the percent of "
        "the item's own content the upload disagrees with"
    )
    transform: str = Field(
        description="How the upload differs from the item: original, rotate_90/180/270 "
        "(clockwise), flip_horizontal, flip_vertical, transpose, transverse"
    )
    upload_share: float | None = Field(
        default=None, description="Clips: share of the upload's keyframes that matched the item"
    )
    item_share: float | None = Field(
        default=None, description="Clips: share of the item's keyframes found in the upload"
    )
    upload_span: tuple[float, float] | None = Field(
        default=None, description="Clips: seconds of the upload from first to last match"
    )
    item_span: tuple[float, float] | None = Field(
        default=None, description="Clips: seconds of the item from first to last match"
    )
    inliers: int | None = Field(
        default=None, description="Local: keypoint pairs the item's homography explains"
    )
    region: list[tuple[float, float]] | None = Field(
        default=None,
        description="Local: where the item's corners lie in the upload (top left, top "
        "right, bottom right, bottom left), as shares of its width and height",
    )


class CheckResult(BaseModel):
    decision: Decision
    matches: list[Match]
    media_type: str
    quality: int | None
    elapsed_ms: float
    clip: ClipInfo | None = None


class ItemOut(BaseModel):
    item_id: int
    media_type: str
    category: Category
    case_ref: str | None
    note: str | None
    quality: int | None
    duration_s: float | None = None
    keyframes: int | None = None
    hashes: dict[str, list[str]]
    active: bool
    created_at: datetime
    created_by: str
    deactivated_at: datetime | None
    deactivated_by: str | None
    deactivation_reason: str | None


class Health(BaseModel):
    status: str
    index: dict[str, int] | None = None


class ImportRejection(BaseModel):
    line: int = Field(description="Line number in the file, from 1")
    reason: str


class ImportResult(BaseModel):
    """What an import of a hash list did. Lines already committed by an earlier,
    interrupted upload of the same file are counted, not repeated."""

    import_id: int
    file_sha256: str
    format: HashListFormat
    category: Category
    case_ref: str | None
    lines: int = Field(description="Lines of the file read")
    added: int = Field(description="Hashes stored, one new item each")
    already_present: int = Field(
        description="Hashes an active item already held, or an earlier line of the file"
    )
    rejected: int = Field(description="Lines that could not be imported")
    rejections: list[ImportRejection] = Field(description="The first rejected lines")
    rejections_truncated: bool = Field(description="More lines were rejected than listed")
    resumed_from_line: int = Field(
        description="Lines an earlier, interrupted import of this file had committed"
    )
