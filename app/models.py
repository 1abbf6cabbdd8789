"""Database tables. The database is the one source of truth; the index mirrors it.

Media is never stored: an item is its hashes and its case metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from hashing.variants import Variant

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


Clock = Callable[[], datetime]
"""Where the service reads the time of what it records (checks, registrations,
deactivations) and of "today": :func:`utcnow`, or a test's own clock."""


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:  # noqa: ARG002
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:  # noqa: ARG002
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ApiKey(Base):
    """A credential of a named platform or team. Only a salted digest of the key is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    platform: Mapped[str] = mapped_column(String(100))
    """The platform or team the key acts for; several keys may share one."""
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of ``salt`` and the key's secret; of the whole key for keys made before salts."""
    lookup: Mapped[str | None] = mapped_column(String(32), unique=True)
    """The key's public id, the part before its secret; None for keys made before."""
    salt: Mapped[str | None] = mapped_column(String(32))
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DashboardSession(Base):
    """A dashboard login: the browser holds a random id, of which only a SHA-256
    digest is kept. It ends at its expiry, at logout, or when its key is revoked."""

    __tablename__ = "dashboard_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Item(Base):
    """A confirmed removed piece of content, known only by its hashes."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    media_type: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(30))
    """No index, as for ``active``: the report counts by category within a span of
    creation times and a filtered export sorts every item, both whole scans."""
    case_ref: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    quality: Mapped[int | None] = mapped_column(Integer)
    """PDQ quality of the media; the median over keyframes for a clip."""
    duration: Mapped[float | None] = mapped_column(Float)
    """Seconds, for a clip."""
    keyframes: Mapped[int | None] = mapped_column(Integer)
    """Keyframes stored, for a clip."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    """No index: nearly every item is active, so no query is helped by one. The
    two indexes this column and ``category`` had cost a bulk import on
    PostgreSQL more than half of its server CPU (docs/benchmarks.md)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deactivated_by: Mapped[str | None] = mapped_column(String(100))
    deactivation_reason: Mapped[str | None] = mapped_column(Text)
    hash_signal: Mapped[str | None] = mapped_column(String(20))
    """Signal of the item's one hash when it is kept on this row (bulk-imported
    items: variant ``original``, quality ``quality``), instead of in ``hashes``."""
    hash_value: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The inline hash (see ``hash_signal``); None for items whose hashes are rows
    of ``item_hashes``."""

    hashes: Mapped[list[ItemHash]] = relationship(back_populates="item", order_by="ItemHash.id")


class ItemHash(Base):
    """One hash of an item. An item may carry several per signal (variants)."""

    __tablename__ = "item_hashes"
    __table_args__ = (
        UniqueConstraint("item_id", "signal", "value", name="uq_item_hashes_item_signal_value"),
        Index("ix_item_hashes_signal_value", "signal", "value"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    signal: Mapped[str] = mapped_column(String(20))
    value: Mapped[bytes] = mapped_column(LargeBinary)
    variant: Mapped[str] = mapped_column(String(40), default=Variant.ORIGINAL.value)
    quality: Mapped[int | None] = mapped_column(Integer)
    frame_at: Mapped[float | None] = mapped_column(Float)
    """Seconds into the clip of the keyframe this hash is of; None for a still."""

    item: Mapped[Item] = relationship(back_populates="hashes")


class ItemFeatures(Base):
    """An item's local features (:mod:`hashing.features`): keypoint positions in
    its frame, ORB descriptors and cell signatures, for a still or one keyframe
    of a clip. Never pixels."""

    __tablename__ = "item_features"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    frame_at: Mapped[float | None] = mapped_column(Float)
    """Seconds into a clip; None for a still."""
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    keypoints: Mapped[bytes] = mapped_column(LargeBinary)
    """x, y as little-endian uint16 in sixteenths of a pixel, per keypoint."""
    descriptors: Mapped[bytes] = mapped_column(LargeBinary)
    """32 bytes per keypoint, in the order of ``keypoints``."""
    cells: Mapped[bytes] = mapped_column(LargeBinary)
    """64 signatures (little-endian uint64) then 64 flat shares (uint8)."""


class IndexChange(Base):
    """The change feed every server process follows to keep its index in step.

    Written in the same transaction as the registration or deactivation it
    records, so a committed change is always in the feed.
    """

    __tablename__ = "index_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    op: Mapped[str] = mapped_column(String(10))
    """``add`` or ``remove``: the item's hashes enter or leave the index;
    ``add_range``: the inline hashes of the active items with ids from
    ``item_id`` to ``last_item_id`` enter it (one bulk-import batch)."""
    last_item_id: Mapped[int | None] = mapped_column(BigId)
    """Last item id of an ``add_range``; None for the other operations."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MatchEvent(Base):
    """One check that matched: the transparency evidence."""

    __tablename__ = "match_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    platform: Mapped[str] = mapped_column(String(100), index=True)
    upload_ref: Mapped[str | None] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(10))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    signal: Mapped[str] = mapped_column(String(20))
    distance: Mapped[int] = mapped_column(Integer)
    transform: Mapped[str] = mapped_column(String(20))
    match_count: Mapped[int] = mapped_column(Integer)


class RateCounter(Base):
    """One rate-limit window of one key (``limits``' fixed-window counter), for
    processes and hosts that share the database and no Redis."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[float] = mapped_column(Float)
    """Seconds since the epoch when the window ends."""


class CheckCount(Base):
    """Checks per UTC quarter-hour, platform, decision, and the category and signal
    of the best match ('' for an allow): every transparency total comes from here."""

    __tablename__ = "check_counts"
    __table_args__ = (
        UniqueConstraint(
            "bucket", "platform", "decision", "category", "signal", name="uq_check_counts_key"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime())
    """Start of the quarter-hour."""
    platform: Mapped[str] = mapped_column(String(100))
    decision: Mapped[str] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(String(30))
    signal: Mapped[str] = mapped_column(String(20))
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class ItemDayCount(Base):
    """Match events folded away by a purge: per UTC day, item, platform and
    decision, how many there were and when the first came."""

    __tablename__ = "item_day_counts"
    __table_args__ = (
        UniqueConstraint("day", "item_id", "platform", "decision", name="uq_item_day_counts_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    platform: Mapped[str] = mapped_column(String(100))
    decision: Mapped[str] = mapped_column(String(10))
    count: Mapped[int] = mapped_column(BigInteger)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEvent(Base):
    """Who did what to an item or a key, when and why."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(30))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), index=True)
    detail: Mapped[str | None] = mapped_column(Text)


class HashImport(Base):
    """One bulk import of a hash-list file, and how far it got.

    Progress is committed with each batch of items, so a rerun of the same file
    (same digest, format, category and case reference) resumes after the last
    committed line instead of starting over.
    """

    __tablename__ = "hash_imports"
    __table_args__ = (Index("ix_hash_imports_file_sha256_format", "file_sha256", "format"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    filename: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(30))
    case_ref: Mapped[str | None] = mapped_column(String(200))
    operator: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    """``running`` (or killed while running), ``failed`` (stopped by an error) or ``done``."""
    lines_done: Mapped[int] = mapped_column(BigInteger)
    """Physical lines of the file whose outcome is committed."""
    added: Mapped[int] = mapped_column(BigInteger)
    already_present: Mapped[int] = mapped_column(BigInteger)
    rejected: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
