"""Databases made before inline hashes were migrated: an item registered then is
held after migrate, and migrating back to 0008 turns inline hashes into rows."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import Engine, inspect, text, update

from app import db
from app.models import Item, utcnow
from app.services.hashlists.importer import import_hash_list
from app.settings import Settings
from tests.services.hashlist_files import csv_file, fresh_index, hexes, options


def insert_an_item_as_0008_wrote_it(engine: Engine, value: str) -> None:
    """Item 1 holding the pdq hash ``value`` (hex) in item_hashes, with its add row."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO items (id, media_type, category, active, created_at, created_by) "
                "VALUES (1, 'hashes', 'ncii', :t, :now, 'old')"
            ),
            {"t": True, "now": now},
        )
        conn.execute(
            text(
                "INSERT INTO item_hashes (item_id, signal, value, variant) "
                "VALUES (1, 'pdq', :v, 'original')"
            ),
            {"v": bytes.fromhex(value)},
        )
        conn.execute(
            text("INSERT INTO index_changes (item_id, op, created_at) VALUES (1, 'add', :now)"),
            {"now": now},
        )
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('items', 'id'), 1)"))


def test_databases_made_before_migrate_and_migrate_back(database_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", database_url=database_url)
    db.upgrade(settings, "0008")
    engine = db.make_engine(settings)
    value = hexes(1)[0]
    # an item registered before, as the old code wrote it
    insert_an_item_as_0008_wrote_it(engine, value)
    db.upgrade(settings)
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("items")}
    assert not indexes & {"ix_items_active", "ix_items_category"}
    imported = hexes(3)
    path = csv_file(
        tmp_path / "l.csv", [f"pdq,{v}" for v in [value, *imported]], header="signal,hash"
    )
    summary = import_hash_list(engine, path, options(), fresh_index(engine))
    assert (summary.added, summary.already_present) == (3, 1)  # the old item holds the first
    index = fresh_index(engine)
    assert index.sizes()["pdq"] == 4
    with engine.begin() as conn:
        conn.execute(update(Item).where(Item.id == 3).values(active=False))
    # Back to 0008: the inline hashes become item_hashes rows and each active
    # imported item an add row, as the code of that revision expects.
    engine.dispose()
    command.downgrade(db.alembic_config(settings), "0008")
    engine = db.make_engine(settings)
    with engine.connect() as conn:
        hashes = conn.execute(text("SELECT item_id, value FROM item_hashes ORDER BY item_id")).all()
        adds = conn.scalars(
            text("SELECT item_id FROM index_changes WHERE op = 'add' ORDER BY id")
        ).all()
        ranges = conn.scalar(text("SELECT count(*) FROM index_changes WHERE op <> 'add'"))
        columns = {c["name"] for c in inspect(conn).get_columns("items")}
    assert [(i, v.hex()) for i, v in hashes] == [(1, value)] + [
        (i, v) for i, v in zip((2, 3, 4), imported, strict=True)
    ]
    assert adds == [1, 2, 4]
    assert ranges == 0
    assert "hash_value" not in columns
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("items")}
    assert {"ix_items_active", "ix_items_category"} <= indexes
    engine.dispose()
    db.upgrade(settings)
    engine = db.make_engine(settings)
    assert fresh_index(engine).sizes()["pdq"] == 3  # item 3 was deactivated
    engine.dispose()
