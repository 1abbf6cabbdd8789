"""video keyframes: a timestamp on each frame hash, duration and keyframe count on items

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("item_hashes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frame_at", sa.Float(), nullable=True))
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("duration", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("keyframes", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("keyframes")
        batch_op.drop_column("duration")
    with op.batch_alter_table("item_hashes", schema=None) as batch_op:
        batch_op.drop_column("frame_at")
