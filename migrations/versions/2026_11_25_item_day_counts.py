"""item day counts: match events folded away by a purge

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "item_day_counts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("item_id", _ID, nullable=False),
        sa.Column("platform", sa.String(length=100), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_item_day_counts_item_id_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_day_counts")),
        sa.UniqueConstraint(
            "day", "item_id", "platform", "decision", name="uq_item_day_counts_key"
        ),
    )
    with op.batch_alter_table("item_day_counts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_day_counts_item_id"), ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("item_day_counts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_day_counts_item_id"))
    op.drop_table("item_day_counts")
