"""Shared by the hash-list tests: random hashes, list files, what the database holds,
a fresh database, the command's environment and an upload to ``POST /import``."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, union_all

from app import db
from app.models import IndexChange, Item, ItemHash
from app.services.hashlists.formats import Format
from app.services.hashlists.importer import Hooks, import_hash_list
from app.services.hashlists.resume import ImportOptions, ImportSummary
from app.services.index_store import load_index, new_index
from app.services.sync import ADD_RANGE
from app.settings import Settings
from matching import Category
from tests.api import bearer
from tests.databases import POSTGRES_URL

rng = random.Random(6)


def hexes(count: int, digits: int = 64) -> list[str]:
    return [f"{rng.getrandbits(digits * 4):0{digits}x}" for _ in range(count)]


def csv_file(path: Path, rows: list[str], header: str = "signal,hash,category,case_ref") -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def count(engine: Engine, model: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def held(engine: Engine) -> set[tuple[str, str, str, str | None]]:
    """(signal, hex, category, case_ref) of every hash of an active item, in
    item_hashes or inline."""
    registered = (
        select(ItemHash.signal, ItemHash.value, Item.category, Item.case_ref)
        .join(Item, Item.id == ItemHash.item_id)
        .where(Item.active.is_(True))
    )
    inline = select(Item.hash_signal, Item.hash_value, Item.category, Item.case_ref).where(
        Item.active.is_(True), Item.hash_value.is_not(None)
    )
    with engine.connect() as conn:
        rows: list[Any] = list(conn.execute(union_all(registered, inline)))
        return {(s, v.hex(), c, r) for s, v, c, r in rows}


def ranges(engine: Engine) -> list[tuple[int, int]]:
    """(first, last) item id of each add_range row of the change feed, in order."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(IndexChange.item_id, IndexChange.last_item_id)
            .where(IndexChange.op == ADD_RANGE)
            .order_by(IndexChange.id)
        )
        return [(first, last or first) for first, last in rows]


def imported(
    engine: Engine, path: Path, opts: ImportOptions, hooks: Hooks | None = None, **kw: Any
) -> ImportSummary:
    """An import as ``hashwall import`` runs one: with an index of every active
    hash loaded from the database first."""
    index = new_index(Settings())
    with db.make_sessionmaker(engine)() as session:
        load_index(session, index)
    return import_hash_list(engine, path, opts, index, hooks, **kw)


def options(**changes: Any) -> ImportOptions:
    base: dict[str, Any] = {"fmt": Format.CSV, "category": Category.NCII, "operator": "tester"}
    return ImportOptions(**(base | changes))


@contextmanager
def fresh_database(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """An empty database of the same kind as ``settings``."""
    if settings.effective_database_url.startswith("sqlite"):
        other = Settings(data_dir=tmp_path / "b", database_url=f"sqlite:///{tmp_path / 'b.db'}")
        db.upgrade(other)
        yield other
        return
    with db.scratch_schema(POSTGRES_URL, "hw_test") as url:
        other = Settings(data_dir=tmp_path / "b", database_url=url)
        db.upgrade(other)
        yield other


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "HASHWALL_DATABASE_URL": settings.effective_database_url,
        "HASHWALL_DATA_DIR": str(settings.data_dir),
    }


def upload(client: TestClient, key: str, data: bytes, **form: str) -> Any:  # the httpx response
    return client.post(
        "/import",
        files={"file": ("list.txt", io.BytesIO(data))},
        data={"format": "csv", "category": "ncii", **form},
        headers=bearer(key),
    )


def fresh_index(engine: Engine) -> Any:
    """A new index loaded from what ``engine``'s database holds."""
    index = new_index(Settings())
    with db.make_sessionmaker(engine)() as session:
        load_index(session, index)
    return index
