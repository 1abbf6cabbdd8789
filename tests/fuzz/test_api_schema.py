"""Fuzz the HTTP API from its own OpenAPI schema with schemathesis.

Every operation gets a bounded number of generated requests (valid and invalid
ones) with an admin key. No request may make the service fail: every answer is
below 500 (a 503 ``overloaded`` is load shedding, not a failure) and every error
is a JSON ``{"error", "detail"}`` body.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation.case import Case
from schemathesis.python import asgi

from app import auth, db
from app.main import create_app
from app.services import keys
from app.settings import Settings
from tests.api import bearer

BASE_URL = f"http://{asgi.HOST}"


@pytest.fixture(scope="module")
def fuzz_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """SQLite only: the fuzzers check the web layer, the database suites cover both."""
    root: Path = tmp_path_factory.mktemp("schema-fuzz")
    fuzz = Settings(
        data_dir=root / "var", database_url=f"sqlite:///{root / 'hashwall.db'}", index_load_wait=60
    )
    db.upgrade(fuzz)
    return fuzz


@pytest.fixture(scope="module")
def admin_key(fuzz_settings: Settings) -> str:
    engine = db.make_engine(fuzz_settings)
    with db.make_sessionmaker(engine)() as session:
        key = keys.create_key(session, "fuzz-admin", [auth.Scope.ADMIN], "fuzz")
    engine.dispose()
    return key


@pytest.fixture(scope="module")
def fuzz_client(fuzz_settings: Settings) -> Iterator[asgi.ASGIClient]:
    """Schemathesis' in-process client; its first request starts the app's lifespan,
    which runs until the module ends (index follower and engine stopped then)."""
    app = cast(asgi.ASGIApp, create_app(fuzz_settings))
    with asgi.get_client(app) as client:
        yield client
    asgi.shutdown_lifespans()


# The schema comes from an app that never starts: building it touches no database.
# (schemathesis.pytest.from_fixture does not run under pytest 9.)
schema = schemathesis.openapi.from_dict(create_app(Settings(data_dir=Path("unused"))).openapi())


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_request_makes_the_api_fail(
    case: Case[Any], fuzz_client: asgi.ASGIClient, admin_key: str
) -> None:
    response = case.call(base_url=BASE_URL, session=fuzz_client, headers=bearer(admin_key))
    status = response.status_code
    assert status < 500 or (status == 503 and response.json()["error"] == "overloaded"), (
        f"{case.method} {case.formatted_path} answered {status}: {response.text[:500]}"
    )
    if status >= 400:
        content_type = response.headers.get("content-type")  # lowercased names
        assert content_type, response.text[:500]
        assert content_type[0].startswith("application/json"), response.text[:500]
        body = response.json()
        assert isinstance(body, dict)
        assert {"error", "detail"} <= body.keys(), body
        assert isinstance(body["error"], str)
