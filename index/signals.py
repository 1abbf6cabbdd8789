"""One index per signal, and the local-feature index, behind a single object the
service holds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from index.binary import BinaryIndex, Hit
from index.exact import ExactIndex
from index.local import LocalIndex

LOCAL = "local"
"""The local index's name in a snapshot."""


class HashIndex:
    """Hamming indexes for perceptual signals and exact ones for digests.

    ``hamming`` maps a signal name to its code length in bits; ``exact`` names
    the signals matched only by equality; ``radius`` gives the distance each
    Hamming signal is usually searched at, which shapes its tables. ``local``
    is the local-feature index, when the service uses that tier. Keys are the
    caller's (item ids).
    """

    def __init__(
        self,
        hamming: Mapping[str, int],
        exact: Iterable[str],
        threads: int = 1,
        *,
        radius: Mapping[str, int] | None = None,
        merge_threshold: int | None = None,
        local: LocalIndex | None = None,
    ) -> None:
        extra = {} if merge_threshold is None else {"merge_threshold": merge_threshold}
        self._hamming = {
            name: BinaryIndex(bits, threads, radius=(radius or {}).get(name), **extra)
            for name, bits in hamming.items()
        }
        self._exact = {name: ExactIndex() for name in exact}
        self.local = local
        self.ready = False
        """Set by the owner once the initial load from the source of truth is done."""

    @property
    def signals(self) -> list[str]:
        return [*self._hamming, *self._exact]

    def sizes(self) -> dict[str, int]:
        """Live (hash, key) pairs held per signal."""
        sizes = {name: len(index) for name, index in self._hamming.items()}
        sizes.update({name: len(index) for name, index in self._exact.items()})
        return sizes

    def nbytes(self) -> dict[str, int]:
        """Approximate bytes held per Hamming signal."""
        return {name: index.nbytes for name, index in self._hamming.items()}

    def _unknown(self, signal: str) -> KeyError:
        return KeyError(f"no index for signal {signal!r}")

    def add(self, signal: str, code: bytes, key: int) -> None:
        if signal in self._hamming:
            self._hamming[signal].add(code, key)
        elif signal in self._exact:
            self._exact[signal].add(code, key)
        else:
            raise self._unknown(signal)

    def add_many(self, signal: str, entries: Iterable[tuple[bytes, int]]) -> None:
        if signal in self._hamming:
            self._hamming[signal].add_many(entries)
        else:
            for code, key in entries:
                self.add(signal, code, key)

    def reset(self, signal: str, codes: npt.NDArray[np.uint8], keys: npt.NDArray[np.int64]) -> None:
        """Replace one signal's contents with distinct (code, key) pairs."""
        if signal in self._hamming:
            self._hamming[signal].reset(codes, keys)
        elif signal in self._exact:
            self._exact[signal] = ExactIndex()
            for code, key in zip(codes, keys.tolist(), strict=True):
                self._exact[signal].add(code.tobytes(), key)
        else:
            raise self._unknown(signal)

    def remove(self, signal: str, code: bytes, key: int) -> None:
        if signal in self._hamming:
            self._hamming[signal].remove(code, key)
        elif signal in self._exact:
            self._exact[signal].remove(code, key)
        else:
            raise self._unknown(signal)

    def search(
        self,
        signal: str,
        queries: Sequence[bytes],
        max_distance: int = 0,
        *,
        exact_distance: int | None = None,
    ) -> list[Hit]:
        """Hits within ``max_distance`` bits (ignored for exact signals).

        See :meth:`BinaryIndex.search` for ``exact_distance``.
        """
        if signal in self._hamming:
            return self._hamming[signal].search(
                queries, max_distance, exact_distance=exact_distance
            )
        if signal in self._exact:
            return self._exact[signal].search(queries)
        raise self._unknown(signal)

    def contains(self, signal: str, codes: Sequence[bytes]) -> npt.NDArray[np.bool_]:
        """For each of ``codes``, whether some key holds exactly it (radius 0)."""
        if signal in self._hamming:
            return self._hamming[signal].contains(codes)
        if signal in self._exact:
            return self._exact[signal].contains(codes)
        raise self._unknown(signal)

    def merge(self) -> None:
        """Fold every signal's recent additions into its main segment now."""
        for index in self._hamming.values():
            index.wait_merged()
            index.merge()

    def _all(self) -> list[tuple[str, BinaryIndex | ExactIndex]]:
        return [*self._hamming.items(), *self._exact.items()]

    def save(self, directory: Path) -> dict[str, dict[str, int]]:
        """Write every signal under ``directory/<signal>/`` and the local index
        under ``directory/local/``; returns what was written."""
        written: dict[str, dict[str, int]] = {}
        for name, index in self._all():
            (directory / name).mkdir()
            written[name] = index.save(directory / name)
        if self.local is not None:
            (directory / LOCAL).mkdir()
            written[LOCAL] = self.local.save(directory / LOCAL)
        return written

    def load(self, directory: Path, contents: Mapping[str, Mapping[str, int]]) -> None:
        """Read what :meth:`save` wrote; ``contents`` is its return value."""
        expected = [*self.signals, *([LOCAL] if self.local is not None else [])]
        if set(contents) != set(expected):
            raise ValueError(f"snapshot holds {sorted(contents)}, expected {sorted(expected)}")
        # Every signal is read into a new index first, so a damaged file leaves
        # this one as it was rather than half replaced.
        hamming = {
            name: BinaryIndex(
                old.bits, old.threads, radius=old.radius, merge_threshold=old.merge_threshold
            )
            for name, old in self._hamming.items()
        }
        exact = {name: ExactIndex() for name in self._exact}
        fresh_all: list[tuple[str, BinaryIndex | ExactIndex]] = [*hamming.items(), *exact.items()]
        for name, fresh in fresh_all:
            fresh.load(directory / name, contents[name])
        local = None
        if self.local is not None:
            local = LocalIndex(self.local.vocabulary)
            local.load(directory / LOCAL, contents[LOCAL])
        self._hamming, self._exact, self.local = hamming, exact, local
