"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from hashing.types import HashValue, Signal


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


class RegisterHashes(BaseModel):
    """Register an item by its hashes only, as hash-sharing partners receive them."""

    model_config = ConfigDict(extra="forbid")

    hashes: HashSet
    category: Category
    case_ref: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=4000)


class CheckHashes(BaseModel):
    """Check precomputed hashes, for platforms that hash on their side."""

    model_config = ConfigDict(extra="forbid")

    hashes: HashSet
    upload_ref: str | None = Field(default=None, max_length=200)


class ItemSummary(BaseModel):
    item_id: int
    category: Category
    case_ref: str | None
    created_at: datetime


class RegisterResult(BaseModel):
    item_id: int
    media_type: str
    category: Category
    hashes: dict[str, list[str]]
    quality: int | None
    duplicate_of: ItemSummary | None = None


class Match(BaseModel):
    item_id: int
    category: Category
    signal: Signal
    distance: int = Field(description="Hamming distance in bits (0 for sha256)")
    transform: str = Field(
        description="How the upload differs from the item: original, rotate_90/180/270 "
        "(clockwise), flip_horizontal, flip_vertical, transpose, transverse"
    )


class CheckResult(BaseModel):
    decision: Decision
    matches: list[Match]
    media_type: str
    quality: int | None
    elapsed_ms: float


class ItemOut(BaseModel):
    item_id: int
    media_type: str
    category: Category
    case_ref: str | None
    note: str | None
    quality: int | None
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
