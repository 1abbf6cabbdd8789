"""``POST /import`` on SQLite and PostgreSQL: imported hashes match, bad lines and
bad requests are answered."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.settings import Settings
from tests.api import bearer
from tests.services.hashlist_files import hexes, upload


def test_post_import_then_check_hashes_matches_an_imported_hash(
    client: TestClient, api_keys: dict[str, str], settings: Settings
) -> None:
    values = hexes(12)
    body = "\n".join(f"pdq {h}" for h in values) + "\nvideo_md5 d41d8cd98f00b204e9800998ecf8427e\n"
    response = upload(
        client, api_keys["admin"], body.encode(), format="threatexchange", case_ref="R-1"
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["added"], result["already_present"], result["rejected"]) == (12, 0, 1)
    assert result["rejections"][0]["line"] == 13
    assert "video_md5" in result["rejections"][0]["reason"]
    assert result["case_ref"] == "R-1"
    assert result["lines"] == 13
    check = client.post(
        "/check/hashes",
        json={"hashes": {"pdq": [values[7]]}},
        headers=bearer(api_keys["platform"]),
    ).json()
    assert check["decision"] == "block"
    item = client.get(
        f"/items/{check['matches'][0]['item_id']}", headers=bearer(api_keys["admin"])
    ).json()
    assert (item["hashes"]["pdq"], item["case_ref"]) == ([values[7]], "R-1")
    again = upload(client, api_keys["admin"], body.encode(), format="threatexchange")
    assert again.json()["added"] == 0
    # The upload went through a private spool file that is gone.
    assert not any(settings.upload_dir.glob("upload-*"))


def test_post_import_of_only_bad_lines_answers_every_line(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    data = "signal,hash\n" + "\n".join(f"pdq,{i:x}" for i in range(1500)) + "\n"
    result = upload(client, api_keys["admin"], data.encode()).json()
    assert (result["added"], result["rejected"]) == (0, 1500)
    assert len(result["rejections"]) == 1000
    assert result["rejections_truncated"]
    assert result["rejections"][0] == {
        "line": 2,
        "reason": "a pdq hash is 64 hex digits, got '0'",
    }


def test_post_import_refuses_bad_requests(client: TestClient, api_keys: dict[str, str]) -> None:
    good = f"signal,hash\npdq,{hexes(1)[0]}\n".encode()
    response = client.post(
        "/import", files={"file": ("list.txt", good)}, data={"format": "csv", "category": "ncii"}
    )
    assert (response.status_code, response.json()["error"]) == (401, "missing_api_key")
    response = upload(client, "hw_0123456789abcdef.not-a-key", good)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_api_key")
    for role in ("platform", "trust_safety"):
        response = upload(client, api_keys[role], good)
        assert response.status_code == 403
        assert response.json()["error"] == "insufficient_scope"
    response = upload(client, api_keys["admin"], good, format="misp")
    assert (response.status_code, response.json()["error"]) == (422, "invalid_format")
    response = upload(client, api_keys["admin"], good, category="spam")
    assert (response.status_code, response.json()["error"]) == (422, "invalid_category")
    response = upload(client, api_keys["admin"], b"pdq,abc\n")
    assert (response.status_code, response.json()["error"]) == (422, "invalid_hash_list")
    response = client.post("/import", json={}, headers=bearer(api_keys["admin"]))
    assert response.status_code == 415
    response = client.post(
        "/import",
        data={"format": "csv", "category": "ncii"},
        files={"other": ("x", b"")},
        headers=bearer(api_keys["admin"]),
    )
    assert (response.status_code, response.json()["error"]) == (422, "invalid_request")
