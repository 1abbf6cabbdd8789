"""Real photos decoded and hashed once per test session (the fixtures are read-only)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hashing.decode import decode_image
from hashing.pipeline import ImageHashes, hash_image_bytes
from tests.conftest import FIXTURES, PHOTOS

PDQ_DIR = FIXTURES / "pdq"


def photo(name: str) -> Path:
    path = FIXTURES / "photos" / name
    assert path in PHOTOS, f"{name} is not one of the fixture photos"
    return path


@cache
def pixels(path: Path) -> npt.NDArray[np.uint8]:
    """The photo's RGB pixels as the service decodes them; do not modify."""
    decoded = decode_image(path.read_bytes()).pixels
    decoded.flags.writeable = False
    return decoded


@cache
def registered(path: Path) -> ImageHashes:
    """What registering the photo's file would store."""
    return hash_image_bytes(path.read_bytes())
