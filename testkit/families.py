"""Edit families: each kind of re-upload edit, its parameters drawn per photo.

Where :data:`testkit.edits.EDITS` applies one fixed implementation of each edit, a
family here draws every parameter (shares, angles, layouts, text, fonts, colours,
encoding) from a generator seeded by the family and the photo's name
(:func:`testkit.corpus.seeded`), within the ranges its docstring states, so matching
is measured on the family rather than on one layout. A family's edit takes the
registered photo's RGB pixels, the generator, and ``others``: unregistered photos
the edit may use as collage partners, a side-by-side partner or a
picture-in-picture host (the picture content that matters is always the registered
photo's). It returns the bytes an app would upload (JPEG or PNG).

Groups (the rows a report shows) are in :data:`GROUPS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from testkit import browser_chrome, layouts, overlays, phone_chrome
from testkit.compositing import add_noise, canvas, crop, gaussian, rotate
from testkit.corpus import seeded
from testkit.drawing import Encoding, chance, colour, pick, signed, uniform
from testkit.edits import (
    Pixels,
    brightness,
    contrast,
    gamma,
    grayscale,
    jpeg,
    mirror,
    resize,
    rotate90,
)
from testkit.scenes import (
    MonitorShot,
    PictureInPicture,
    SideBySide,
    monitor_photo_pixels,
    picture_in_picture_pixels,
    side_by_side_pixels,
)

Edit = Callable[[Pixels, np.random.Generator, Sequence[Pixels]], bytes]
"""(registered photo's pixels, generator, other photos) -> upload bytes."""
PictureEdit = Callable[[Pixels, np.random.Generator], bytes]

USUAL = "usual edits"
BRIGHTNESS = "brightness"
BROWSER = "desktop browser screenshot"
CAPTION = "caption banner"
CROP75_ROTATE5 = "crop 75 / rotate 5"
CROP55 = "crop 50-60"
ROTATE12_PERSPECTIVE = "rotate 10-15 / perspective"
COLLAGE = "collage / side by side"
PHONE = "phone app screenshot"
REFRAME = "9:16 reframe over blurred copy"
STICKERS = "stickers"
PIP = "picture in picture"
GROUPS = (
    USUAL,
    BRIGHTNESS,
    BROWSER,
    CAPTION,
    CROP75_ROTATE5,
    CROP55,
    ROTATE12_PERSPECTIVE,
    COLLAGE,
    PHONE,
    REFRAME,
    STICKERS,
    PIP,
)
"""Report rows, in order."""


@dataclass(frozen=True)
class Family:
    """One edit family: its name, its report row (one of :data:`GROUPS`) and its edit."""

    name: str
    group: str
    edit: Edit


def _alone(edit: PictureEdit) -> Edit:
    """An edit that uses no other photo."""

    def run(pixels: Pixels, rng: np.random.Generator, _others: Sequence[Pixels]) -> bytes:
        return edit(pixels, rng)

    run.__doc__ = edit.__doc__
    return run


def _jpeg(rng: np.random.Generator) -> Encoding:
    """The re-encode after a pixel edit: JPEG at quality 75-95."""
    return Encoding.draw(rng)


def _choose(
    rng: np.random.Generator, others: Sequence[Pixels], count: int, why: str
) -> list[Pixels]:
    if len(others) < count:
        raise ValueError(f"{why} needs {count} other photos, got {len(others)}")
    return [others[int(i)] for i in rng.choice(len(others), size=count, replace=False)]


# Usual edits -----------------------------------------------------------------


def jpeg_quality(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Re-encoded as JPEG at quality 25-90."""
    return jpeg(pixels, int(rng.integers(25, 91)))


def downscale(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Resized to 25-75% of each side, then JPEG 75-95."""
    return _jpeg(rng).encode(resize(pixels, uniform(rng, 0.25, 0.75)))


def flip(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Mirrored left to right, then JPEG 75-95."""
    return _jpeg(rng).encode(mirror(pixels))


def quarter_turn(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Rotated by 90, 180 or 270 degrees, then JPEG 75-95."""
    return _jpeg(rng).encode(rotate90(pixels, pick(rng, (1, 2, 3))))


def pad_solid(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Each side padded by 5-25% of the picture's size on that axis (drawn per side)
    with one random solid colour, then JPEG 75-95."""
    h, w = pixels.shape[:2]
    top, bottom = (round(h * uniform(rng, 0.05, 0.25)) for _ in range(2))
    left, right = (round(w * uniform(rng, 0.05, 0.25)) for _ in range(2))
    fill = colour(rng)
    padded = cv2.copyMakeBorder(pixels, top, bottom, left, right, cv2.BORDER_CONSTANT, value=fill)
    return _jpeg(rng).encode(np.asarray(padded, dtype=np.uint8))


def letterbox(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Centred on a 16:9 or 9:16 canvas, bars black (mostly), white or a dark colour,
    then JPEG 75-95."""
    aspect = pick(rng, (16 / 9, 9 / 16))
    fill = pick(rng, ((0, 0, 0), (0, 0, 0), (255, 255, 255), colour(rng, 0, 60)))
    h, w = pixels.shape[:2]
    cw, ch = (round(h * aspect), h) if w / h < aspect else (w, round(w / aspect))
    out = canvas(cw, ch, fill)
    out[(ch - h) // 2 : (ch - h) // 2 + h, (cw - w) // 2 : (cw - w) // 2 + w] = pixels
    return _jpeg(rng).encode(out)


def greyscale(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Converted to grey (stored as RGB), then JPEG 75-95."""
    return _jpeg(rng).encode(grayscale(pixels))


def gamma_shift(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Gamma 0.6-1.5 (out = in^gamma on 0-1 levels), then JPEG 75-95."""
    return _jpeg(rng).encode(gamma(pixels, uniform(rng, 0.6, 1.5)))


def contrast_shift(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Contrast about the mean level scaled by 0.6-1.4, then JPEG 75-95."""
    return _jpeg(rng).encode(contrast(pixels, uniform(rng, 0.6, 1.4)))


def blur(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Gaussian blur of sigma 1-3 pixels, then JPEG 75-95."""
    return _jpeg(rng).encode(gaussian(pixels, uniform(rng, 1, 3)))


def noise(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Gaussian noise of sigma 5-15 grey levels per channel, then JPEG 75-95."""
    return _jpeg(rng).encode(add_noise(pixels, uniform(rng, 5, 15), rng))


def crop_90(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Cropped to 85-95% of the area anywhere (aspect within +-10% of the
    picture's), then JPEG 75-95."""
    area = uniform(rng, 0.85, 0.95)
    kept = crop(pixels, area, uniform(rng, 0.9, 1.1), (uniform(rng, 0, 1), uniform(rng, 0, 1)))
    return _jpeg(rng).encode(kept)


# Brightness ------------------------------------------------------------------


def brighter(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Levels scaled by 1.20-1.40 (clipped), then JPEG 75-95."""
    return _jpeg(rng).encode(brightness(pixels, uniform(rng, 1.2, 1.4)))


def darker(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Levels scaled by 0.65-0.80 (20-35% darker), then JPEG 75-95."""
    return _jpeg(rng).encode(brightness(pixels, uniform(rng, 0.65, 0.8)))


# Screenshots, captions, stickers, reframes -------------------------------------


def browser_screenshot(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """See :class:`testkit.phone_chrome.BrowserChrome`."""
    window = browser_chrome.BrowserChrome.draw(rng)
    return window.encoding.encode(browser_chrome.browser_screenshot(pixels, window))


def phone_screenshot(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """See :class:`testkit.phone_chrome.PhoneChrome`."""
    app = phone_chrome.PhoneChrome.draw(rng)
    return app.encoding.encode(phone_chrome.phone_screenshot(pixels, app))


def caption_banner(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """See :class:`testkit.overlays.Caption`."""
    caption = overlays.Caption.draw(rng)
    return caption.encoding.encode(overlays.caption_banner(pixels, caption))


def meme_text(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """See :class:`testkit.overlays.Meme`."""
    meme = overlays.Meme.draw(rng)
    return meme.encoding.encode(overlays.meme_text(pixels, meme))


def stickers(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """See :class:`testkit.overlays.Stickers`."""
    layer = overlays.Stickers.draw(rng)
    return layer.encoding.encode(overlays.stickers(pixels, layer))


def reframe_9x16(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """See :class:`testkit.overlays.Reframe` (text overlay in half the cases)."""
    frame = layouts.Reframe.draw(rng)
    return frame.encoding.encode(layouts.reframe_9x16(pixels, frame))


# Crops and rotations -----------------------------------------------------------

ANCHORS: tuple[tuple[float, float], ...] = tuple(
    (x, y) for y in (0.0, 0.5, 1.0) for x in (0.0, 0.5, 1.0)
)
"""Centre, the four corners and the four edge midpoints, as shares of the free range."""


def crop_75(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Cropped to 70-80% of the area, centred (40%) or anywhere, aspect within +-10%
    of the picture's, then JPEG 75-95."""
    centred = chance(rng, 0.4)
    anchor = (0.5, 0.5) if centred else (uniform(rng, 0, 1), uniform(rng, 0, 1))
    kept = crop(pixels, uniform(rng, 0.7, 0.8), uniform(rng, 0.9, 1.1), anchor)
    return _jpeg(rng).encode(kept)


def crop_55(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Cropped to 50-60% of the area at the centre, a corner or an edge's middle, with
    an aspect 0.6-1.67 times the picture's, then JPEG 75-95."""
    stretch = math.exp(uniform(rng, math.log(0.6), math.log(1 / 0.6)))
    kept = crop(pixels, uniform(rng, 0.5, 0.6), stretch, pick(rng, ANCHORS))
    return _jpeg(rng).encode(kept)


def rotate_5(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Rotated 3-7 degrees either way; corners black, white, a blurred copy, or
    cropped away by zooming in; then JPEG 75-95."""
    degrees = signed(rng, 3, 7)
    corners = pick(rng, ("black", "white", "blur", "crop"))
    if corners in ("black", "white"):
        fill = (0, 0, 0) if corners == "black" else (255, 255, 255)
        return _jpeg(rng).encode(rotate(pixels, degrees, "fill", fill))
    return _jpeg(rng).encode(rotate(pixels, degrees, corners))


def rotate_12(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """Rotated 10-15 degrees either way; corners a fill colour (black, white or random;
    canvas kept or grown to hold the picture) or cropped away; then JPEG 75-95."""
    degrees = signed(rng, 10, 15)
    if chance(rng, 0.6):
        fill = pick(rng, ((0, 0, 0), (255, 255, 255), colour(rng)))
        rotated = rotate(pixels, degrees, "fill", fill, expand=chance(rng, 0.5))
    else:
        rotated = rotate(pixels, degrees, "crop")
    return _jpeg(rng).encode(rotated)


def monitor_photo(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """See :class:`MonitorShot`."""
    shot = MonitorShot.draw(rng)
    return jpeg(monitor_photo_pixels(pixels, shot, rng), shot.quality)


# Collages, side by side, picture in picture ------------------------------------


def collage(pixels: Pixels, rng: np.random.Generator, others: Sequence[Pixels]) -> bytes:
    """One tile of a 2 x 2 collage with three of ``others``; see
    :class:`testkit.layouts.Collage`."""
    partners = _choose(rng, others, 3, "a 2 x 2 collage")
    layout = layouts.Collage.draw(rng)
    return layout.encoding.encode(layouts.collage_2x2(pixels, partners, layout))


def side_by_side(pixels: Pixels, rng: np.random.Generator, others: Sequence[Pixels]) -> bytes:
    """See :class:`SideBySide`."""
    (partner,) = _choose(rng, others, 1, "side by side")
    layout = SideBySide.draw(rng)
    return layout.encoding.encode(side_by_side_pixels(pixels, partner, layout))


def picture_in_picture(pixels: Pixels, rng: np.random.Generator, others: Sequence[Pixels]) -> bytes:
    """See :class:`PictureInPicture`."""
    (host,) = _choose(rng, others, 1, "picture in picture")
    layout = PictureInPicture.draw(rng)
    return layout.encoding.encode(picture_in_picture_pixels(pixels, host, layout))


# The registry -----------------------------------------------------------------

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("jpeg_quality", USUAL, _alone(jpeg_quality)),
        Family("resize", USUAL, _alone(downscale)),
        Family("mirror", USUAL, _alone(flip)),
        Family("rotate_90s", USUAL, _alone(quarter_turn)),
        Family("pad", USUAL, _alone(pad_solid)),
        Family("letterbox", USUAL, _alone(letterbox)),
        Family("grayscale", USUAL, _alone(greyscale)),
        Family("gamma", USUAL, _alone(gamma_shift)),
        Family("contrast", USUAL, _alone(contrast_shift)),
        Family("blur", USUAL, _alone(blur)),
        Family("noise", USUAL, _alone(noise)),
        Family("crop_90", USUAL, _alone(crop_90)),
        Family("brightness_up", BRIGHTNESS, _alone(brighter)),
        Family("brightness_down", BRIGHTNESS, _alone(darker)),
        Family("browser_screenshot", BROWSER, _alone(browser_screenshot)),
        Family("caption_banner", CAPTION, _alone(caption_banner)),
        Family("meme_text", CAPTION, _alone(meme_text)),
        Family("crop_75", CROP75_ROTATE5, _alone(crop_75)),
        Family("rotate_5", CROP75_ROTATE5, _alone(rotate_5)),
        Family("crop_55", CROP55, _alone(crop_55)),
        Family("rotate_12", ROTATE12_PERSPECTIVE, _alone(rotate_12)),
        Family("monitor_photo", ROTATE12_PERSPECTIVE, _alone(monitor_photo)),
        Family("collage_2x2", COLLAGE, collage),
        Family("side_by_side", COLLAGE, side_by_side),
        Family("phone_screenshot", PHONE, _alone(phone_screenshot)),
        Family("reframe_9x16", REFRAME, _alone(reframe_9x16)),
        Family("stickers", STICKERS, _alone(stickers)),
        Family("picture_in_picture", PIP, picture_in_picture),
    )
}
"""Every edit family, by name."""

OTHERS_NEEDED = 3
"""The most ``others`` any family uses (the collage's three partners)."""


def apply(
    name: str, photo_name: str, pixels: Pixels, others: Sequence[Pixels] = (), draw: int = 0
) -> bytes:
    """The upload bytes of family ``name`` applied to the photo called ``photo_name``,
    with parameters from ``seeded(name, photo_name)`` (``draw`` 0) or
    ``seeded(name, photo_name, str(draw))``: the same for the same family, photo
    name, draw and ``others`` on every run. ``others`` must hold at least
    :data:`OTHERS_NEEDED` photos for the collage family (1 for side by side and
    picture in picture); raises ``ValueError`` if too few, ``KeyError`` for an
    unknown family."""
    rng = seeded(name, photo_name) if draw == 0 else seeded(name, photo_name, str(draw))
    return FAMILIES[name].edit(pixels, rng, others)
