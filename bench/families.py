"""Edit families: each kind of re-upload edit, its parameters drawn per photo.

Where :data:`bench.edits.EDITS` applies one fixed implementation of each edit, a
family here draws every parameter (shares, angles, layouts, text, fonts, colours,
encoding) from a generator seeded by the family and the photo's name
(:func:`bench.corpus.seeded`), within the ranges its docstring states, so matching
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

from bench import chrome, overlays
from bench.corpus import seeded
from bench.drawing import (
    RGB,
    Encoding,
    add_noise,
    canvas,
    chance,
    colour,
    cover,
    fit,
    gaussian,
    pick,
    rectangle,
    resized,
    signed,
    uniform,
)
from bench.edits import (
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


# Geometry helpers ----------------------------------------------------------------


def crop(pixels: Pixels, area: float, stretch: float, anchor: tuple[float, float]) -> Pixels:
    """Keep ``area`` (0-1) of the image: a box whose aspect is the image's times
    ``stretch``, its top-left at ``anchor`` (shares of the free range on x and y; 0.5,
    0.5 is centred). The box is narrowed on an axis where it would not fit."""
    h, w = pixels.shape[:2]
    cw, ch = w * math.sqrt(area * stretch), h * math.sqrt(area / stretch)
    if cw > w:
        cw, ch = w, area * h
    if ch > h:
        cw, ch = area * w, h
    cw, ch = max(8, min(w, round(cw))), max(8, min(h, round(ch)))
    x, y = round(anchor[0] * (w - cw)), round(anchor[1] * (h - ch))
    return np.ascontiguousarray(pixels[y : y + ch, x : x + cw])


def rotate(
    pixels: Pixels, degrees: float, corners: str, fill: RGB = (0, 0, 0), expand: bool = False
) -> Pixels:
    """Rotate anticlockwise by ``degrees`` about the centre. ``corners``: "fill" (a
    solid ``fill`` colour shows in the corners; ``expand`` grows the canvas to hold
    the whole picture), "blur" (a blurred, enlarged copy shows there) or "crop" (zoom
    in just enough that no corner shows, keeping the size, as phone editors do)."""
    h, w = pixels.shape[:2]
    a = math.radians(abs(degrees))
    c, s = math.cos(a), math.sin(a)
    if corners == "crop":
        zoom = max(c + s * h / w, c + s * w / h)
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, zoom)
        # Reflection only guards the last row/column against rounding slivers.
        out = cv2.warpAffine(pixels, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
        return np.asarray(out, dtype=np.uint8)
    ow, oh = (math.ceil(w * c + h * s), math.ceil(w * s + h * c)) if expand else (w, h)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    matrix[:, 2] += [(ow - w) / 2, (oh - h) / 2]
    if corners == "blur":
        back = gaussian(cover(pixels, ow, oh), 0.04 * max(ow, oh))
        out = cv2.warpAffine(pixels, matrix, (ow, oh), dst=back, borderMode=cv2.BORDER_TRANSPARENT)
    else:
        out = cv2.warpAffine(
            pixels, matrix, (ow, oh), borderMode=cv2.BORDER_CONSTANT, borderValue=fill
        )
    return np.asarray(out, dtype=np.uint8)


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
    """See :class:`bench.chrome.BrowserChrome`."""
    window = chrome.BrowserChrome.draw(rng)
    return window.encoding.encode(chrome.browser_screenshot(pixels, window))


def phone_screenshot(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """See :class:`bench.chrome.PhoneChrome`."""
    app = chrome.PhoneChrome.draw(rng)
    return app.encoding.encode(chrome.phone_screenshot(pixels, app))


def caption_banner(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """See :class:`bench.overlays.Caption`."""
    caption = overlays.Caption.draw(rng)
    return caption.encoding.encode(overlays.caption_banner(pixels, caption))


def meme_text(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """See :class:`bench.overlays.Meme`."""
    meme = overlays.Meme.draw(rng)
    return meme.encoding.encode(overlays.meme_text(pixels, meme))


def stickers(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """See :class:`bench.overlays.Stickers`."""
    layer = overlays.Stickers.draw(rng)
    return layer.encoding.encode(overlays.stickers(pixels, layer))


def reframe_9x16(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """See :class:`bench.overlays.Reframe` (text overlay in half the cases)."""
    frame = overlays.Reframe.draw(rng)
    return frame.encoding.encode(overlays.reframe_9x16(pixels, frame))


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


# Re-photographed off a monitor -----------------------------------------------


@dataclass(frozen=True)
class MonitorShot:
    """A phone photo of the picture on a monitor: the screen inside a bezel of
    ``bezel`` (0.015-0.06 of the screen width, a deeper chin below), seen in perspective
    (each monitor corner moved by up to a jitter of 5-15% of the monitor's size, each
    way) on a dark room ``margin`` (the jitter plus 0.02-0.1 of the monitor's size) wide,
    then the camera: blur sigma 0.5-1.5 px, gain 0.8-1.2, gamma 0.8-1.25, noise sigma
    2-7 grey levels, optional moire (a sinusoid of period 3-9 px, amplitude 3-10%),
    JPEG 70-92."""

    corners: tuple[float, ...]
    bezel: float
    bezel_ink: RGB
    room: RGB
    margin: float
    blur: float
    gain: float
    gamma: float
    noise: float
    moire: tuple[float, float, float] | None
    quality: int

    @classmethod
    def draw(cls, rng: np.random.Generator) -> MonitorShot:
        jitter = uniform(rng, 0.05, 0.15)
        moire = (uniform(rng, 3, 9), uniform(rng, 0, 180), uniform(rng, 0.03, 0.1))
        return cls(
            corners=tuple(uniform(rng, -jitter, jitter) for _ in range(8)),
            bezel=uniform(rng, 0.015, 0.06),
            bezel_ink=colour(rng, 5, 45),
            room=colour(rng, 10, 70),
            margin=jitter + uniform(rng, 0.02, 0.1),
            blur=uniform(rng, 0.5, 1.5),
            gain=uniform(rng, 0.8, 1.2),
            gamma=uniform(rng, 0.8, 1.25),
            noise=uniform(rng, 2, 7),
            moire=moire if chance(rng, 0.5) else None,
            quality=int(rng.integers(70, 93)),
        )


def monitor_photo_pixels(pixels: Pixels, shot: MonitorShot, rng: np.random.Generator) -> Pixels:
    """The photo's pixels; ``rng`` draws the sensor noise only."""
    w = pixels.shape[1]
    b = max(2, round(w * shot.bezel))
    monitor = cv2.copyMakeBorder(
        pixels, b, round(b * 1.8), b, b, cv2.BORDER_CONSTANT, value=shot.bezel_ink
    )
    mh, mw = monitor.shape[:2]
    mx, my = round(mw * shot.margin), round(mh * shot.margin)
    shade = np.linspace(1.15, 0.6, mh + 2 * my)[:, None, None]  # a lamp above
    column = np.clip(np.asarray(shot.room) * shade, 0, 255).astype(np.uint8)
    out = np.ascontiguousarray(np.broadcast_to(column, (mh + 2 * my, mw + 2 * mx, 3)))
    source = np.array([[0, 0], [mw, 0], [mw, mh], [0, mh]], dtype=np.float32)
    jitter = np.array(shot.corners, dtype=np.float32).reshape(4, 2) * [mw, mh]
    target = (source + [mx, my] + jitter).astype(np.float32)
    warp = cv2.getPerspectiveTransform(source, target)
    cv2.warpPerspective(monitor, warp, out.shape[1::-1], dst=out, borderMode=cv2.BORDER_TRANSPARENT)
    levels = np.clip((np.arange(256) / 255) ** shot.gamma * shot.gain * 255 + 0.5, 0, 255)
    out = np.asarray(cv2.LUT(out, levels.astype(np.uint8)), dtype=np.uint8)
    if shot.moire is not None:
        period, angle, amplitude = shot.moire
        turn = math.radians(angle)
        xs = np.arange(out.shape[1], dtype=np.float32) * np.float32(math.cos(turn) / period)
        ys = np.arange(out.shape[0], dtype=np.float32) * np.float32(math.sin(turn) / period)
        stripes = 1 + amplitude * np.sin(np.float32(2 * np.pi) * (ys[:, None] + xs[None, :]))
        out = np.asarray(cv2.convertScaleAbs(out * stripes[..., None]), dtype=np.uint8)
    blurred = gaussian(out, shot.blur)
    return add_noise(blurred, shot.noise, rng)


def monitor_photo(pixels: Pixels, rng: np.random.Generator) -> bytes:
    """See :class:`MonitorShot`."""
    shot = MonitorShot.draw(rng)
    return jpeg(monitor_photo_pixels(pixels, shot, rng), shot.quality)


# Collages, side by side, picture in picture ------------------------------------


def collage(pixels: Pixels, rng: np.random.Generator, others: Sequence[Pixels]) -> bytes:
    """One tile of a 2 x 2 collage with three of ``others``; see :class:`bench.overlays.Collage`."""
    partners = _choose(rng, others, 3, "a 2 x 2 collage")
    layout = overlays.Collage.draw(rng)
    return layout.encoding.encode(overlays.collage_2x2(pixels, partners, layout))


@dataclass(frozen=True)
class SideBySide:
    """The picture next to one other photo: left/right (``horizontal``) or top/bottom,
    the picture first or second. The picture is ``extent`` (300-800) pixels across the
    join (its height if side by side); the partner matches it (``partner_scale`` 1) or
    is 0.6-1.5 times that, the shorter one placed at ``align`` (0-1) of the spare room
    on a ``fill`` background; gutter 0-4% of ``extent``."""

    horizontal: bool
    first: bool
    extent: int
    partner_scale: float
    align: float
    gutter: float
    fill: RGB
    encoding: Encoding

    @classmethod
    def draw(cls, rng: np.random.Generator) -> SideBySide:
        return cls(
            horizontal=chance(rng, 0.65),
            first=chance(rng, 0.5),
            extent=int(rng.integers(300, 801)),
            partner_scale=1.0 if chance(rng, 0.5) else uniform(rng, 0.6, 1.5),
            align=pick(rng, (0.0, 0.5, 1.0, uniform(rng, 0, 1))),
            gutter=0.0 if chance(rng, 0.4) else uniform(rng, 0.005, 0.04),
            fill=pick(rng, ((255, 255, 255), (0, 0, 0), colour(rng))),
            encoding=Encoding.draw(rng, png_share=0.3),
        )


def side_by_side_pixels(pixels: Pixels, partner: Pixels, layout: SideBySide) -> Pixels:
    def across(image: Pixels, extent: float) -> Pixels:
        h, w = image.shape[:2]
        if layout.horizontal:
            return resized(image, round(w * extent / h), round(extent))
        return resized(image, round(extent), round(h * extent / w))

    tiles = [across(pixels, layout.extent), across(partner, layout.extent * layout.partner_scale)]
    if not layout.first:
        tiles.reverse()
    gap = round(layout.extent * layout.gutter)
    axis = 1 if layout.horizontal else 0
    cross = max(t.shape[1 - axis] for t in tiles)
    length = sum(t.shape[axis] for t in tiles) + gap
    out = (
        canvas(length, cross, layout.fill)
        if layout.horizontal
        else canvas(cross, length, layout.fill)
    )
    at = 0
    for tile in tiles:
        offset = round(layout.align * (cross - tile.shape[1 - axis]))
        x, y = (at, offset) if layout.horizontal else (offset, at)
        out[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
        at += tile.shape[axis] + gap
    return out


def side_by_side(pixels: Pixels, rng: np.random.Generator, others: Sequence[Pixels]) -> bytes:
    """See :class:`SideBySide`."""
    (partner,) = _choose(rng, others, 1, "side by side")
    layout = SideBySide.draw(rng)
    return layout.encoding.encode(side_by_side_pixels(pixels, partner, layout))


@dataclass(frozen=True)
class PictureInPicture:
    """The picture scaled to ``share`` (0.25-0.40) of the host's width, in a corner of
    another photo (the host, resized to ``host_width``, 640-1280 pixels), ``margin``
    (0.02-0.05 of the host width) from its edges, with a border of ``border`` (0 or
    0.004-0.015 of the host width)."""

    host_width: int
    share: float
    corner: str
    margin: float
    border: float
    border_ink: RGB
    encoding: Encoding

    @classmethod
    def draw(cls, rng: np.random.Generator) -> PictureInPicture:
        return cls(
            host_width=int(rng.integers(640, 1281)),
            share=uniform(rng, 0.25, 0.40),
            corner=pick(rng, ("top_left", "top_right", "bottom_left", "bottom_right")),
            margin=uniform(rng, 0.02, 0.05),
            border=0.0 if chance(rng, 0.5) else uniform(rng, 0.004, 0.015),
            border_ink=pick(rng, ((255, 255, 255), (0, 0, 0), colour(rng))),
            encoding=Encoding.draw(rng, png_share=0.2),
        )


def picture_in_picture_pixels(pixels: Pixels, host: Pixels, layout: PictureInPicture) -> Pixels:
    hh, hw = host.shape[:2]
    out = resized(host, layout.host_width, round(hh * layout.host_width / hw))
    host_h, host_w = out.shape[:2]
    inset = fit(pixels, host_w * layout.share, host_h * 0.9)
    ih, iw = inset.shape[:2]
    edge = round(host_w * layout.border)
    margin = round(host_w * layout.margin) + edge
    x = margin if "left" in layout.corner else host_w - margin - iw
    y = margin if "top" in layout.corner else host_h - margin - ih
    if edge:
        rectangle(out, x - edge, y - edge, x + iw + edge, y + ih + edge, layout.border_ink)
    out[y : y + ih, x : x + iw] = inset
    return out


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
