"""hash imports: bulk hash-list imports and their committed progress, so an
interrupted import resumes

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "hash_imports",
        sa.Column("id", _ID, nullable=False),
        sa.Column("filename", sa.String(length=500), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("case_ref", sa.String(length=200), nullable=True),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("lines_done", sa.BigInteger(), nullable=False),
        sa.Column("added", sa.BigInteger(), nullable=False),
        sa.Column("already_present", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_imports")),
    )
    with op.batch_alter_table("hash_imports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hash_imports_file_sha256_format", ["file_sha256", "format"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("hash_imports", schema=None) as batch_op:
        batch_op.drop_index("ix_hash_imports_file_sha256_format")
    op.drop_table("hash_imports")
