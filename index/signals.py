"""One index per signal behind a single object the service holds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from index.binary import BinaryIndex, Hit
from index.exact import ExactIndex


class HashIndex:
    """Hamming indexes for perceptual signals and exact ones for digests.

    ``hamming`` maps a signal name to its code length in bits; ``exact`` names
    the signals matched only by equality. Keys are the caller's (item ids).
    """

    def __init__(self, hamming: Mapping[str, int], exact: Iterable[str], threads: int = 1) -> None:
        self._hamming = {name: BinaryIndex(bits, threads) for name, bits in hamming.items()}
        self._exact = {name: ExactIndex() for name in exact}
        self.ready = False
        """Set by the owner once the initial load from the source of truth is done."""

    @property
    def signals(self) -> list[str]:
        return [*self._hamming, *self._exact]

    def sizes(self) -> dict[str, int]:
        """Distinct codes held per signal."""
        sizes = {name: len(index) for name, index in self._hamming.items()}
        sizes.update({name: len(index) for name, index in self._exact.items()})
        return sizes

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

    def remove(self, signal: str, code: bytes, key: int) -> None:
        if signal in self._hamming:
            self._hamming[signal].remove(code, key)
        elif signal in self._exact:
            self._exact[signal].remove(code, key)
        else:
            raise self._unknown(signal)

    def search(self, signal: str, queries: Sequence[bytes], max_distance: int = 0) -> list[Hit]:
        """Hits within ``max_distance`` bits (ignored for exact signals)."""
        if signal in self._hamming:
            return self._hamming[signal].search(queries, max_distance)
        if signal in self._exact:
            return self._exact[signal].search(queries)
        raise self._unknown(signal)
