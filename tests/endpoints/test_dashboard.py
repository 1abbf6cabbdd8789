"""The dashboard's login, scoping and headers (its charts are tested in Chromium,
tests/e2e/test_dashboard_browser.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from app import auth, db
from app.main import create_app
from app.services import keys
from app.settings import Settings
from tests.api import Api, bearer
from tests.clock import START
from tests.conftest import PHOTOS


def page_data(html: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html)
    assert found is not None
    data: dict[str, object] = json.loads(found.group(1))
    return data


def test_a_platform_key_sees_its_own_numbers_and_can_sign_out(
    settings: Settings, api_keys: dict[str, str]
) -> None:
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
        Api(client, api_keys).register(photo.read_bytes(), photo.name, category="illegal_filming")
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


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def exporter(settings: Settings) -> str:
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        key = keys.create_key(session, "exporter", [auth.Scope.EXPORT], "test")
    engine.dispose()
    return key


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def https_client(settings: Settings, clock: ManualClock) -> Iterator[TestClient]:
    # https: the session cookie is Secure, so the test client must look like HTTPS.
    with TestClient(create_app(settings, clock=clock), base_url="https://testserver") as client:
        yield client


def signed_in(client: TestClient, key: str) -> str:
    response = client.post("/dashboard/login", data={"key": key}, follow_redirects=False)
    assert response.status_code == 303, response.text
    cookie = client.cookies.get("hashwall_dashboard")
    assert cookie is not None
    return cookie


def opens(client: TestClient, cookie: str) -> bool:
    client.cookies.set("hashwall_dashboard", cookie, path="/dashboard")
    page = client.get("/dashboard", follow_redirects=False)
    return page.status_code == 200


def test_the_cookie_is_a_session_id_not_the_key(https_client: TestClient, exporter: str) -> None:
    cookie = signed_in(https_client, exporter)
    assert exporter not in cookie
    assert opens(https_client, cookie)
    # It is not a key anywhere else.
    as_key = https_client.get("/events", headers=bearer(cookie))
    assert as_key.status_code == 401
    assert as_key.json()["error"] == "invalid_api_key"


def test_logout_ends_the_session_for_good(https_client: TestClient, exporter: str) -> None:
    cookie = signed_in(https_client, exporter)
    https_client.post("/dashboard/logout")
    assert not opens(https_client, cookie)  # the same value, replayed after logout


def test_revoking_the_key_ends_its_sessions(
    https_client: TestClient, exporter: str, settings: Settings
) -> None:
    cookie = signed_in(https_client, exporter)
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        keys.revoke_key(session, "exporter", "test")
    engine.dispose()
    assert not opens(https_client, cookie)


def test_a_session_expires(https_client: TestClient, exporter: str, clock: ManualClock) -> None:
    cookie = signed_in(https_client, exporter)
    clock.now = START + timedelta(hours=7, minutes=59)
    assert opens(https_client, cookie)
    clock.now = START + timedelta(hours=8, seconds=1)
    assert not opens(https_client, cookie)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://testserver"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_login_posted_from_another_site_is_refused(
    https_client: TestClient, exporter: str, headers: dict[str, str]
) -> None:
    response = https_client.post(
        "/dashboard/login", data={"key": exporter}, headers=headers, follow_redirects=False
    )
    assert response.status_code == 403
    assert "hashwall_dashboard" not in response.headers.get("set-cookie", "")
    assert https_client.cookies.get("hashwall_dashboard") is None


def test_a_login_from_the_services_own_page_is_taken(
    https_client: TestClient, exporter: str
) -> None:
    response = https_client.post(
        "/dashboard/login",
        data={"key": exporter},
        headers={"Origin": "https://testserver", "Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    # Behind a proxy that ends TLS, the scheme differs; the host is what counts.
    plain = https_client.post(
        "/dashboard/login",
        data={"key": exporter},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert plain.status_code == 303
