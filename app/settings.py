"""Service settings, read from ``HASHWALL_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from matching import Category, MatchPolicy


def default_data_dir() -> Path:
    """The user's data directory for Hashwall (``~/.local/share/hashwall`` on
    Linux): the same wherever a command is run from, so ``hashwall keys create``
    in another folder finds the database the server uses."""
    return Path(platformdirs.user_data_dir("hashwall", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HASHWALL_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    """The SQLite file (unless ``database_url`` names another database), index
    snapshots and spooled uploads; a relative path is taken from the folder the
    process starts in, and made absolute then."""
    database_url: str = ""
    """Empty means a SQLite file in ``data_dir``; ``postgresql+psycopg://...`` for PostgreSQL."""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)

    # Limits on untrusted input.
    max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    """Whole request body; a video may be this large."""
    max_image_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    """Still and animated images are read into memory, so they get a smaller cap."""
    max_json_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    """A JSON body (hashes, a vPDQ) past this gets 413; a vPDQ of ``vpdq_max_frames``
    lines is about 1.7 MB."""
    max_image_pixels: int = Field(default=64_000_000, ge=64 * 64)
    max_image_side: int = Field(default=30_000, ge=64)
    max_hashes_per_request: int = Field(default=256, ge=1)

    # Matching, in bits of Hamming distance; chosen in docs/benchmarks.md. Unrelated
    # photos never came within 82 PDQ bits of a registration (its crop and rotation
    # variants included), but different shots of one scene (a chessboard series)
    # came within 52, so block stays at the industry's 31 and review stops at 51.
    # pHash is too short to decide alone at millions of items: modelled on the dev
    # corpus, a pHash within 4 bits of an unrelated item would send 0.8% of checks
    # to review at 10M items, an exact pHash 1 in 120,000; its main job is to
    # corroborate a PDQ near miss.
    pdq_block_distance: int = Field(default=31, ge=0, le=256)
    pdq_review_distance: int = Field(default=51, ge=0, le=256)
    phash_block_distance: int | None = Field(default=None, ge=0, le=64)
    """None: a pHash match alone never blocks, it only sends to review."""
    phash_review_distance: int = Field(default=0, ge=0, le=64)
    pdq_corroborated_distance: int = Field(default=51, ge=0, le=256)
    """PDQ distance that blocks when the same item's pHash is within the next setting."""
    phash_corroboration_distance: int = Field(default=10, ge=0, le=64)
    pdq_min_quality: int = Field(default=50, ge=0, le=100)
    max_matches: int = Field(default=20, ge=1)

    # Video and animated images (see hashing.clip.ClipLimits for what each means).
    tmp_dir: Path | None = None
    """Where uploaded videos are spooled while hashed; default ``data_dir/tmp``."""
    video_keyframe_interval: float = Field(default=1.0, gt=0, le=60)
    """Seconds: at least one keyframe this often (plus one at every shot change)."""
    video_max_keyframes: int = Field(default=900, ge=1, le=20_000)
    video_register_motion_bits: int | None = Field(default=20, ge=1, le=256)
    """Registration also keeps a keyframe whenever the picture moved this many PDQ
    bits (see hashing.clip.ClipLimits.motion_bits); None turns it off."""
    video_register_max_keyframes: int = Field(default=3600, ge=1, le=50_000)
    video_dedupe_distance: int = Field(default=12, ge=0, le=256)
    """A keyframe within this many PDQ bits of the previous one is not stored."""
    video_shot_change: float = Field(default=24.0, gt=0, le=255)
    video_max_seconds: float = Field(default=3600.0, gt=0)
    """Only the first part of a longer video is hashed; the answer says so."""
    video_time_budget: float = Field(default=30.0, gt=0)
    """Wall-time seconds one upload may spend decoding and hashing."""
    video_max_pixels: int = Field(default=8192 * 4320, ge=64 * 64)
    video_decode_threads: int = Field(default=2, ge=1, le=16)
    animation_max_frames: int = Field(default=3000, ge=1)
    animation_max_pixels: int = Field(default=120_000_000, ge=64 * 64)
    """Canvas pixels an animated image may composite (frames x width x height);
    then hashing stops, as at the frame limit (see hashing.clip.ClipLimits)."""
    video_block_share: float = Field(default=0.5, gt=0, le=1)
    """Share of the upload's keyframes matching an item, or of the item's keyframes
    found in the upload, that blocks (either is enough)."""
    video_min_frames: int = Field(default=2, ge=1)
    """Keyframes that must match for a block (fewer when either clip has fewer)."""
    video_duplicate_share: float = Field(default=0.9, gt=0, le=1)
    """A registration whose keyframes are this much inside an active item is a duplicate."""
    vpdq_max_frames: int = Field(default=20_000, ge=1)

    max_in_flight: int = Field(default=32, ge=1)
    """Checks and registrations being handled at once per process; more get 503."""
    body_idle_seconds: float = Field(default=30, gt=0)
    """Longest pause between chunks of a request body before a 408."""
    body_seconds: float = Field(default=300, gt=0)
    """Longest time a request body may take to arrive in all before a 408."""
    cors_origins: list[str] = Field(default_factory=list)
    """Browser origins allowed to call the API (CORS); empty: none, no CORS headers."""
    rate_limit: float | None = Field(default=None, gt=0)
    """Requests a second per API key, over every process and host; None: off."""
    rate_limit_burst: int | None = Field(default=None, ge=1)
    """Requests a key may send at once: each window of burst / rate seconds
    allows this many. Default: twice the rate (at least 1)."""
    rate_limit_storage: Literal["auto", "memory", "database", "redis"] = "auto"
    """Where the rate limit's counts live (app/ratelimit.py). auto: Redis when
    redis_url is set, else this process's memory for one process on SQLite, else
    the database."""
    redis_url: str | None = None
    """``redis://host:6379/0``: shared state for processes and hosts (the rate limit)."""
    redis_key_prefix: str = Field(default="hashwall", min_length=1, max_length=100)
    """Prefix of Hashwall's keys in Redis, for a Redis shared with other services."""

    event_retention_days: int | None = Field(default=None, ge=1)
    """Match events older than this are folded into per-day counts and deleted
    (daily, and by ``hashwall events purge``); None keeps them forever."""

    local_features: bool = True
    """Find registered pictures inside uploads by their keypoints (the local-feature
    tier, docs/local-features.md); off: global hashes only."""
    local_features_off: list[Category] = Field(default_factory=list)
    """Categories whose items keep no local features (registered by global hashes
    only): a deployment that will not store keypoints of, say, csam."""
    local_insets: int = Field(default=1, ge=0, le=4)
    """Pictures set into a still (picture in picture) searched again on their own
    when the rest of the check does not block; 0: none. Finding them costs an
    unregistered upload's check a fifth to a quarter more server CPU
    (docs/benchmarks.md, section 2)."""
    index_sync_seconds: float = Field(default=0.25, gt=0, le=60)
    """How often each process applies other processes' registrations and deactivations."""
    faiss_threads: int = Field(default=1, ge=1)
    """FAISS's OpenMP threads per process; one avoids stalls seen under concurrent queries."""
    index_exact_distance: int | None = Field(default=None, ge=0, le=256)
    """PDQ searches find every match up to this distance and may miss ones beyond
    it, up to the review distance; None: exact at every distance. Over millions
    of hashes, 31 keeps a check in milliseconds (docs/benchmarks.md, "Index at scale")."""
    index_merge_threshold: int = Field(default=65_536, ge=1)
    """Hashes added since the last merge before the index folds them in, in the background."""
    index_snapshot_dir: Path | None = None
    """Where index snapshots are kept; default ``data_dir/index``."""
    index_snapshot_seconds: float = Field(default=300, ge=0)
    """How often a process writes a snapshot when the index has changed; 0: never."""
    index_load_wait: float = Field(default=0, ge=0)
    """Seconds start-up waits for the index before serving. With 0 the service
    serves at once and answers 503 (``/readyz`` and index routes) until loaded."""

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @model_validator(mode="after")
    def _valid_policy(self) -> Settings:
        self.match_policy()  # refuses thresholds out of order
        return self

    def match_policy(self) -> MatchPolicy:
        """The thresholds matching decides with (built once, at start)."""
        return MatchPolicy(
            pdq_block=self.pdq_block_distance,
            pdq_review=self.pdq_review_distance,
            phash_block=self.phash_block_distance,
            phash_review=self.phash_review_distance,
            pdq_corroborated=self.pdq_corroborated_distance,
            phash_corroboration=self.phash_corroboration_distance,
            min_quality=self.pdq_min_quality,
            max_matches=self.max_matches,
            exact_distance=self.index_exact_distance,
            clip_block_share=self.video_block_share,
            clip_min_frames=self.video_min_frames,
            duplicate_share=self.video_duplicate_share,
            local_insets=self.local_insets,
        )

    @property
    def upload_dir(self) -> Path:
        return self.tmp_dir if self.tmp_dir is not None else self.data_dir / "tmp"

    @property
    def snapshot_dir(self) -> Path:
        return (
            self.index_snapshot_dir
            if self.index_snapshot_dir is not None
            else self.data_dir / "index"
        )

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file the service uses; None on another database."""
        url = self.effective_database_url
        return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'hashwall.db').as_posix()}"
