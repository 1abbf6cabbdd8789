"""Exact lookup for cryptographic digests, where only equality means anything."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from index.binary import Hit


class ExactIndex:
    """Maps each digest to the keys that own it; a hit always has distance 0."""

    def __init__(self) -> None:
        self._owners: dict[bytes, set[int]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._owners)

    def add(self, code: bytes, key: int) -> None:
        with self._lock:
            self._owners.setdefault(code, set()).add(key)

    def remove(self, code: bytes, key: int) -> None:
        with self._lock:
            owners = self._owners.get(code)
            if owners is None:
                return
            owners.discard(key)
            if not owners:
                del self._owners[code]

    def search(self, queries: Sequence[bytes]) -> list[Hit]:
        with self._lock:
            return [
                Hit(query, key, 0)
                for query, code in enumerate(queries)
                for key in self._owners.get(code, ())
            ]
