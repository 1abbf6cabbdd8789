"""Fixtures shared by every test: real databases (SQLite and PostgreSQL), the app,
API keys and real photos.

A test that uses a database runs once on each kind. One whose subject is hashing,
decoding, video or matching, and that asserts nothing about what is stored, counted,
exported, synced or migrated, is marked ``@pytest.mark.one_database`` and runs on
SQLite alone: a marker rather than a second fixture, so the test still asks for the
same ``settings``/``client`` as every other, ``pytest -m one_database`` lists them,
and removing the marker puts it back on both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app import auth, db
from app.main import create_app
from app.services import keys
from app.settings import Settings
from tests.api import Api
from tests.databases import DATABASES, POSTGRES_URL, MigratedSchema

FIXTURES = Path(__file__).parent / "fixtures"
PHOTOS = sorted(p for p in (FIXTURES / "photos").iterdir() if p.suffix in (".jpg", ".png"))


def _parametrizes(mark: pytest.Mark, argname: str) -> bool:
    names = mark.args[0] if mark.args else mark.kwargs["argnames"]
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",")]
    return argname in names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that uses ``database_url`` on every kind of database, or on
    SQLite alone if it is marked ``one_database``; a test that parametrizes
    ``database_url`` itself chooses its own."""
    if "database_url" not in metafunc.fixturenames:
        return
    if any(
        _parametrizes(m, "database_url") for m in metafunc.definition.iter_markers("parametrize")
    ):
        return
    one = metafunc.definition.get_closest_marker("one_database") is not None
    metafunc.parametrize("database_url", DATABASES[:1] if one else DATABASES, indirect=True)


@pytest.fixture(scope="session", autouse=True)
def commands_run_this_checkout() -> Iterator[None]:
    """The commands tests start (``hashwall serve``, ``hashwall export``...) import
    this checkout's code first, as the tests themselves do (``pythonpath`` in
    pyproject.toml): the virtualenv's editable install may point at another one."""
    paths = [str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
        yield


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of the kind ``request.param`` names; PostgreSQL gets
    its own schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hashwall.db'}"
        return
    with db.scratch_schema(POSTGRES_URL, "hw_test") as url:
        yield url


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MigratedSchema]:
    """The head schema of each kind of database, migrated once per session."""
    return {kind: MigratedSchema(kind, tmp_path_factory.mktemp(kind)) for kind in DATABASES}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, migrated: dict[str, MigratedSchema]) -> Settings:
    """Settings on a fresh database of this test's kind, at the head revision."""
    settings = Settings(data_dir=tmp_path / "var", database_url=database_url, index_load_wait=60)
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    migrated[kind].copy_into(settings)
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


@pytest.fixture
def api(client: TestClient, api_keys: dict[str, str]) -> Api:
    """The app's most used calls (register, check) with the keys of each role."""
    return Api(client, api_keys)
