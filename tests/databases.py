"""Test databases: each kind made fresh per test, and the migrated schema built once
per kind and session, then copied into each test's database.

Running the Alembic migrations costs 0.1-0.2 s a database, which every test that
starts the app would pay again for the same schema. :class:`MigratedSchema` runs
them once per kind and gives each test a copy: a copy of the migrated SQLite file,
or on PostgreSQL the statements the migrations sent, replayed in the test's own
empty schema. Each test still has a database of its own, at the same head revision
as ``db.upgrade`` makes; tests of the migrations themselves run ``db.upgrade`` on
the bare ``database_url``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

from app import db
from app.settings import Settings

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DATABASES = ("sqlite", "postgresql")
"""Every test that uses a database runs on each of these, unless marked
``one_database`` (then the first alone)."""

Statement = tuple[str, Any, bool]
"""SQL text, its parameters, and whether it was sent with ``executemany``."""


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


@contextmanager
def _sent(marker: str) -> Iterator[list[Statement]]:
    """Collect every statement sent inside the block by an engine whose URL holds
    ``marker`` (the template schema's name)."""
    sent: list[Statement] = []

    def record(
        connection: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, many: bool
    ) -> None:
        if marker in str(connection.engine.url):
            sent.append((sql, parameters, many))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


class MigratedSchema:
    """The head schema of one kind of database, migrated once and copied per test."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind = kind
        self.folder = folder
        self._sqlite: Path | None = None
        self._statements: list[Statement] | None = None

    def copy_into(self, settings: Settings) -> None:
        """Bring ``settings``' empty database to the head revision, as
        ``db.upgrade(settings)`` would."""
        url = settings.effective_database_url
        if self.kind == "sqlite":
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self._sqlite_template(), sqlite_path(url))
            return
        statements = self._postgres_statements()
        engine = create_engine(url)
        try:
            with engine.begin() as connection:
                driver = connection.connection.driver_connection
                assert driver is not None
                cursor = driver.cursor()
                for sql, parameters, many in statements:
                    if many:
                        cursor.executemany(sql, parameters)
                    else:
                        cursor.execute(sql, parameters)
        finally:
            engine.dispose()

    def _sqlite_template(self) -> Path:
        if self._sqlite is None:
            path = self.folder / "template.db"
            db.upgrade(Settings(data_dir=self.folder / "var", database_url=f"sqlite:///{path}"))
            self._sqlite = path
        return self._sqlite

    def _postgres_statements(self) -> list[Statement]:
        if self._statements is None:
            with db.scratch_schema(POSTGRES_URL, "hw_template") as url:
                with _sent(url.rsplit("%3D", 1)[1]) as sent:
                    db.upgrade(Settings(data_dir=self.folder / "var", database_url=url))
                self._statements = list(sent)
        return self._statements
