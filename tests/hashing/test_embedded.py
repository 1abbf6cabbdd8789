"""A picture inside an app's frame is found; a plain photo is left alone."""

from __future__ import annotations

from hashing.embedded import find_embedded
from hashing.pipeline import hash_image_bytes
from hashing.transforms import Transform
from testkit.edits import jpeg, load_rgb, screenshot
from tests.conftest import PHOTOS
from tests.hashing.photos import pixels


def test_the_photo_inside_a_screenshot_is_found() -> None:
    for path in PHOTOS[::4]:
        photo = pixels(path)
        shot = screenshot(photo)
        box = find_embedded(shot)
        assert box is not None, path.name
        # screenshot() puts the photo at 90% scale, 18% from the top, centred.
        inner_h, inner_w = round(photo.shape[0] * 0.9), round(photo.shape[1] * 0.9)
        top, left = round(shot.shape[0] * 0.18), (shot.shape[1] - inner_w) // 2
        slack = max(4, round(0.02 * max(shot.shape[:2])))
        assert abs(box.top - top) <= slack, path.name
        assert abs(box.bottom - (top + inner_h)) <= slack, path.name
        assert abs(box.left - left) <= slack, path.name
        assert abs(box.right - (left + inner_w)) <= slack, path.name


def test_plain_photos_have_nothing_embedded() -> None:
    assert [p.name for p in PHOTOS if find_embedded(pixels(p)) is not None] == []


def test_a_screenshot_hashes_close_to_the_photo() -> None:
    """The embedded view lands within the block distance of what registration stores,
    and without it the screenshot would not even reach review."""
    for path in PHOTOS[1::9]:
        registered = hash_image_bytes(path.read_bytes(), variants=True)
        stored = [v.pdq[Transform.ORIGINAL] for v in registered.views]
        stored += [value for _, value in registered.variants]
        shot = hash_image_bytes(jpeg(screenshot(load_rgb(str(path)))))
        embedded = [v for v in shot.views if v.name == "embedded"]
        assert len(embedded) == 1, path.name
        distance = min(embedded[0].pdq[Transform.ORIGINAL].distance(s) for s in stored)
        assert distance <= 31, (path.name, distance)
        others = [v.pdq[t] for v in shot.views if v.name != "embedded" for t in Transform]
        assert min(a.distance(s) for a in others for s in stored) > 51, path.name
