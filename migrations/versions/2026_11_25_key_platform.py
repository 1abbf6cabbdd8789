"""api keys name their platform: several keys (a check key, an export key, a key
being rotated in) can act for one platform

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform", sa.String(length=100), nullable=True))
    # Until now a key's name was its platform.
    op.execute(sa.text("UPDATE api_keys SET platform = name"))
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column("platform", existing_type=sa.String(length=100), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("platform")
