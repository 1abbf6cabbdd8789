"""Metrics, request ids and the access log."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re

from fastapi.testclient import TestClient

from app.observability import logging_config
from tests.api import Api, bearer
from tests.conftest import PHOTOS


def metric(client: TestClient, key: str, name: str, labels: str) -> float:
    """The value of one sample on the metrics page (0 when absent)."""
    page = client.get("/metrics", headers=bearer(key))
    assert page.status_code == 200
    for line in page.text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_checks_matches_registrations_and_refusals(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    admin = api_keys["admin"]
    # Counters live in the process, so compare before and after.
    block = 'decision="block",media_type="image"'
    before = {
        "checks": metric(client, admin, "hashwall_checks_total", block),
        "matches": metric(
            client, admin, "hashwall_matches_total", 'category="csam",decision="block"'
        ),
        "registered": metric(
            client, admin, "hashwall_registrations_total", 'category="csam",media_type="image"'
        ),
        "refused": metric(client, admin, "hashwall_decode_errors_total", 'code="empty_file"'),
    }
    photo = PHOTOS[7]
    api = Api(client, api_keys)
    api.register(photo.read_bytes(), photo.name, category="csam")
    for _ in range(2):
        api.check(photo.read_bytes(), photo.name)
    api.check(b"", "e")
    assert metric(client, admin, "hashwall_checks_total", block) == before["checks"] + 2
    assert (
        metric(client, admin, "hashwall_matches_total", 'category="csam",decision="block"')
        == before["matches"] + 2
    )
    assert (
        metric(client, admin, "hashwall_registrations_total", 'category="csam",media_type="image"')
        == before["registered"] + 1
    )
    assert (
        metric(client, admin, "hashwall_decode_errors_total", 'code="empty_file"')
        == before["refused"] + 1
    )
    ready = client.get("/readyz").json()["index"]
    for signal, size in ready.items():
        assert metric(client, admin, "hashwall_index_hashes", f'signal="{signal}"') == size
    assert (
        metric(client, admin, "hashwall_request_seconds_count", 'method="POST",route="/check"') >= 3
    )


def test_metrics_need_an_operators_key(client: TestClient, api_keys: dict[str, str]) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer(api_keys["platform"])).status_code == 403


def test_every_answer_carries_a_request_id(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "upload-42.a"})
    assert given.headers["x-request-id"] == "upload-42.a"
    hostile = client.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert len(hostile.headers["x-request-id"]) == 32  # replaced by a fresh id
    assert client.get("/nowhere").headers["x-request-id"]


def test_access_log_is_json_with_the_request_id_and_no_key(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    stream = io.StringIO()
    config = logging_config()
    config["handlers"]["stderr"] = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "filters": ["request_id"],
        "stream": stream,
    }
    logging.config.dictConfig(config)
    try:
        key = api_keys["platform"]
        client.post(
            "/check",
            files={"file": ("p.jpg", PHOTOS[3].read_bytes())},
            data={"upload_ref": "secret-case-7"},
            headers={**bearer(key), "X-Request-ID": "req-1"},
        )
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "hashwall.access"]
    assert len(access) == 1
    entry = access[0]
    assert entry["request_id"] == "req-1"
    assert entry["route"] == "/check"
    assert entry["status"] == 200
    assert entry["platform"] == "platform"
    assert entry["decision"] == "allow"
    assert entry["duration_ms"] > 0
    assert key not in stream.getvalue()
    assert "secret-case-7" not in stream.getvalue()


def test_api_docs_work_without_the_internet(client: TestClient) -> None:
    """/docs and /redoc load every script and style from the service itself."""
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html.text)
        assert assets, html.text
        for asset in assets:
            assert asset.startswith("/"), asset  # no CDN, no other host
            assert client.get(asset).status_code == 200, asset
        assert "https://" not in "".join(re.findall(r"<(?:script|link)[^>]*>", html.text))
