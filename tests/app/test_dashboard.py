"""The dashboard's login, scoping and headers (its charts are tested in Chromium,
tests/e2e/test_dashboard_browser.py)."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from app import auth, db
from app.services import keys
from app.settings import Settings
from tests.conftest import PHOTOS, bearer


def page_data(html: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html)
    assert found is not None
    data: dict[str, object] = json.loads(found.group(1))
    return data


def test_a_platform_key_sees_its_own_numbers_and_can_sign_out(
    settings: Settings, api_keys: dict[str, str]
) -> None:
    from app.main import create_app

    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        # A second key of the same platform, for exports only.
        exporter = keys.create_key(
            session, "platform-export", [auth.Scope.EXPORT], "test", platform="platform"
        )
        other = keys.create_key(session, "other", [auth.Scope.CHECK], "test")
    engine.dispose()
    # https: the session cookie is Secure, so the test client must look like HTTPS.
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        photo = PHOTOS[9]
        client.post(
            "/register",
            files={"file": (photo.name, photo.read_bytes())},
            data={"category": "illegal_filming"},
            headers=bearer(api_keys["trust_safety"]),
        )
        for key in (api_keys["platform"], other):
            client.post("/check", files={"file": ("u", photo.read_bytes())}, headers=bearer(key))
        assert client.post("/dashboard/login", data={"key": other}).status_code == 401
        signed_in = client.post("/dashboard/login", data={"key": exporter}, follow_redirects=False)
        assert signed_in.status_code == 303
        assert exporter not in signed_in.headers["location"]
        page = client.get("/dashboard")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        data = page_data(page.text)
        assert data["platform"] == "platform"
        assert data["totals"] == {"checks": 1, "matches": 1, "blocks": 1, "reviews": 0, "allows": 0}
        assert data["matches_by_category"] == {"illegal_filming": [0] * 89 + [1]}
        client.post("/dashboard/logout")
        gone = client.get("/dashboard", follow_redirects=False)
        assert gone.status_code == 303
        assert gone.headers["location"] == "/dashboard/login"
