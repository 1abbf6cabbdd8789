"""From uploaded bytes to the hashes that are stored or searched.

Register and check run the same steps, so a re-upload of a registered file
produces the same bits: decode (one canonical path), trim uniform borders,
shrink to a square canvas, hash every rotation and flip.

Every step reads luma only (PDQ and pHash hash it, trimming and the embedded
picture look at it), so images are decoded to luma and frames turned to luma
once, before anything else: a third of the pixels to resize and no chroma to
decode. PDQ of luma equals the reference's PDQ of the colour pixels whose luma
it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hashing.augment import variant_hashes
from hashing.borders import Box, crop, luma, trim_passes
from hashing.canvas import canvas
from hashing.cells import Cells, cells
from hashing.decode import DecodeLimits, ImageFormat, decode_image
from hashing.embedded import find_embedded
from hashing.features import LocalFeatures, item_features, upload_frame
from hashing.hashers import pdq_dihedral, phash_dihedral, phash_thumbnail, sha256
from hashing.transforms import Transform
from hashing.types import HashValue
from hashing.variants import TRIM_VIEWS, Variant, of_untrimmed


@dataclass(frozen=True, slots=True)
class View:
    """The image hashed after one depth of border trimming.

    ``pdq`` and ``phash`` map each transform *applied to the image* to its hash.
    """

    name: Variant
    content: Box
    """Where this view sits in the decoded pixels."""
    pdq: dict[Transform, HashValue]
    phash: dict[Transform, HashValue]
    quality: int
    halves: tuple[HashValue, HashValue] | None = None
    """PDQ of the top and bottom bands of the canvas (see :func:`halves`); made
    for the primary view only."""
    mirrored_halves: tuple[HashValue, HashValue] | None = None
    """The same bands of the horizontally flipped canvas."""


@dataclass(frozen=True, slots=True)
class ImageHashes:
    """Every hash of one still image.

    ``views`` holds one view per distinct trimming depth, primary first; a photo
    without a flat edge has one. The ORIGINAL orientation of each view is what
    gets registered; every orientation of every view is searched on a check.
    """

    sha256: HashValue
    views: list[View]
    format: ImageFormat
    width: int
    height: int
    variants: list[tuple[str, HashValue]]
    """Named PDQ hashes of crops and small rotations of the primary view (and of
    the untrimmed image when trimming took something), made for registrations
    only (see :mod:`hashing.augment`)."""
    local: LocalFeatures | None = None
    """A registration's local features (:mod:`hashing.features`); None when not
    asked for. A check's are made from its ``frame`` only if the global hashes
    leave the decision open (:func:`matching.still.search_still`)."""
    cells: Cells | None = None
    """A registration's cell signatures, stored with its local features."""
    frame: npt.NDArray[np.uint8] | None = None
    """A check's feature frame (luma, :func:`hashing.features.upload_frame`):
    what its keypoints are found in and a local match's content is checked
    against; never stored."""

    @property
    def primary(self) -> View:
        return self.views[0]

    @property
    def halves(self) -> tuple[HashValue, HashValue] | None:
        """PDQ of the top and bottom bands of the primary view's canvas (a caption
        or banner across the middle leaves both intact); None when the layout
        views were not made (:func:`hash_pixels`)."""
        return self.primary.halves

    @property
    def pdq(self) -> dict[Transform, HashValue]:
        return self.primary.pdq

    @property
    def phash(self) -> dict[Transform, HashValue]:
        return self.primary.phash

    @property
    def quality(self) -> int:
        return self.primary.quality

    @property
    def content(self) -> Box:
        return self.primary.content


# Trimming passes; the view after each pass that changed the box is hashed.
TRIM_PASSES = len(TRIM_VIEWS)


def hash_view(
    pixels: npt.NDArray[np.uint8], box: Box, name: Variant, *, with_halves: bool = False
) -> View:
    """Shrink the content box to the canvas and hash all eight orientations (and,
    ``with_halves``, the canvas's top and bottom bands); RGB pixels or luma."""
    square = canvas(crop(pixels, box))
    pdq_hashes, quality = pdq_dihedral(square)
    bands = halves(square) if with_halves else {}
    return View(
        name,
        box,
        pdq_hashes,
        phash_dihedral(phash_thumbnail(luma(square))),
        quality,
        bands.get(Transform.ORIGINAL),
        bands.get(Transform.FLIP_HORIZONTAL),
    )


def hash_pixels(pixels: npt.NDArray[np.uint8], *, layouts: bool = True) -> list[View]:
    """Hash the view after every border-trimming pass that changed the box, and the
    whole image too when trimming took anything (RGB pixels or luma).

    With ``layouts``, the first view also carries the bands of its canvas
    (:func:`halves`), and a picture found embedded in a larger canvas (a
    screenshot's app frame, see :mod:`hashing.embedded`) is a view of its own.
    These guess at two layouts of an edited picture (a caption across it, an app
    around it) for the global hashes; the local tier finds a picture under any
    caption and inside any canvas, so they are needed only to match items
    registered without local features (docs/local-features.md), and cost half
    of this function's time.

    Most photos give one view. A photo with a flat edge (sky, a studio backdrop)
    gives one per layer peeled, and a padded copy of it one layer deeper; an edit
    can also hide or reveal a flat edge (noise, blur, contrast). Searching every
    view of the upload against every registered view lines the layers up: on
    the dev corpus this took padding, noise, blur and contrast misses from 10
    photos to none.
    """
    pixels = luma(pixels)
    boxes = trim_passes(pixels, TRIM_PASSES)
    views = [
        hash_view(pixels, box, name, with_halves=layouts and name is Variant.TRIM1)
        for name, box in zip(TRIM_VIEWS, boxes, strict=False)
    ]
    height, width = pixels.shape[:2]
    whole = Box(0, height, 0, width)
    if boxes[0] != whole:
        views.append(hash_view(pixels, whole, Variant.UNTRIMMED))
    embedded = find_embedded(pixels) if layouts else None
    if embedded is not None and not any(_near(embedded, box) for box in boxes):
        views.append(hash_view(pixels, embedded, Variant.EMBEDDED))
    return views


# Rows of the canvas in each half: 42.5% of 320, leaving the middle 15% out.
HALF_ROWS = 136


def halves(square: npt.NDArray[np.uint8]) -> dict[Transform, tuple[HashValue, HashValue]]:
    """PDQ of the top and bottom bands of a canvas, the middle 15% left out, as is
    and flipped horizontally (a flip keeps a band where it was; the reference's
    DCT-domain flip of a band equals hashing the flipped band, pinned in a test).

    A text banner across the middle moved whole-image PDQ by 38 bits at the
    median; both bands of all but 3 of 54 bannered photos stayed within 31 bits,
    while no two unrelated photos (nor two shots of one scene) had both bands
    closer than 92 bits.
    """
    top, _ = pdq_dihedral(square[:HALF_ROWS])
    bottom, _ = pdq_dihedral(square[-HALF_ROWS:])
    return {t: (top[t], bottom[t]) for t in (Transform.ORIGINAL, Transform.FLIP_HORIZONTAL)}


def _variants(pixels: npt.NDArray[np.uint8], views: list[View]) -> list[tuple[str, HashValue]]:
    """Crop and rotation variants of the primary view and, when trimming took
    something, of the whole image too: an edit of a photo with a flat edge (a
    rotation's black corners, a tight crop) can change what trimming keeps."""
    out: list[tuple[str, HashValue]] = list(variant_hashes(crop(pixels, views[0].content)))
    untrimmed = [v for v in views if v.name is Variant.UNTRIMMED]
    if untrimmed:
        out += [
            (of_untrimmed(name), value)
            for name, value in variant_hashes(crop(pixels, untrimmed[0].content))
        ]
    return out


def _near(a: Box, b: Box, slack: float = 0.02) -> bool:
    """Whether two boxes differ by at most ``slack`` of their size on every side."""
    dy, dx = slack * max(a.height, b.height), slack * max(a.width, b.width)
    return (
        abs(a.top - b.top) <= dy
        and abs(a.bottom - b.bottom) <= dy
        and abs(a.left - b.left) <= dx
        and abs(a.right - b.right) <= dx
    )


def hash_image_bytes(
    data: bytes,
    limits: DecodeLimits | None = None,
    *,
    variants: bool = False,
    local: bool = False,
    item: bool = False,
    layouts: bool = True,
) -> ImageHashes:
    """Decode and hash an uploaded still image; ``variants`` adds the crop and
    rotation hashes a registration may store; ``local`` adds the upload's
    feature frame (what the local tier searches with) and, when ``item`` is set,
    the item's local features and cells too (a registration is searched for
    before it is stored, to find an item that already holds it); ``layouts``
    makes the layout views (:func:`hash_pixels`).

    Raises :class:`hashing.decode.DecodeError` for anything that is not a
    decodable image within ``limits``.
    """
    decoded = decode_image(data, limits, gray=True)
    views = hash_pixels(decoded.pixels, layouts=layouts)
    features: LocalFeatures | None = None
    cell_signatures: Cells | None = None
    frame: npt.NDArray[np.uint8] | None = None
    if local and item:
        features, item_frame = item_features(decoded.pixels)
        cell_signatures = cells(item_frame)
    if local:
        frame = upload_frame(decoded.pixels)
    return ImageHashes(
        sha256=sha256(data),
        views=views,
        format=decoded.format,
        width=decoded.width,
        height=decoded.height,
        variants=_variants(decoded.pixels, views) if variants else [],
        local=features,
        cells=cell_signatures,
        frame=frame,
    )
