"""item features: an item's local features (keypoint positions and ORB
descriptors, and its cell signatures) for the local-feature tier, one row per
still item or per keyframe of a clip; never pixels

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "item_features",
        sa.Column("id", _ID, nullable=False),
        sa.Column("item_id", _ID, nullable=False),
        sa.Column("frame_at", sa.Float(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("keypoints", sa.LargeBinary(), nullable=False),
        sa.Column("descriptors", sa.LargeBinary(), nullable=False),
        sa.Column("cells", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_item_features_item_id_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_features")),
    )
    with op.batch_alter_table("item_features", schema=None) as batch_op:
        batch_op.create_index("ix_item_features_item_id", ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("item_features", schema=None) as batch_op:
        batch_op.drop_index("ix_item_features_item_id")
    op.drop_table("item_features")
