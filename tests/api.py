"""The API calls tests make most, written once: an upload to ``/register`` or
``/check`` (one multipart file part) and hashes to ``/register`` or
``/check/hashes`` (JSON), each with the key of the role that may make it.

Every call returns the response as the client gave it, so a test still asserts
its status and body itself; nothing here asserts or retries.
"""

from __future__ import annotations

from typing import Any

import httpx2
from fastapi.testclient import TestClient


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Api:
    """``client`` with the keys of ``keys`` (by role: ``platform``,
    ``trust_safety``, ``admin``)."""

    def __init__(self, client: TestClient, keys: dict[str, str]) -> None:
        self.client = client
        self.keys = keys

    def register(
        self,
        data: bytes,
        name: str = "photo.jpg",
        *,
        category: str = "ncii",
        role: str = "trust_safety",
        **fields: str,
    ) -> httpx2.Response:
        """POST ``data`` as the file ``name`` to ``/register`` in ``category``, with
        any further form ``fields`` (``case_ref``, ``note``...)."""
        return self.client.post(
            "/register",
            files={"file": (name, data)},
            data={"category": category, **fields},
            headers=bearer(self.keys[role]),
        )

    def check(
        self, data: bytes, name: str = "upload.jpg", *, role: str = "platform", **fields: str
    ) -> httpx2.Response:
        """POST ``data`` as the file ``name`` to ``/check``, with any form ``fields``
        (``upload_ref``...)."""
        return self.client.post(
            "/check",
            files={"file": (name, data)},
            data=fields or None,
            headers=bearer(self.keys[role]),
        )

    def register_hashes(
        self, body: dict[str, Any], *, role: str = "trust_safety"
    ) -> httpx2.Response:
        """POST the JSON ``body`` (``hashes`` or ``vpdq``, ``category``...) to ``/register``."""
        return self.client.post("/register", json=body, headers=bearer(self.keys[role]))

    def check_hashes(self, body: dict[str, Any], *, role: str = "platform") -> httpx2.Response:
        """POST the JSON ``body`` (``hashes`` or ``vpdq``) to ``/check/hashes``."""
        return self.client.post("/check/hashes", json=body, headers=bearer(self.keys[role]))
