"""Names of the stored hash variants of an item: which picture a hash was made of.

Every hash an item stores carries one of these names (``item_hashes.variant``),
so the strings are part of the database and of exported hash lists; a
:class:`Variant` is a ``StrEnum`` so that a member is stored, compared and
serialised as exactly that string.
"""

from __future__ import annotations

from enum import StrEnum


class Variant(StrEnum):
    """The picture a stored hash was made of."""

    ORIGINAL = "original"
    """The picture itself: an item's inline hash (a bulk-imported entry)."""
    FILE = "file"
    """SHA-256 of the file's bytes."""
    VPDQ = "vpdq"
    """One frame of a video registered by its vPDQ hash."""

    # Views of a still or keyframe (:func:`hashing.pipeline.hash_pixels`).
    TRIM1 = "trim1"
    """The content after one pass of border trimming (the primary view)."""
    TRIM2 = "trim2"
    TRIM3 = "trim3"
    UNTRIMMED = "untrimmed"
    """The whole image, when trimming took something."""
    EMBEDDED = "embedded"
    """A picture found inside a larger canvas (:mod:`hashing.embedded`)."""

    # Layouts: the top and bottom bands of the primary view's canvas
    # (:func:`hashing.pipeline.halves`).
    HALF_TOP = "half_top"
    HALF_BOTTOM = "half_bottom"

    # Crops and small rotations of a registered image (:mod:`hashing.augment`):
    # centred crops keeping a share of each side, crops anchored at the top-left,
    # top-right, bottom-left and bottom-right corners, rotations in degrees
    # counter-clockwise.
    CENTRE95 = "centre95"
    CENTRE90 = "centre90"
    CENTRE85 = "centre85"
    CENTRE80 = "centre80"
    TL95 = "tl95"
    TR95 = "tr95"
    BL95 = "bl95"
    BR95 = "br95"
    TL92 = "tl92"
    TR92 = "tr92"
    BL92 = "bl92"
    BR92 = "br92"
    TL89 = "tl89"
    TR89 = "tr89"
    BL89 = "bl89"
    BR89 = "br89"
    TL86 = "tl86"
    TR86 = "tr86"
    BL86 = "bl86"
    BR86 = "br86"
    ROT_MINUS6 = "rot-6"
    ROT_MINUS3 = "rot-3"
    ROT_PLUS3 = "rot+3"
    ROT_PLUS6 = "rot+6"


UNTRIMMED_PREFIX = f"{Variant.UNTRIMMED}-"


def of_untrimmed(variant: Variant) -> str:
    """The stored name of a crop or rotation variant made of the whole image
    rather than of its trimmed content (``untrimmed-`` and the variant's name,
    e.g. ``untrimmed-centre90``), when trimming took something
    (:func:`hashing.pipeline.hash_image_bytes`)."""
    return UNTRIMMED_PREFIX + variant


TRIM_VIEWS = (Variant.TRIM1, Variant.TRIM2, Variant.TRIM3)
"""The view after each border-trimming pass, in order."""
