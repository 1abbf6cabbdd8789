"""A key is judged from the headers alone, on a real server: a request with no
key, an unknown one or one without the route's scope is answered while its
body has barely begun, never after the whole of it arrived."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import hashwall, start_server

ANSWER_WITHIN = 10.0
"""Seconds to wait for the answer. The body never comes, so a server that read
it first would answer only after its idle timeout (set far above this)."""


def refused_early(
    url: str, path: str, content_type: str, declared: int, key: str | None
) -> tuple[int, str]:
    """Send a POST's headers announcing ``declared`` bytes and its first 1 KiB,
    then wait for the answer without sending more; returns (status, error code)."""
    parts = urlsplit(url)
    auth = f"Authorization: Bearer {key}\r\n" if key is not None else ""
    with socket.create_connection((parts.hostname, parts.port), timeout=ANSWER_WITHIN) as sock:
        sock.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{auth}"
                f"Content-Type: {content_type}\r\nContent-Length: {declared}\r\n\r\n"
            ).encode()
            + b"-" * 1024
        )
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)  # socket.timeout fails the test
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)["error"]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_bad_keys_are_refused_before_the_body_arrives(env: dict[str, str], tmp_path: Path) -> None:
    env = {**env, "HASHWALL_BODY_IDLE_SECONDS": "60", "HASHWALL_BODY_SECONDS": "120"}
    assert hashwall(env, "db", "upgrade").returncode == 0
    made = hashwall(env, "keys", "create", "--name", "exports", "--scopes", "export")
    assert made.returncode == 0, made.stderr
    export_key = made.stdout.strip()
    process, url = start_server(env, tmp_path / "server.log")
    multipart = "multipart/form-data; boundary=x"
    json_type = "application/json"
    try:
        for path, content_type, declared in (
            ("/check", multipart, 40_000_000),
            ("/check/hashes", json_type, 100_000_000),
            ("/register", multipart, 40_000_000),
            ("/register", json_type, 100_000_000),
            ("/import", multipart, 40_000_000),
        ):
            for key, status, code in (
                (None, 401, "missing_api_key"),
                ("bogus", 401, "invalid_api_key"),
                (export_key, 403, "insufficient_scope"),
            ):
                got = refused_early(url, path, content_type, declared, key)
                assert got == (status, code), (path, content_type, key)
    finally:
        process.terminate()
        process.wait(timeout=10)
