"""API keys are stored as salted digests and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app import auth, db
from app.models import ApiKey, utcnow
from app.services import keys
from app.settings import Settings
from tests.api import bearer

CHECK = {"hashes": {"pdq": ["ab" * 32]}}


def stored_row(settings: Settings, name: str) -> ApiKey:
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.name == name)).one()
        session.expunge(row)
    engine.dispose()
    return row


def make(settings: Settings, name: str) -> str:
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        key = keys.create_key(session, name, [auth.Scope.CHECK], "test")
    engine.dispose()
    return key


def test_only_a_salted_digest_of_the_secret_is_stored(settings: Settings) -> None:
    first, second = make(settings, "a"), make(settings, "b")
    for name, key in (("a", first), ("b", second)):
        row = stored_row(settings, name)
        parts = auth.split_key(key)
        assert parts is not None
        lookup, secret = parts
        assert row.lookup == lookup
        assert row.salt is not None
        assert len(bytes.fromhex(row.salt)) == 16
        assert row.digest == hashlib.sha256(bytes.fromhex(row.salt) + secret.encode()).hexdigest()
        # Neither the key, its secret nor an unsalted digest of either is stored.
        assert row.digest not in {hashlib.sha256(v.encode()).hexdigest() for v in (key, secret)}
        stored = " ".join(
            str(v) for v in (row.name, row.platform, row.digest, row.lookup, row.salt)
        )
        assert secret not in stored
    assert stored_row(settings, "a").salt != stored_row(settings, "b").salt


def test_the_secret_must_match_not_only_the_lookup_id(
    client: TestClient, settings: Settings
) -> None:
    key = make(settings, "platform-x")
    assert client.post("/check/hashes", json=CHECK, headers=bearer(key)).status_code == 200
    lookup, secret = auth.split_key(key)  # type: ignore[misc]
    wrong = f"hw_{lookup}.{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"
    for bad in (wrong, f"hw_{'0' * 16}.{secret}", f"hw_{lookup}.", key + "x"):
        response = client.post("/check/hashes", json=CHECK, headers=bearer(bad))
        assert response.status_code == 401, bad
        assert response.json()["error"] == "invalid_api_key"


def test_secrets_are_compared_in_constant_time_known_lookup_or_not(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make(settings, "timed")
    lookup, secret = auth.split_key(key)  # type: ignore[misc]
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    for candidate, expected in (
        (key, 200),
        (f"hw_{lookup}.{'x' * len(secret)}", 401),
        (f"hw_{'f' * 16}.{secret}", 401),  # an unknown lookup id is compared all the same
    ):
        status = client.post("/check/hashes", json=CHECK, headers=bearer(candidate)).status_code
        assert status == expected
    assert len(compared) == 3
    assert all(len(a) == len(b) == 64 for a, b in compared)


def test_keys_made_before_salts_still_work(client: TestClient, settings: Settings) -> None:
    legacy = "hw_" + "L" * 43
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        session.add(
            ApiKey(
                name="legacy",
                platform="legacy",
                digest=auth.digest(legacy),
                scopes="check",
                created_at=utcnow(),
            )
        )
        session.commit()
    engine.dispose()
    assert client.post("/check/hashes", json=CHECK, headers=bearer(legacy)).status_code == 200
    # A salted key's digest cannot be reached through the legacy path.
    salted = make(settings, "salted")
    row = stored_row(settings, "salted")
    assert auth.digest(salted) != row.digest
