"""What a hostile client sends: keys judged before bodies, bounded JSON, control
characters, impossible dates and forged cursors. Each gets a precise 4xx and
changes nothing: on both databases where a database could see it, on SQLite alone
where the body is refused before any is asked (bounded JSON, file parts)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app import auth, db
from app.main import create_app
from app.services import keys
from app.settings import Settings
from tests.api import bearer
from tests.conftest import PHOTOS

PHOTO = PHOTOS[3].read_bytes()
PDQ = "f" * 32 + "0" * 32


@pytest.fixture
def export_key(settings: Settings) -> str:
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        key = keys.create_key(session, "exports", [auth.Scope.EXPORT], "test")
    engine.dispose()
    return key


def _index(client: TestClient) -> dict[str, int]:
    sizes: dict[str, int] = client.get("/readyz").json()["index"]
    return sizes


# -- 1. The key is judged before the body -------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "missing_api_key"),
        ({"Authorization": "Bearer bogus"}, 401, "invalid_api_key"),
        ({"Authorization": "Bearer hw_0123456789abcdef.bogus"}, 401, "invalid_api_key"),
    ],
)
@pytest.mark.parametrize("path", ["/check/hashes", "/register"])
def test_a_bad_key_is_refused_before_a_malformed_json_body(
    client: TestClient, path: str, headers: dict[str, str], status: int, code: str
) -> None:
    response = client.post(
        path, content=b'{"hashes": {"pdq": ["not hex"', headers={**headers, **_JSON}
    )
    assert response.status_code == status, response.text
    assert response.json()["error"] == code


_JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("path", ["/check", "/check/hashes", "/register", "/import"])
def test_a_wrong_scope_key_is_refused_before_the_body(
    client: TestClient, export_key: str, path: str
) -> None:
    # A malformed body of each kind: the scope is judged first either way.
    for body, content_type in (
        (b'{"hashes": ', "application/json"),
        (b"--x\r\nnot a part", "multipart/form-data; boundary=x"),
    ):
        response = client.post(
            path, content=body, headers={**bearer(export_key), "Content-Type": content_type}
        )
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "insufficient_scope"


# -- 2. JSON bodies are bounded ------------------------------------------------


@pytest.fixture
def small_json_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"max_json_bytes": 4096}))) as client:
        yield client


@pytest.mark.parametrize(("path", "role"), [("/check/hashes", "platform"), ("/register", "admin")])
@pytest.mark.one_database
def test_json_over_the_limit_is_413_declared_or_streamed(
    small_json_client: TestClient, api_keys: dict[str, str], path: str, role: str
) -> None:
    big = json.dumps({"hashes": {"pdq": [PDQ] * 200}, "category": "ncii"}).encode()
    assert len(big) > 4096
    declared = small_json_client.post(
        path, content=big, headers={**bearer(api_keys[role]), **_JSON}
    )
    assert declared.status_code == 413, declared.text
    assert declared.json()["error"] == "body_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: cut off while streaming
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    streamed = small_json_client.post(
        path, content=chunks(), headers={**bearer(api_keys[role]), **_JSON}
    )
    assert streamed.status_code == 413, streamed.text
    assert streamed.json()["error"] == "body_too_large"
    assert _index(small_json_client) == {"pdq": 0, "phash": 0, "sha256": 0}


@pytest.mark.one_database
def test_json_within_the_limit_still_works(
    small_json_client: TestClient, api_keys: dict[str, str]
) -> None:
    response = small_json_client.post(
        "/check/hashes", json={"hashes": {"pdq": [PDQ]}}, headers=bearer(api_keys["platform"])
    )
    assert response.status_code == 200, response.text


# -- 4. Control characters in text fields --------------------------------------

BAD_TEXT = ["u\x00", "a\x1bb", "tab\there", "x\x7f", "\u0085"]


@pytest.mark.parametrize("text", BAD_TEXT)
def test_control_characters_in_json_fields_are_422(
    client: TestClient, api_keys: dict[str, str], text: str
) -> None:
    cases = [
        (
            "/register",
            "trust_safety",
            {"hashes": {"pdq": [PDQ]}, "category": "ncii", "case_ref": text},
        ),
        ("/register", "trust_safety", {"hashes": {"pdq": [PDQ]}, "category": "ncii", "note": text}),
        ("/check/hashes", "platform", {"hashes": {"pdq": [PDQ]}, "upload_ref": text}),
    ]
    for path, role, body in cases:
        # json.dumps escapes every one of them, as a client library would.
        response = client.post(
            path, content=json.dumps(body).encode(), headers={**bearer(api_keys[role]), **_JSON}
        )
        if text.startswith("tab") and "note" in body:
            assert response.status_code == 201, response.text  # a note may hold tabs
            continue
        assert response.status_code == 422, (path, body, response.text)
        assert response.json()["error"] == "invalid_text"
    assert _index(client)["pdq"] == (1 if text.startswith("tab") else 0)


@pytest.mark.one_database
def test_a_lone_surrogate_is_not_json(client: TestClient, api_keys: dict[str, str]) -> None:
    # It could not be stored as UTF-8; the JSON parser refuses it as it reads.
    body = b'{"hashes": {"pdq": ["' + PDQ.encode() + b'"]}, "upload_ref": "a \\ud800"}'
    response = client.post(
        "/check/hashes", content=body, headers={**bearer(api_keys["platform"]), **_JSON}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    assert "surrogate" in response.json()["detail"] or "escape" in response.json()["detail"]


@pytest.mark.parametrize("text", BAD_TEXT)
def test_control_characters_in_form_fields_are_422(
    client: TestClient, api_keys: dict[str, str], text: str
) -> None:
    staff, platform = bearer(api_keys["trust_safety"]), bearer(api_keys["platform"])
    registered = client.post(
        "/register", files={"file": ("p.jpg", PHOTO)}, data={"category": "ncii"}, headers=staff
    )
    assert registered.status_code == 201
    for field in ("case_ref", "note"):
        response = client.post(
            "/register",
            files={"file": ("q.jpg", PHOTOS[4].read_bytes())},
            data={"category": "ncii", field: text},
            headers=staff,
        )
        if field == "note" and text.startswith("tab"):
            assert response.status_code == 201, response.text
            continue
        assert response.status_code == 422, (field, response.text)
        assert response.json()["error"] == "invalid_text"
    # A re-upload with a bad upload_ref is refused as a whole, not answered
    # without its decision.
    response = client.post(
        "/check", files={"file": ("p.jpg", PHOTO)}, data={"upload_ref": text}, headers=platform
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_text"
    events = client.get("/events", headers=bearer(api_keys["admin"])).json()["events"]
    assert events == []


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("DELETE", "/items/1?reason=fp%00x", "trust_safety"),
        ("DELETE", "/items/1?reason=fp%0Ax", "trust_safety"),
        ("GET", "/events?platform=a%00", "admin"),
        ("GET", "/audit?action=a%00", "admin"),
        ("GET", "/events?platform=a%C2%85", "admin"),
    ],
)
def test_control_characters_in_query_parameters_are_422(
    client: TestClient, api_keys: dict[str, str], method: str, path: str, role: str
) -> None:
    registered = client.post(
        "/register",
        files={"file": ("p.jpg", PHOTO)},
        data={"category": "ncii"},
        headers=bearer(api_keys["trust_safety"]),
    )
    assert registered.status_code == 201
    response = client.request(method, path, headers=bearer(api_keys[role]))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_text"
    item = client.get("/items/1", headers=bearer(api_keys["trust_safety"])).json()
    assert item["active"] is True


def test_control_characters_in_an_imported_list_reject_the_line(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    lines = f"signal,hash,case_ref\npdq,{PDQ},bad\x00ref\npdq,{'e' * 64},good\n"
    response = client.post(
        "/import",
        files={"file": ("list.csv", lines.encode())},
        data={"format": "csv", "category": "ncii"},
        headers=bearer(api_keys["admin"]),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["added"], body["rejected"]) == (1, 1)
    assert body["rejections"][0]["line"] == 2
    assert "control character" in body["rejections"][0]["reason"]
    # Written out by hand: client libraries escape control characters in names.
    parts = [
        b'Content-Disposition: form-data; name="format"\r\n\r\ncsv',
        b'Content-Disposition: form-data; name="category"\r\n\r\nncii',
        b'Content-Disposition: form-data; name="file"; filename="li\x01st.csv"\r\n\r\n'
        + lines.encode(),
    ]
    body = b"".join(b"--b0\r\n" + part + b"\r\n" for part in parts) + b"--b0--\r\n"
    bad_name = client.post(
        "/import",
        content=body,
        headers={**bearer(api_keys["admin"]), "Content-Type": "multipart/form-data; boundary=b0"},
    )
    assert bad_name.status_code == 422, bad_name.text
    assert bad_name.json()["error"] == "invalid_text"


# -- 5. Dates no datetime can hold ---------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/events?to=9999-12-31",
        "/audit?to=9999-12-31",
        "/stats/matches?from=9999-01-01&to=9999-12-31",
        "/stats/matches?from=0001-01-01&to=0001-01-31&tz=Asia/Tokyo",
        "/stats/matches?from=9999-12-01&to=9999-12-31&tz=Pacific/Honolulu",
    ],
)
def test_dates_out_of_range_are_422(
    client: TestClient, api_keys: dict[str, str], path: str
) -> None:
    response = client.get(path, headers=bearer(api_keys["admin"]))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_period"


def test_the_last_representable_days_still_answer(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    admin = bearer(api_keys["admin"])
    assert client.get("/events?to=9999-12-30", headers=admin).status_code == 200
    assert (
        client.get("/stats/matches?from=0001-01-02&to=0001-01-31", headers=admin).status_code == 200
    )


# -- 6. Forged cursors ---------------------------------------------------------


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "forged",
    ["id:9223372036854775808", "id:-1", "id:0", "id:1e3", "id: 5", "id:" + "9" * 400],
)
@pytest.mark.parametrize("path", ["/events", "/audit"])
def test_forged_cursors_are_422(
    client: TestClient, api_keys: dict[str, str], path: str, forged: str
) -> None:
    response = client.get(
        path, params={"cursor": _cursor(forged)}, headers=bearer(api_keys["admin"])
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_cursor"


def test_the_largest_id_is_a_valid_cursor(client: TestClient, api_keys: dict[str, str]) -> None:
    response = client.get(
        "/events",
        params={"cursor": _cursor(f"id:{2**63 - 1}")},
        headers=bearer(api_keys["admin"]),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"events": [], "next_cursor": None}


# -- 9. One file part per upload ------------------------------------------------


@pytest.mark.parametrize("parts", [2, 999])
@pytest.mark.parametrize(
    ("path", "role"), [("/check", "platform"), ("/register", "trust_safety"), ("/import", "admin")]
)
@pytest.mark.one_database
def test_several_file_parts_are_400(
    client: TestClient, api_keys: dict[str, str], path: str, role: str, parts: int
) -> None:
    registered = client.post(
        "/register",
        files={"file": ("p.jpg", PHOTO)},
        data={"category": "ncii"},
        headers=bearer(api_keys["trust_safety"]),
    )
    assert registered.status_code == 201
    unregistered = PHOTOS[30].read_bytes()
    # Both orders: which part was hashed must not decide the answer.
    for first, second in ((unregistered, PHOTO), (PHOTO, unregistered)):
        files = [("file", ("a.jpg", first)), ("file", ("b.jpg", second))]
        files += [("file", (f"c{i}.jpg", b"x")) for i in range(parts - 2)]
        response = client.post(
            path,
            files=files,
            data={"category": "ncii", "format": "csv"},
            headers=bearer(api_keys[role]),
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_multipart"
    assert _index(client)["sha256"] == 1
