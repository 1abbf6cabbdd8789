"""Fixtures of the end-to-end tests: the ``hashwall`` command and a real server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.waiting import wait_until

HASHWALL = str(Path(sys.executable).parent / "hashwall")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HASHWALL_DATA_DIR": str(tmp_path / "var"),
        "HASHWALL_DATABASE_URL": database_url,
    }


def hashwall(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HASHWALL, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def start_server(
    env: dict[str, str], log: Path, port: int | None = None, workers: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``hashwall serve [--workers N]`` and wait until every worker is ready;
    returns the process and URL."""
    port = port or free_port()
    command = [HASHWALL, "serve", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    with log.open("ab") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"server did not start: {log.read_text()}")
        try:
            return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        if workers > 1:
            wait_workers_ready(process, log, url, workers)
        else:
            wait_until(ready, every_s=0.1, what=lambda: f"the server: {log.read_text()}")
    except BaseException:
        process.kill()
        raise
    return process, url


def wait_workers_ready(process: subprocess.Popen[bytes], log: Path, url: str, workers: int) -> None:
    """Wait until every worker process of ``hashwall serve --workers N`` has its
    index loaded: each logs it once (in a log of this start alone), and then fresh
    connections (which may reach any worker) all answer ``/readyz`` with 200.

    Uvicorn's start-up line comes before a worker has loaded its index, which a
    request then meets as 503 ``index_loading``.
    """

    def loaded() -> bool:
        assert process.poll() is None, log.read_text()
        return log.read_text().count("index loaded from") >= workers

    wait_until(loaded, deadline_s=60, every_s=0.2, what=log.read_text)
    deadline = time.monotonic() + 60
    ready_in_a_row = 0
    while ready_in_a_row < 4 * workers:
        assert time.monotonic() < deadline, log.read_text()
        try:
            ok = httpx.get(f"{url}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            ok = False
        ready_in_a_row = ready_in_a_row + 1 if ok else 0
        if not ok:
            time.sleep(0.1)


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    process, url = start_server(env, tmp_path / "server.log")
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
