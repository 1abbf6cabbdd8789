"""The benchmark's edit families, impostor pairs and corpus split, on fixture photos.

Behaviour, not fixed pixels: every family's upload decodes to a size its ranges
allow, the same (family, photo) always gives the same bytes, different photo names
get different parameters, and every impostor pair is two different uploads under one
overlay.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from testkit.corpus import load_corpus, seeded, split
from testkit.edits import Pixels, load_rgb
from testkit.families import FAMILIES, GROUPS, apply
from testkit.overlay_impostors import HARD_KINDS, KINDS, impostor_pairs, scene_pairs
from testkit.overlays import Stickers, stickers
from testkit.phone_chrome import PHONE_SCREENS
from tests.conftest import PHOTOS

BY_NAME = {path.name: path for path in PHOTOS}
SUBJECTS = ("p038.jpg", "p048.png", "p091.png")
"""A landscape JPEG, a small square PNG and a very wide PNG."""
OTHERS = ("p041.jpg", "p053.jpg", "p060.png")

Shape = tuple[int, int]
"""(height, width) in pixels."""


@cache
def pixels(name: str) -> Pixels:
    return load_rgb(str(BY_NAME[name]))


def decode(data: bytes) -> Pixels:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "upload does not decode"
    return np.asarray(image, dtype=np.uint8)


def area_share(low: float, high: float) -> Callable[[Shape, Shape], bool]:
    """The output keeps ``low``-``high`` of the input's area (one pixel of rounding)."""

    def check(before: Shape, after: Shape) -> bool:
        share = after[0] * after[1] / (before[0] * before[1])
        slack = (before[0] + before[1]) / (before[0] * before[1])
        return low - slack <= share <= high + slack

    return check


def same_size(before: Shape, after: Shape) -> bool:
    return before == after


SIZE_CHECKS: dict[str, Callable[[Shape, Shape], bool]] = {
    "jpeg_quality": same_size,
    "resize": area_share(0.25**2, 0.75**2),
    "mirror": same_size,
    "rotate_90s": lambda b, a: a in (b, b[::-1]),
    "pad": lambda b, a: (
        1.1 * b[0] - 2 <= a[0] <= 1.5 * b[0] + 2 and 1.1 * b[1] - 2 <= a[1] <= 1.5 * b[1] + 2
    ),
    "letterbox": lambda _, a: min(abs(a[1] / a[0] - r) for r in (16 / 9, 9 / 16)) < 0.02,
    "grayscale": same_size,
    "gamma": same_size,
    "contrast": same_size,
    "blur": same_size,
    "noise": same_size,
    "crop_90": area_share(0.85, 0.95),
    "brightness_up": same_size,
    "brightness_down": same_size,
    "browser_screenshot": lambda _, a: 800 <= a[0] <= 1080 and 1280 <= a[1] <= 1920,
    "meme_text": same_size,
    "crop_75": area_share(0.70, 0.80),
    "rotate_5": same_size,
    "crop_55": area_share(0.50, 0.60),
    "phone_screenshot": lambda _, a: a[::-1] in PHONE_SCREENS,
    "reframe_9x16": lambda _, a: abs(a[1] / a[0] - 9 / 16) < 0.01 and 432 <= a[1] <= 1080,
    "stickers": same_size,
    "picture_in_picture": lambda _, a: 640 <= a[1] <= 1280,
}
"""What each family's ranges allow of the output size; other families only need a
plausible size (see test_every_family_decodes_to_a_plausible_size)."""


def test_families_cover_every_group() -> None:
    assert {family.group for family in FAMILIES.values()} == set(GROUPS)
    assert all(name == family.name for name, family in FAMILIES.items())


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_decodes_to_a_plausible_size(name: str) -> None:
    others = [pixels(other) for other in OTHERS]
    for photo in SUBJECTS:
        before = pixels(photo).shape[:2]
        after = decode(apply(name, photo, pixels(photo), others)).shape[:2]
        assert min(after) >= 16, (photo, after)
        assert max(after) <= 4000, (photo, after)
        if name in SIZE_CHECKS:
            assert SIZE_CHECKS[name](before, after), f"{name} on {photo}: {before} -> {after}"


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_apply_is_deterministic(name: str) -> None:
    others = [pixels(other) for other in OTHERS]
    photo = SUBJECTS[1]
    first = apply(name, photo, pixels(photo), others)
    assert apply(name, photo, pixels(photo).copy(), list(others)) == first


def test_different_photos_get_different_parameters() -> None:
    """The same pixels under four photo names: every family's bytes differ between
    some names, and families with parameterised geometry vary the output size."""
    image = pixels(SUBJECTS[1])
    others = [pixels(other) for other in OTHERS]
    names = ("a.jpg", "b.jpg", "c.png", "d.png")
    sized = {
        "resize", "pad", "crop_90", "crop_75", "crop_55", "browser_screenshot",
        "phone_screenshot", "reframe_9x16", "monitor_photo", "collage_2x2", "side_by_side",
        "picture_in_picture",
    }  # fmt: skip
    for family in FAMILIES:
        uploads = [apply(family, name, image, others) for name in names]
        assert len(set(uploads)) > 1, family
        if family in sized:
            assert len({decode(upload).shape for upload in uploads}) > 1, family


def test_families_that_use_other_photos_say_when_too_few() -> None:
    with pytest.raises(ValueError, match="3 other photos"):
        apply("collage_2x2", SUBJECTS[0], pixels(SUBJECTS[0]), [pixels(OTHERS[0])])
    with pytest.raises(ValueError, match="1 other photos"):
        apply("picture_in_picture", SUBJECTS[0], pixels(SUBJECTS[0]), [])


def test_stickers_cover_10_to_20_percent_of_the_picture() -> None:
    flat = np.full((300, 450, 3), 7, dtype=np.uint8)
    for i in range(20):
        layer = Stickers.draw(seeded("stickers test", str(i)))
        covered = (stickers(flat, layer) != flat).any(axis=2).mean()
        # Antialiased outlines add a rim of partly covered pixels.
        assert 0.095 <= covered <= 0.22, (i, covered)


def test_impostor_pairs_are_different_photos_under_one_overlay() -> None:
    names = [*SUBJECTS, *OTHERS[:2]]
    photos = {name: pixels(name) for name in names}
    pairs = impostor_pairs(photos, names)
    assert len(pairs) == len(KINDS) * (len(names) // 2)
    assert {pair.kind for pair in pairs} == set(KINDS)
    for pair in pairs:
        assert pair.registered_photo != pair.upload_photo
        assert pair.registered != pair.upload, pair.kind
        registered, upload = decode(pair.registered), decode(pair.upload)
        if pair.kind in ("same_phone_chrome", "same_browser_chrome", "same_9x16_frame_text"):
            # One screen, window or canvas for both pictures.
            assert registered.shape == upload.shape, pair.kind
        if pair.kind in HARD_KINDS:
            assert len(set(pair.partners)) == 3
            assert not {pair.registered_photo, pair.upload_photo} & set(pair.partners)
            assert set(pair.partners) <= set(names)
    assert impostor_pairs(photos, names, ["same_watermark"]) == [
        pair for pair in pairs if pair.kind == "same_watermark"
    ]


def test_scene_pairs_are_two_shots_of_one_scene() -> None:
    pairs = scene_pairs()
    assert [pair.kind for pair in pairs] == ["same_scene", "same_scene"]
    for pair in pairs:
        registered, upload = decode(pair.registered), decode(pair.upload)
        assert registered.shape == upload.shape
        assert np.abs(registered.astype(int) - upload.astype(int)).mean() > 5


def test_the_chessboards_are_one_picture_so_not_a_scene_pair() -> None:
    data = importlib.resources.files("skimage") / "data"
    grey = [
        np.asarray(
            cv2.imdecode(np.frombuffer((data / name).read_bytes(), np.uint8), cv2.IMREAD_GRAYSCALE)
        )
        for name in ("chessboard_RGB.png", "chessboard_GRAY.png")
    ]
    assert np.array_equal(grey[0], grey[1])


def test_split_is_deterministic_disjoint_and_about_two_thirds_dev() -> None:
    names = sorted(BY_NAME)
    parts = split(names)
    assert split(reversed(names)) == parts
    groups = (
        parts.dev_registered,
        parts.dev_unregistered,
        parts.held_registered,
        parts.held_unregistered,
    )
    assert sorted(n for group in groups for n in group) == names
    assert all(list(group) == sorted(group) for group in groups)
    assert [len(group) for group in groups] == [19, 17, 9, 9]  # as the docstring says
    # A photo's part depends on its name only: dropping photos moves no other.
    fewer = split(names[::2])
    assert set(fewer.held_registered) <= set(parts.held_registered)


def test_load_corpus_reads_every_photo_by_name() -> None:
    corpus = load_corpus(Path(PHOTOS[0]).parent)
    assert list(corpus) == sorted(BY_NAME)
    assert all(image.ndim == 3 and image.dtype == np.uint8 for image in corpus.values())


def test_seeded_depends_on_every_part() -> None:
    assert seeded("a", "b").integers(2**62) == seeded("a", "b").integers(2**62)
    assert seeded("a", "b").integers(2**62) != seeded("ab").integers(2**62)
    assert seeded("a", "b").integers(2**62) != seeded("b", "a").integers(2**62)
