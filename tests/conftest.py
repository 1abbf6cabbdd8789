"""Fixtures shared by every test: real databases (SQLite and PostgreSQL), the app,
API keys and real photos."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app import auth, db
from app.main import create_app
from app.services import keys
from app.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
PHOTOS = sorted(p for p in (FIXTURES / "photos").iterdir() if p.suffix in (".jpg", ".png"))
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind; PostgreSQL gets its own schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hashwall.db'}"
        return
    with db.scratch_schema(POSTGRES_URL, "hw_test") as url:
        yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path / "var", database_url=database_url, index_load_wait=60)
    db.upgrade(settings)
    return settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def api_keys(settings: Settings) -> dict[str, str]:
    """Keys by role: a platform that checks, a T&S team that registers, and an admin."""
    engine = db.make_engine(settings)
    sessions = db.make_sessionmaker(engine)
    roles = {
        "platform": [auth.Scope.CHECK],
        "trust_safety": [auth.Scope.REGISTER],
        "admin": [auth.Scope.ADMIN],
    }
    with sessions() as session:
        made = {
            role: keys.create_key(session, role, scopes, "test") for role, scopes in roles.items()
        }
    engine.dispose()
    return made


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
