"""The photo corpus, its dev/held-out split, and seeded randomness for edits.

The split decides, once and for all, which photos tuning may look at (``dev``) and
which only a final measurement may use (``held``); within each part half the photos
are registered and half are not (the others stand in for innocent uploads and serve
as collage partners, backgrounds and picture-in-picture hosts).

Each photo's part depends on the SHA-256 of its file name alone, so adding or
removing photos never moves another photo between dev and held-out, and the split is
the same on every machine:

* the first 8 bytes of ``sha256(name)`` read as a fraction u in [0, 1): u < 2/3 is
  dev, otherwise held-out (about 2/3 dev, 1/3 held-out);
* the next 8 bytes read the same way: < 1/2 is registered, otherwise unregistered.

For the 54-photo development corpus this gives 19 dev registered, 17 dev unregistered,
9 held-out registered and 9 held-out unregistered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from testkit.edits import Pixels, load_rgb

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus-dev"
SUFFIXES = (".jpg", ".jpeg", ".png")

DEV_SHARE = 2 / 3
"""Share of photos (in expectation) that tuning may look at."""
REGISTERED_SHARE = 1 / 2
"""Share of each part (in expectation) that is registered."""


def load_corpus(folder: Path = DEFAULT_CORPUS) -> dict[str, Pixels]:
    """Every .jpg/.jpeg/.png in ``folder`` as RGB uint8 pixels, keyed by file name,
    in name order. Raises ``ValueError`` if a file cannot be decoded."""
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)
    return {path.name: load_rgb(str(path)) for path in paths}


@dataclass(frozen=True)
class Split:
    """Photo names by part, each sorted. See the module docstring for the rule."""

    dev_registered: tuple[str, ...]
    dev_unregistered: tuple[str, ...]
    held_registered: tuple[str, ...]
    held_unregistered: tuple[str, ...]


def _fraction(digest: bytes, start: int) -> float:
    """Eight bytes of a digest read as a number in [0, 1)."""
    return int.from_bytes(digest[start : start + 8], "big") / 2**64


def split(names: Iterable[str]) -> Split:
    """Deterministic dev/held-out and registered/unregistered parts of ``names``."""
    parts: dict[tuple[bool, bool], list[str]] = {
        (dev, registered): [] for dev in (True, False) for registered in (True, False)
    }
    for name in sorted(set(names)):
        digest = hashlib.sha256(name.encode()).digest()
        dev = _fraction(digest, 0) < DEV_SHARE
        registered = _fraction(digest, 8) < REGISTERED_SHARE
        parts[dev, registered].append(name)
    return Split(
        dev_registered=tuple(parts[True, True]),
        dev_unregistered=tuple(parts[True, False]),
        held_registered=tuple(parts[False, True]),
        held_unregistered=tuple(parts[False, False]),
    )


def seeded(*parts: str) -> np.random.Generator:
    """A random generator seeded from the SHA-256 of ``parts`` (joined with a separator
    no name contains), so that e.g. ``seeded(family, photo)`` gives an edit's parameters
    from the family and the photo's name only, on every machine and run."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))
