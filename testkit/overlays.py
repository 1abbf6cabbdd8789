"""Overlays that re-uploads put over or around a picture, one implementation per kind.

Every kind is a frozen parameter dataclass with a ``draw(rng)`` class method, and a
render function ``(picture, params) -> pixels``. The parameters are drawn from the
generator before any pixel is looked at and hold only sizes relative to the picture
(shares) or to a fixed canvas, so "the same overlay" on two different pictures means
the same parameters: the edit families (:mod:`testkit.families`) draw one per photo,
and the impostors (:mod:`testkit.overlay_impostors`) apply one to two different photos.

Kinds here: :class:`Caption`, :class:`Meme` and :class:`Stickers`; a watermark is in
:mod:`testkit.watermarks`, the 9:16 reframe and the 2 x 2 collage in
:mod:`testkit.layouts`, app and browser screenshots in :mod:`testkit.phone_chrome` and
:mod:`testkit.browser_chrome`. Each carries the
:class:`~testkit.drawing.Encoding` an app would write it with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from testkit.compositing import blend, canvas
from testkit.drawing import (
    RGB,
    Encoding,
    Font,
    Points,
    chance,
    circle,
    colour,
    fill_polygon,
    fit_height,
    heart_points,
    outline_polygon,
    pick,
    put_text,
    rounded_rectangle_points,
    star_points,
    text_width,
    uniform,
    words,
)
from testkit.edits import Pixels

# Caption banner and meme text -----------------------------------------------


@dataclass(frozen=True)
class Caption:
    """A caption on a band ``share`` (0.08-0.20) of the picture's height, at the top,
    middle or bottom. Over the picture the band is opaque or translucent
    (``opacity`` 0.45-0.85); with ``extend`` the band is added outside the picture
    (top or bottom; the canvas grows). Text capitals are ``text_share`` (0.35-0.6) of
    the band's height, shrunk to fit the width; left-aligned or centred."""

    share: float
    position: str
    extend: bool
    opacity: float
    band: RGB
    ink: RGB
    text: str
    font: Font
    text_share: float
    centred: bool
    encoding: Encoding

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Caption:
        extend = chance(rng, 0.25)
        band = colour(rng)
        light = sum(band) > 380
        return cls(
            share=uniform(rng, 0.08, 0.20),
            position=pick(rng, ("top", "bottom") if extend else ("top", "middle", "bottom")),
            extend=extend,
            opacity=1.0 if extend or chance(rng, 0.5) else uniform(rng, 0.45, 0.85),
            band=band,
            ink=colour(rng, 0, 70) if light else colour(rng, 190, 255),
            text=words(rng, 2, 7),
            font=Font.draw(rng),
            text_share=uniform(rng, 0.35, 0.6),
            centred=chance(rng, 0.6),
            encoding=Encoding.draw(rng, png_share=0.2),
        )


def caption_banner(picture: Pixels, caption: Caption) -> Pixels:
    """The picture with ``caption``'s band; taller than the picture if it extends it."""
    h, w = picture.shape[:2]
    band_h = max(8, round(h * caption.share))
    if caption.extend:
        band = canvas(w, band_h, caption.band)
        parts = (band, picture) if caption.position == "top" else (picture, band)
        out = np.ascontiguousarray(np.vstack(parts))
        top = 0 if caption.position == "top" else h
    else:
        out = picture.copy()
        top = {"top": 0, "middle": (h - band_h) // 2, "bottom": h - band_h}[caption.position]
        blend(out[top : top + band_h], caption.band, caption.opacity)
    cap = fit_height(caption.text, band_h * caption.text_share, caption.font, w * 0.92)
    width = text_width(caption.text, cap, caption.font)
    x = (w - width) / 2 if caption.centred else w * 0.04
    put_text(out, caption.text, x, top + (band_h - cap) / 2, cap, caption.ink, caption.font)
    return out


@dataclass(frozen=True)
class Meme:
    """Classic meme text: white capitals with a black outline, centred, over the top
    and bottom of the picture (no band). Capitals are ``share`` (0.07-0.13) of the
    picture's height, shrunk to fit 94% of its width; the outline is ``outline``
    (0.08-0.16) of the capital height. Either line may be empty, not both."""

    top: str
    bottom: str
    share: float
    outline: float
    font: Font
    encoding: Encoding

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Meme:
        which = pick(rng, ("both", "both", "both", "top", "bottom"))
        return cls(
            top=words(rng, 2, 5).upper() if which != "bottom" else "",
            bottom=words(rng, 2, 5).upper() if which != "top" else "",
            share=uniform(rng, 0.07, 0.13),
            outline=uniform(rng, 0.08, 0.16),
            font=Font.draw(rng, bold=True),
            encoding=Encoding.draw(rng, png_share=0.2),
        )


def meme_text(picture: Pixels, meme: Meme) -> Pixels:
    """The picture with ``meme``'s text drawn over it; same size."""
    h, w = picture.shape[:2]
    out = picture.copy()
    for text, at_top in ((meme.top, True), (meme.bottom, False)):
        if not text:
            continue
        cap = fit_height(text, h * meme.share, meme.font, w * 0.94)
        x = (w - text_width(text, cap, meme.font)) / 2
        y = h * 0.04 if at_top else h * 0.96 - cap
        put_text(out, text, x, y, cap, (255, 255, 255), meme.font, cap * meme.outline, (0, 0, 0))
    return out


# Stickers --------------------------------------------------------------------

STICKER_LABELS = ("LOL", "OMG", "WOW", "NEW", "#1", "YES", "HOT", "SALE", "BFF", "YAY")


@dataclass(frozen=True)
class Sticker:
    """One opaque sticker: ``shape`` ("face", "star", "heart" or "label"), covering
    ``share`` of the picture's area, centred at ``centre`` (shares of the free range
    on each axis, so it stays inside), with a white die-cut edge if ``edge``."""

    shape: str
    share: float
    centre: tuple[float, float]
    fill: RGB
    ink: RGB
    edge: bool
    angle: float
    inner: float
    aspect: float
    label: str
    font: Font


@dataclass(frozen=True)
class Stickers:
    """1-4 stickers covering 10-20% of the picture's area in total (shapes and
    die-cut edges; antialiased rims add up to about 2% more), placed apart where
    possible."""

    items: tuple[Sticker, ...]
    encoding: Encoding

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Stickers:
        count = int(rng.integers(1, 5))
        total = uniform(rng, 0.10, 0.20)
        shares = rng.dirichlet(np.full(count, 3.0)) * total
        placed: list[tuple[float, float, float]] = []
        items = []
        for share in shares:
            radius = math.sqrt(share / math.pi)  # as a disc on a unit square
            centre = _free_spot(rng, radius, placed)
            placed.append((*_in_unit(centre, radius), radius))
            items.append(
                Sticker(
                    shape=pick(rng, ("face", "star", "heart", "label")),
                    share=float(share),
                    centre=centre,
                    fill=colour(rng, 20, 255),
                    ink=colour(rng, 0, 60),
                    edge=chance(rng, 0.5),
                    angle=uniform(rng, -25, 25),
                    inner=uniform(rng, 0.4, 0.55),
                    aspect=uniform(rng, 1.6, 2.8),
                    label=pick(rng, STICKER_LABELS),
                    font=Font.draw(rng, bold=True),
                )
            )
        return cls(tuple(items), Encoding.draw(rng, png_share=0.3))


def _in_unit(centre: tuple[float, float], radius: float) -> tuple[float, float]:
    """A centre given as shares of the free range, on a unit square."""
    free = max(0.0, 1 - 2 * radius)
    return radius + centre[0] * free, radius + centre[1] * free


def _free_spot(
    rng: np.random.Generator, radius: float, placed: Sequence[tuple[float, float, float]]
) -> tuple[float, float]:
    """A centre (shares of the free range) whose disc overlaps no placed one, if one is
    found in 40 tries; else the last try (overlap is allowed, as users do)."""
    spot = (0.5, 0.5)
    for _ in range(40):
        spot = (uniform(rng, 0, 1), uniform(rng, 0, 1))
        x, y = _in_unit(spot, radius)
        if all(math.hypot(x - px, y - py) >= radius + pr for px, py, pr in placed):
            break
    return spot


def _sticker_outline(sticker: Sticker) -> Points:
    """The sticker's outline with unit area, centred on the origin."""
    if sticker.shape == "face":
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        points = np.stack([np.cos(t), np.sin(t)], axis=1)
    elif sticker.shape == "star":
        points = star_points(0, 0, 1, sticker.inner, sticker.angle)
    elif sticker.shape == "heart":
        points = heart_points(0, 0, 2)
    else:
        half = sticker.aspect / 2
        points = rounded_rectangle_points(-half, -0.5, half, 0.5, 0.2)
    area = cv2.contourArea(points.astype(np.float32))
    return points / math.sqrt(area)


STICKER_EDGE = 0.05
"""Width of the white die-cut edge, as a share of the sticker's size (sqrt of its area)."""


def stickers(picture: Pixels, layer: Stickers) -> Pixels:
    """The picture with ``layer``'s stickers drawn over it; same size."""
    h, w = picture.shape[:2]
    out = picture.copy()
    for sticker in layer.items:
        unit = _sticker_outline(sticker)
        # Half the edge's width lies outside the shape: shrink the shape so that shape
        # and edge together cover the sticker's share.
        outside = STICKER_EDGE / 2 * cv2.arcLength(unit.astype(np.float32), True)
        scale = math.sqrt(sticker.share * w * h / (1 + outside if sticker.edge else 1))
        half = (unit.max(axis=0) - unit.min(axis=0)) * scale / 2
        cx = half[0] + sticker.centre[0] * max(0.0, w - 2 * half[0])
        cy = half[1] + sticker.centre[1] * max(0.0, h - 2 * half[1])
        points = unit * scale + [cx, cy]
        if sticker.edge:
            outline_polygon(out, points, (255, 255, 255), max(2, round(scale * STICKER_EDGE)))
        fill_polygon(out, points, sticker.fill)
        _sticker_detail(out, sticker, cx, cy, scale)
    return out


def _sticker_detail(out: Pixels, sticker: Sticker, cx: float, cy: float, scale: float) -> None:
    if sticker.shape == "face":
        r = scale / math.sqrt(math.pi)
        for side in (-1, 1):
            circle(out, cx + side * r * 0.35, cy - r * 0.2, r * 0.12, sticker.ink)
        cv2.ellipse(
            out,
            (round(cx), round(cy + r * 0.1)),
            (round(r * 0.5), round(r * 0.4)),
            0,
            20,
            160,
            sticker.ink,
            max(1, round(r * 0.08)),
            cv2.LINE_AA,
        )
    elif sticker.shape == "label":
        height = scale / math.sqrt(sticker.aspect)
        cap = fit_height(sticker.label, height * 0.5, sticker.font, height * sticker.aspect * 0.8)
        x = cx - text_width(sticker.label, cap, sticker.font) / 2
        put_text(out, sticker.label, x, cy - cap / 2, cap, sticker.ink, sticker.font)
    else:  # a highlight, as printed stickers have
        circle(out, cx - scale * 0.12, cy - scale * 0.12, scale * 0.05, (255, 255, 255))
