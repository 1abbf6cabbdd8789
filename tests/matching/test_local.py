"""Verification of a local match on real photos: a registered collage found again
when re-uploaded, and not blocked when one of its four pictures is another (a
meme template: three fixed panels, and a panel whose picture is each user's own
above a plain caption bar)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from hashing.cells import CELL_GRID, cells
from hashing.decode import decode_image
from hashing.features import LocalFeatures, item_features, upload_features
from hashing.types import u8
from index.entries import Entry
from index.local import LocalIndex
from index.vocabulary import Vocabulary
from matching import Decision, MatchPolicy
from matching.agreement import MAX_CELL_BITS, ItemLocal, _frequencies, _quarters
from matching.geometry import _plausible
from matching.local import LocalMatch, search_index, verify
from matching.rules import Strength
from matching.seams import _seam
from tests.conftest import PHOTOS

TILE = (320, 240)


def tile(index: int) -> npt.NDArray[np.uint8]:
    luma = decode_image(PHOTOS[index].read_bytes(), gray=True).pixels
    return np.asarray(cv2.resize(luma, TILE, interpolation=cv2.INTER_AREA), np.uint8)


def panel(index: int) -> npt.NDArray[np.uint8]:
    """A photo above a plain caption bar filling the lower half of its panel."""
    out = tile(index).copy()
    out[TILE[1] // 2 :] = 200
    return out


def collage(indices: tuple[int, int, int, int]) -> npt.NDArray[np.uint8]:
    """The first photo as a captioned panel, top left, beside three photos."""
    a, b, c, d = panel(indices[0]), *(tile(i) for i in indices[1:])
    return np.vstack([np.hstack([a, b]), np.hstack([c, d])])


def jpeg(luma: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    ok, buf = cv2.imencode(".jpg", luma, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return decode_image(buf.tobytes(), gray=True).pixels


def registered(luma: npt.NDArray[np.uint8]) -> ItemLocal:
    features, frame = item_features(luma)
    return ItemLocal(features, cells(frame))


def checked(item: ItemLocal, upload: npt.NDArray[np.uint8]) -> LocalMatch | None:
    features, frame = upload_features(upload)
    return verify(features, frame, item, MatchPolicy())


# Partners 20-22 with 10 registered; 11 to 15 each take its place in the upload.
@pytest.mark.parametrize(
    "other",
    [
        11,
        12,
        13,
        14,
        # This photo's flat sky is excused cell by cell as if under an overlay,
        # and too few of its quarter's cells are left counted: it agrees on none.
        15,
    ],
)
def test_a_collage_sharing_three_of_four_pictures_is_not_blocked(other: int) -> None:
    item = registered(collage((10, 20, 21, 22)))
    found = checked(item, jpeg(collage((other, 20, 21, 22))))
    assert found is None or found.strength is not Strength.STRONG, found


def test_the_same_collage_re_uploaded_is_blocked() -> None:
    item = registered(collage((10, 20, 21, 22)))
    found = checked(item, jpeg(collage((10, 20, 21, 22))))
    assert found is not None
    assert found.strength is Strength.STRONG, found


def inset(picture: int, host: int, share: float) -> npt.NDArray[np.uint8]:
    """Photo ``picture`` at ``share`` of the width, in the lower right corner of
    photo ``host`` resized to 1000 pixels wide (picture in picture)."""
    base = decode_image(PHOTOS[host].read_bytes(), gray=True).pixels
    out = cv2.resize(base, (1000, round(base.shape[0] * 1000 / base.shape[1])))
    small = decode_image(PHOTOS[picture].read_bytes(), gray=True).pixels
    width = round(1000 * share)
    shrunk = cv2.resize(small, (width, round(small.shape[0] * width / small.shape[1])))
    h, w = shrunk.shape[:2]
    out[-h - 30 : -30, -w - 30 : -30] = shrunk
    return np.asarray(out, np.uint8)


# 33 was only a review while every frequency of its cells was compared.
@pytest.mark.parametrize("picture", [10, 33, 35])
def test_a_small_inset_is_compared_on_the_detail_it_keeps(picture: int) -> None:
    """At about a third of the upload's width an item's cells keep only their
    coarse frequencies; compared on those, the inset is found strongly."""
    item = registered(decode_image(PHOTOS[picture].read_bytes(), gray=True).pixels)
    found = checked(item, jpeg(inset(picture, 40, 0.35)))
    assert found is not None
    assert found.strength is Strength.STRONG, found
    assert 0.05 < found.upload_share < 0.2


def test_the_compared_frequencies_follow_the_items_scale() -> None:
    corners = np.array([[0, 0], [420, 0], [420, 315], [0, 315]], np.float64)
    full, most = _frequencies(corners, 420, 315)
    assert (int(full).bit_count(), most) == (63, MAX_CELL_BITS)
    small, fewer = _frequencies(0.3 * corners, 420, 315)
    assert int(small).bit_count() == 15  # the 4x4 lowest, without the mean
    assert int(small) & ~int(full) == 0
    assert fewer == round(MAX_CELL_BITS * 15 / 63)


def test_a_model_that_shrinks_the_item_to_a_dot_is_not_a_picture_of_it() -> None:
    """A similarity of scale near zero maps every item keypoint onto a few
    upload pixels, where any pair is an inlier: it is no picture of the item."""
    width, height = 420, 315
    for scale, plausible in ((0.05, False), (0.19, False), (0.25, True), (1.0, True)):
        h = np.array([[scale, 0.0, 100.0], [0.0, scale, 80.0], [0.0, 0.0, 1.0]])
        assert (_plausible(h, width, height) is not None) is plausible, scale


def photo(index: int, width: int, height: int) -> npt.NDArray[np.uint8]:
    luma = decode_image(PHOTOS[index].read_bytes(), gray=True).pixels
    return np.asarray(cv2.resize(luma, (width, height), interpolation=cv2.INTER_AREA), np.uint8)


def test_a_picture_cropped_by_its_tile_is_blocked() -> None:
    """A 4:3 picture cropped to a square tile between two other photos (cover):
    an eighth of each side is cut off, and the item's cells there land on the
    neighbours and disagree. The layout's seams say where the tile ends."""
    picture = photo(5, 400, 300)
    upload = np.hstack([photo(20, 300, 300), picture[:, 50:350], photo(22, 300, 300)])
    found = checked(registered(picture), jpeg(upload))
    assert found is not None
    assert found.strength is Strength.STRONG, found


def test_a_picture_differing_along_no_straight_line_is_not_excused() -> None:
    """The same picture with the outer eighth of each side replaced by other
    photos' content along wavy lines: the item disagrees where the tile's did,
    but no layout cut it (another person in the same room)."""
    picture = photo(5, 400, 300)
    upload = picture.copy()
    rows = np.arange(300)[:, None]
    cols = np.arange(400)[None, :]
    wave = 50 + np.round(14 * np.sin(rows / 11.0))
    upload = np.where(cols < wave, photo(20, 400, 300), upload)
    upload = np.where(cols >= 400 - wave, photo(22, 400, 300), upload)
    found = checked(registered(picture), jpeg(np.asarray(upload, np.uint8)))
    assert found is not None  # found, and its geometry right: the content decides
    assert found.strength is not Strength.STRONG, found


@pytest.mark.parametrize(
    ("between", "expected"),
    [("seam", True), ("gutter", True), ("photo", False)],
)
def test_a_seam_is_a_straight_edge_or_gutter_where_the_item_is_cut(
    between: str, expected: bool
) -> None:
    """The item's first column of cells from the right (its frame 400 pixels
    wide, placed as is at the left of the upload) lands on x = 350-400: there a
    second photo starts, a gutter runs, or the first photo goes on."""
    upload = photo(5, 600, 300)
    if between == "seam":
        upload[:, 380:] = photo(20, 220, 300)
    elif between == "gutter":
        upload[:, 370:376] = 255
    item = LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), 400, 300)
    assert _seam(upload, np.eye(3), item, 3, 1, (0, 0, 0, 1)) is expected


def test_an_item_outvoted_by_the_rest_of_the_upload_is_still_verified() -> None:
    """A picture in a corner of another photo holds a tenth of the upload's
    keypoints; items registered with the rest of it (here: entries made of
    its other keypoints' descriptors, at random places) take the first places
    of the vote. The picture's item is verified all the same, and blocks."""
    host = tile(20).copy()
    host[130:210, 200:307] = cv2.resize(tile(10), (107, 80), interpolation=cv2.INTER_AREA)
    upload, frame = upload_features(jpeg(u8(cv2.resize(host, (640, 480)))))
    corner = (upload.xy[:, 0] >= 200 / 320 * upload.width) & (
        upload.xy[:, 1] >= 130 / 240 * upload.height
    )
    rng = np.random.default_rng(3)
    index = LocalIndex(Vocabulary.bundled())
    for key in range(100, 108):
        rest = rng.choice(np.flatnonzero(~corner), 128, replace=False)
        xy = rng.uniform(0, 400, (128, 2)).astype(np.float32)
        flat = np.zeros(CELL_GRID**2, np.uint8)
        index.add(
            key, Entry(xy, upload.descriptors[rest], 420, 315, np.zeros_like(flat, np.uint64), flat)
        )
    features, item_frame = item_features(u8(cv2.resize(tile(10), (800, 600))))
    picture = cells(item_frame)
    index.add(
        10,
        Entry(
            features.xy,
            features.descriptors,
            features.width,
            features.height,
            picture.signatures,
            picture.flat,
        ),
    )
    votes = index.candidates(np.concatenate([upload.descriptors, upload.mirrored]), 12, len(upload))
    ranked = [found.key for found in votes]
    assert ranked.index(10) >= 4
    assert votes[ranked.index(10)].score < 0.2 * votes[0].score
    found = search_index(index, upload, frame, MatchPolicy())
    assert [(c.item_id, c.decision) for c in found] == [(10, Decision.BLOCK)]


def test_a_quarter_agreeing_on_none_of_the_cells_it_shows_refutes() -> None:
    shown = np.zeros((CELL_GRID, CELL_GRID), bool)
    shown[:2, :4] = True  # 8 cells of the top left quarter, the rest not shown
    counted = shown.copy()
    counted[:2, :3] = False  # 6 of them excused as under an overlay
    agree = np.zeros_like(shown)
    assert _quarters(counted.ravel(), shown.ravel(), agree.ravel()) == 0.0
    # One of the two counted cells agreeing: too few counted to judge the quarter.
    agree[0, 3] = True
    assert _quarters(counted.ravel(), shown.ravel(), agree.ravel()) == 1.0
    # Enough counted cells: their share agreeing.
    counted[:2, :4] = True
    assert _quarters(counted.ravel(), shown.ravel(), agree.ravel()) == 1 / 8


def test_a_crop_through_the_cells_at_the_edges_keeps_the_content_there() -> None:
    """A picture whose content is mostly at its edges (a flat sky in a frame of
    towers, a block of detail in the middle): a crop of a few percent a side
    cuts every edge cell, and what those cells still show counts towards how
    much of the item the upload shows (it was a review: 8 of 36 cells whole)."""
    texture = tile(10)
    ramp = np.linspace(90, 140, TILE[1])[:, None]
    picture = np.repeat(ramp, TILE[0], axis=1).astype(np.uint8)
    ring = np.ones(picture.shape, bool)
    ring[30:-30, 40:-40] = False  # the outer ring of an 8 x 8 grid of 40 x 30 cells
    ring[90:150, 80:240] = True  # and 2 x 4 cells in the middle
    picture[ring] = texture[ring]
    item = registered(u8(cv2.resize(picture, (640, 480))))
    cropped = picture[8:-8, 11:-11]
    found = checked(item, jpeg(u8(cv2.resize(cropped, (640, 480)))))
    assert found is not None
    assert found.strength is Strength.STRONG, found


# Sent to review while a cut had to leave half of the item.
@pytest.mark.parametrize("index", [11, 13, 14])
def test_a_picture_cut_by_the_upload_and_its_tile_keeps_enough_to_block(index: int) -> None:
    """A picture in a tile at the upload's left edge, cropped to the tile's
    shape (cover): its top eighth and left quarter are beyond the upload, its
    right quarter lands on the neighbouring photo. What is left whole, 28 of
    its 64 cells, is more than the 40 % a block needs."""
    picture = photo(index, 400, 300)
    upload = np.hstack([picture[38:, 100:300], photo(22, 300, 262)])
    found = checked(registered(picture), jpeg(upload))
    assert found is not None
    assert found.strength is Strength.STRONG, found
