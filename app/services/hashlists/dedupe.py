"""Which hashes of an import are new: not held by an active item, and not met
earlier in the file.

Held hashes are asked of the in-memory index (an exact lookup), not of the
database: nothing is written per hash to a random-keyed b-tree, which is what
kept imports at a tenth of the target speed (docs/benchmarks.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import compress, repeat
from operator import eq, itemgetter

import numpy as np
import numpy.typing as npt

from app.services.hashlists.formats import Entry
from app.services.hashlists.seen import CodeSet
from hashing.types import Signal
from index import HashIndex

SIGNAL = itemgetter(1)
"""An :class:`Entry`'s signal, got in C."""
VALUE = itemgetter(2)
"""An :class:`Entry`'s hash bytes, got in C."""


def all_equal(first: object, items: Iterable[object]) -> bool:
    """Whether every item equals ``first``, compared in C (a set of enum members
    would hash each through Enum.__hash__, in Python)."""
    return all(map(eq, repeat(first), items))


class Held:
    """Which entries of a batch are new: not held by an active item (asked of the
    index, an exact lookup per signal), not new earlier in the file, and not
    earlier in the batch."""

    def __init__(self, index: HashIndex) -> None:
        self.index = index
        self.seen: dict[str, CodeSet] = defaultdict(CodeSet)
        """The hashes found new so far (the caller's index may never get them:
        the command's does not). A batch that then fails to commit ends the run,
        and a rerun starts again from the last committed line."""

    def new(self, entries: Sequence[Entry]) -> list[Entry]:
        """The new entries, in file order; from now on they count as seen."""
        if not entries:
            return []
        values = list(map(VALUE, entries))
        signal = entries[0].signal
        if all_equal(signal, map(SIGNAL, entries)) and len(set(values)) == len(values):
            # The common case, without a Python step per entry: one signal, no
            # hash twice in the batch.
            fresh = np.logical_not(self._known(signal.value, values)).tolist()
            self.seen[signal.value].add(list(compress(values, fresh)))
            return list(compress(entries, fresh))
        return self._new_mixed(entries)

    def _new_mixed(self, entries: Sequence[Entry]) -> list[Entry]:
        """:meth:`new` of a batch of several signals, or with a hash twice."""
        unique: dict[tuple[Signal, bytes], Entry] = {}
        for entry in entries:  # the first line with a hash keeps it
            unique.setdefault((entry.signal, entry.value), entry)
        by_signal: dict[Signal, list[bytes]] = defaultdict(list)
        for signal, value in unique:
            by_signal[signal].append(value)
        new_keys: set[tuple[Signal, bytes]] = set()
        for signal, group in by_signal.items():
            fresh = np.logical_not(self._known(signal.value, group)).tolist()
            new_values = list(compress(group, fresh))
            self.seen[signal.value].add(new_values)
            new_keys.update((signal, value) for value in new_values)
        return [entry for key, entry in unique.items() if key in new_keys]

    def _known(self, signal: str, values: list[bytes]) -> npt.NDArray[np.bool_]:
        return self.seen[signal].contains(values) | self.index.contains(signal, values)
