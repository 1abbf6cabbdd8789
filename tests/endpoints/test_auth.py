"""Every route but health demands a key with the right scope."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app import db
from app.services import keys
from app.settings import Settings
from testkit.edits import jpeg, load_rgb
from tests.api import bearer
from tests.conftest import PHOTOS


@pytest.fixture(scope="module")
def photo() -> bytes:
    return jpeg(load_rgb(str(PHOTOS[0])))


def test_health_needs_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "index": None}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": "Bearer hw_not-a-real-key"}, "invalid_api_key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_api_key"),
        ({"Authorization": "Bearer "}, "invalid_api_key"),
    ],
)
def test_missing_or_unknown_key_is_401(
    client: TestClient, photo: bytes, headers: dict[str, str], code: str
) -> None:
    for response in (
        client.post("/check", files={"file": ("a.jpg", photo)}, headers=headers),
        client.post(
            "/register",
            files={"file": ("a.jpg", photo)},
            data={"category": "ncii"},
            headers=headers,
        ),
        client.post("/check/hashes", json={"hashes": {"sha256": ["0" * 64]}}, headers=headers),
        client.get("/items/1", headers=headers),
        client.delete("/items/1?reason=x", headers=headers),
    ):
        assert response.status_code == 401
        assert response.json()["error"] == code
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_missing_key_is_401_before_the_body_is_judged(client: TestClient) -> None:
    """The check routes look the key up on the check's own thread, but a request
    with no key at all is refused before its body's shape is looked at."""
    for response in (
        client.post("/check", data={"upload_ref": "x"}),
        client.post("/check/hashes", json={"hashes": "not a map"}),
    ):
        assert response.status_code == 401
        assert response.json()["error"] == "missing_api_key"


def test_wrong_scope_is_403(client: TestClient, api_keys: dict[str, str], photo: bytes) -> None:
    platform, staff = bearer(api_keys["platform"]), bearer(api_keys["trust_safety"])
    denied = [
        client.post(
            "/register",
            files={"file": ("a.jpg", photo)},
            data={"category": "ncii"},
            headers=platform,
        ),
        client.get("/items/1", headers=platform),
        client.delete("/items/1?reason=x", headers=platform),
        client.post("/check", files={"file": ("a.jpg", photo)}, headers=staff),
        client.post("/check/hashes", json={"hashes": {"sha256": ["0" * 64]}}, headers=staff),
    ]
    for response in denied:
        assert response.status_code == 403
        assert response.json()["error"] == "insufficient_scope"


def test_admin_key_may_do_everything(
    client: TestClient, api_keys: dict[str, str], photo: bytes
) -> None:
    admin = bearer(api_keys["admin"])
    registered = client.post(
        "/register", files={"file": ("a.jpg", photo)}, data={"category": "other"}, headers=admin
    )
    assert registered.status_code == 201
    checked = client.post("/check", files={"file": ("a.jpg", photo)}, headers=admin)
    assert checked.json()["decision"] == "block"


def test_revoked_key_stops_working_at_once(
    client: TestClient, settings: Settings, api_keys: dict[str, str], photo: bytes
) -> None:
    headers = bearer(api_keys["platform"])
    assert (
        client.post("/check", files={"file": ("a.jpg", photo)}, headers=headers).status_code == 200
    )
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        keys.revoke_key(session, "platform", "test")
    engine.dispose()
    response = client.post("/check", files={"file": ("a.jpg", photo)}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_api_key"
