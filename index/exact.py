"""Exact lookup for cryptographic digests, where only equality means anything."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from index.binary import Hit


class ExactIndex:
    """Maps each digest to the keys that own it; a hit always has distance 0."""

    def __init__(self) -> None:
        self._owners: dict[bytes, set[int]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Live (digest, key) pairs held."""
        with self._lock:
            return sum(len(keys) for keys in self._owners.values())

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

    def contains(self, codes: Sequence[bytes]) -> npt.NDArray[np.bool_]:
        """For each of ``codes``, whether some key holds it."""
        with self._lock:
            return np.fromiter((code in self._owners for code in codes), np.bool_, len(codes))

    def search(self, queries: Sequence[bytes]) -> list[Hit]:
        with self._lock:
            return [
                Hit(query, key, 0)
                for query, code in enumerate(queries)
                for key in self._owners.get(code, ())
            ]

    def save(self, directory: Path) -> dict[str, int]:
        """Write ``codes.npy`` (one digest per row) and ``keys.npy``."""
        with self._lock:
            pairs = [(code, key) for code, keys in self._owners.items() for key in keys]
        width = len(pairs[0][0]) if pairs else 0
        codes = np.frombuffer(b"".join(c for c, _ in pairs), np.uint8).reshape(len(pairs), width)
        np.save(directory / "codes.npy", codes, allow_pickle=False)
        np.save(
            directory / "keys.npy", np.asarray([k for _, k in pairs], np.int64), allow_pickle=False
        )
        return {"rows": len(pairs), "bits": width * 8}

    def load(self, directory: Path, contents: Mapping[str, int]) -> None:
        rows = contents["rows"]
        codes = np.load(directory / "codes.npy", allow_pickle=False)
        keys = np.load(directory / "keys.npy", allow_pickle=False)
        if len(codes) != rows or keys.shape != (rows,):
            raise ValueError(f"{directory}: expected {rows} rows")
        owners: dict[bytes, set[int]] = {}
        for code, key in zip(codes, keys.tolist(), strict=True):
            owners.setdefault(code.tobytes(), set()).add(key)
        with self._lock:
            self._owners = owners
