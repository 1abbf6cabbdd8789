"""inline item hashes: a bulk-imported item keeps its one hash on its items row,
one add_range change-feed row covers an import batch, and items.active and
items.category lose their indexes (no query is helped by them; they cost bulk
imports more than half of PostgreSQL's CPU)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Nullable columns only: SQLite adds them with ALTER TABLE, without copying
    # the table, and rows written before keep working as they are.
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hash_signal", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("hash_value", sa.LargeBinary(), nullable=True))
        batch_op.drop_index("ix_items_active")
        batch_op.drop_index("ix_items_category")
    with op.batch_alter_table("index_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_item_id", _ID, nullable=True))


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # Batch mode drops columns by copying the table, which the rows of other
        # tables point at; the copy keeps every id, so nothing dangles after.
        op.execute("PRAGMA foreign_keys=OFF")
    # Back to one item_hashes row and one add row per imported item, so the
    # previous code finds every hash.
    op.execute(
        "INSERT INTO item_hashes (item_id, signal, value, variant, quality) "
        "SELECT id, hash_signal, hash_value, 'original', quality FROM items "
        "WHERE hash_value IS NOT NULL ORDER BY id"
    )
    op.execute(
        "INSERT INTO index_changes (item_id, op, created_at) "
        "SELECT items.id, 'add', index_changes.created_at FROM index_changes "
        "JOIN items ON items.id BETWEEN index_changes.item_id AND index_changes.last_item_id "
        "WHERE index_changes.op = 'add_range' AND items.hash_value IS NOT NULL AND items.active "
        "ORDER BY index_changes.id, items.id"
    )
    op.execute("DELETE FROM index_changes WHERE op = 'add_range'")
    with op.batch_alter_table("index_changes", schema=None) as batch_op:
        batch_op.drop_column("last_item_id")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index("ix_items_active", ["active"], unique=False)
        batch_op.create_index("ix_items_category", ["category"], unique=False)
        batch_op.drop_column("hash_value")
        batch_op.drop_column("hash_signal")
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")
