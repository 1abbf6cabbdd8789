"""Slow clients on a real server: a body trickling in at one byte a second, or
stalling, gets a 408 in bounded time instead of holding a request slot; and CORS
stays off unless configured."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.conftest import hashwall, start_server
from tests.waiting import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def raw_post(url: str, path: str, declared: int, key: str) -> socket.socket:
    """Open a connection and send a POST's headers announcing ``declared`` bytes."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.sendall(
        (
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        ).encode()
    )
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str]]:
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(body)


@pytest.fixture
def slow_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "HASHWALL_BODY_IDLE_SECONDS": "2", "HASHWALL_BODY_SECONDS": "4"}


@pytest.fixture
def key(slow_env: dict[str, str]) -> str:
    """A valid key: the body of an authenticated request is what a slow client holds."""
    made = hashwall(slow_env, "keys", "create", "--name", "slow", "--scopes", "check,register")
    return made.stdout.strip()


def test_a_body_at_one_byte_a_second_gets_408(
    slow_env: dict[str, str], key: str, tmp_path: Path
) -> None:
    process, url = start_server(slow_env, tmp_path / "server.log")
    try:
        sock = raw_post(url, "/check/hashes", 1000, key)
        started = time.monotonic()
        sock.settimeout(0.5)
        answer = None
        # One byte a second: never idle for a whole second, but 1,000 s in all.
        for _ in range(60):
            try:
                sock.sendall(b" ")
            except OSError:
                break
            try:
                answer = read_response(sock)
                break
            except TimeoutError:
                time.sleep(0.5)
        elapsed = time.monotonic() - started
        sock.close()
        assert answer is not None, "no answer while trickling"
        status, body = answer
        assert status == 408
        assert body["error"] == "request_timeout"
        # The 4 s deadline, not the 2 s pause; the upper bound only says "bounded",
        # generously, since a busy machine stretches the trickle itself.
        assert 3.5 < elapsed < 30
        # The server still answers others at once.
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_stalled_body_gets_408(slow_env: dict[str, str], key: str, tmp_path: Path) -> None:
    process, url = start_server(slow_env, tmp_path / "server.log")
    try:
        sock = raw_post(url, "/register", 500, key)
        sock.sendall(b'{"hashes"')
        started = time.monotonic()
        status, body = read_response(sock)
        sock.close()
        assert status == 408
        assert body["error"] == "request_timeout"
        assert time.monotonic() - started < 30  # bounded: the 2 s pause, however busy
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_cors_is_off_unless_configured(env: dict[str, str], tmp_path: Path) -> None:
    preflight = {
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    process, url = start_server(env, tmp_path / "off.log")
    try:
        response = httpx.options(f"{url}/check", headers=preflight, timeout=5)
        assert "access-control-allow-origin" not in response.headers
        simple = httpx.get(f"{url}/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in simple.headers
    finally:
        process.terminate()
        process.wait(timeout=10)
    allowed = {**env, "HASHWALL_CORS_ORIGINS": '["https://moderation.example"]'}
    process, url = start_server(allowed, tmp_path / "on.log")
    try:
        ok = httpx.options(
            f"{url}/check", headers={**preflight, "Origin": "https://moderation.example"}
        )
        assert ok.headers["access-control-allow-origin"] == "https://moderation.example"
        refused = httpx.options(f"{url}/check", headers=preflight, timeout=5)
        assert "access-control-allow-origin" not in refused.headers
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(("path", "scopes"), [("/register", "register"), ("/check", "check")])
def test_a_client_gone_mid_upload_is_one_quiet_log_line(
    env: dict[str, str], tmp_path: Path, path: str, scopes: str
) -> None:
    made = hashwall(env, "keys", "create", "--name", "gone", "--scopes", scopes)
    log = tmp_path / "server.log"
    process, url = start_server(env, log)
    try:
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
            sock.sendall(
                (
                    f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                    f"Authorization: Bearer {made.stdout.strip()}\r\n"
                    "Content-Type: multipart/form-data; boundary=b0\r\n"
                    "Content-Length: 5000000\r\n\r\n"
                    '--b0\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
                ).encode()
                + b"\xff\xd8\xff" * 1000
            )

        # Wait for the request's access-log line; the deadline is a hang guard.
        def logged() -> bool:
            assert process.poll() is None, log.read_text()
            return '"status": 499' in log.read_text()

        wait_until(logged, every_s=0.1, what=log.read_text)
    finally:
        process.terminate()
        process.wait(timeout=10)
    text = log.read_text()
    assert "Traceback" not in text
    assert '"level": "ERROR"' not in text
    assert text.count("client disconnected") == 1
