"""check counts per quarter-hour, with the category and signal of the best match

The per-day counters become quarter-hour counters, so exports can regroup them in
any time zone and by category and signal. Each old day's counts move to the
quarter-hour starting at its UTC midnight, with no category or signal (they were
not recorded).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence
from datetime import UTC, datetime, time

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    counts = op.create_table(
        "check_counts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("platform", sa.String(length=100), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("signal", sa.String(length=20), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_counts")),
        sa.UniqueConstraint(
            "bucket", "platform", "decision", "category", "signal", name="uq_check_counts_key"
        ),
    )
    old = sa.table(
        "check_counters",
        sa.column("day", sa.Date()),
        sa.column("platform", sa.String()),
        sa.column("decision", sa.String()),
        sa.column("count", sa.BigInteger()),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(old.c.day, old.c.platform, old.c.decision, old.c.count))
    moved = [
        {
            "bucket": datetime.combine(day, time(), UTC),
            "platform": platform,
            "decision": decision,
            "category": "",
            "signal": "",
            "count": count,
        }
        for day, platform, decision, count in rows
    ]
    if moved:
        op.bulk_insert(counts, moved)
    op.drop_table("check_counters")


def downgrade() -> None:
    # The quarter-hour counts are not folded back into days: a downgrade starts the
    # day counters afresh.
    op.create_table(
        "check_counters",
        sa.Column("id", _ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("platform", sa.String(length=100), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_counters")),
        sa.UniqueConstraint("day", "platform", "decision", name="uq_check_counters_day_platform"),
    )
    op.drop_table("check_counts")
