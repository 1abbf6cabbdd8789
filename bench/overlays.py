"""Overlays that re-uploads put over or around a picture, one implementation per kind.

Every kind is a frozen parameter dataclass with a ``draw(rng)`` class method, and a
render function ``(picture, params) -> pixels``. The parameters are drawn from the
generator before any pixel is looked at and hold only sizes relative to the picture
(shares) or to a fixed canvas, so "the same overlay" on two different pictures means
the same parameters: the edit families (:mod:`bench.families`) draw one per photo,
and the impostors (:mod:`bench.overlay_impostors`) apply one to two different photos.

Kinds: :class:`Caption`, :class:`Meme`, :class:`Watermark`, :class:`Stickers`,
:class:`Reframe` (9:16 over a blurred copy) and :class:`Collage` (2 x 2); app and
browser screenshots are in :mod:`bench.chrome`. Each carries the
:class:`~bench.drawing.Encoding` an app would write it with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from bench.drawing import (
    RGB,
    TLDS,
    WORDS,
    Encoding,
    Font,
    Points,
    blend,
    canvas,
    chance,
    circle,
    colour,
    cover,
    fill_polygon,
    fit,
    fit_height,
    gaussian,
    heart_points,
    outline_polygon,
    paste,
    pick,
    put_text,
    rounded_rectangle_points,
    signed,
    star_points,
    text_width,
    uniform,
    username,
    words,
)
from bench.edits import Pixels

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


# Watermark -----------------------------------------------------------------------


@dataclass(frozen=True)
class Watermark:
    """Semi-transparent (``opacity`` 0.2-0.5) text or a logo (a ring with an initial)
    beside text, either once in a corner (``size`` = mark width as a share of the
    picture width, 0.15-0.35) or tiled diagonally across the whole picture
    (``size`` = capital height as a share of the picture height, 0.04-0.08, rows
    turned by ``angle`` degrees, 20-45 either sign)."""

    text: str
    logo: bool
    tiled: bool
    corner: str
    size: float
    angle: float
    opacity: float
    ink: RGB
    font: Font
    encoding: Encoding

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Watermark:
        tiled = chance(rng, 0.5)
        text = pick(
            rng,
            (
                f"@{username(rng)}",
                f"{pick(rng, WORDS)}{pick(rng, TLDS)}",
                "SAMPLE",
                f"(c) {pick(rng, WORDS).title()} Studio",
            ),
        )
        return cls(
            text=text,
            logo=chance(rng, 0.4),
            tiled=tiled,
            corner=pick(rng, ("top_left", "top_right", "bottom_left", "bottom_right")),
            size=uniform(rng, 0.04, 0.08) if tiled else uniform(rng, 0.15, 0.35),
            angle=signed(rng, 20, 45),
            opacity=uniform(rng, 0.2, 0.5),
            ink=pick(rng, ((255, 255, 255), (0, 0, 0), (128, 128, 128), colour(rng))),
            font=Font.draw(rng),
            encoding=Encoding.draw(rng, png_share=0.2),
        )


def _mark(mask: npt.NDArray[np.uint8], mark: Watermark, x: float, y: float, cap: float) -> float:
    """Draw the logo and text on ``mask`` at (x, y), capitals ``cap`` px; returns the width."""
    width = 0.0
    if mark.logo:
        r = cap * 1.1
        circle(mask, x + r, y + cap / 2, r, (255, 255, 255), max(1, round(cap / 6)))
        letter = next((c for c in mark.text.replace("(c)", "") if c.isalpha()), "W").upper()
        lw = text_width(letter, cap * 0.9, mark.font)
        put_text(
            mask, letter, x + r - lw / 2, y + cap * 0.05, cap * 0.9, (255, 255, 255), mark.font
        )
        width = 2 * r + cap * 0.6
    put_text(mask, mark.text, x + width, y, cap, (255, 255, 255), mark.font)
    return width + text_width(mark.text, cap, mark.font)


def watermark(picture: Pixels, mark: Watermark) -> Pixels:
    """The picture with ``mark`` blended over it; same size."""
    h, w = picture.shape[:2]
    out = picture.copy()
    if mark.tiled:
        cap = max(6.0, h * mark.size)
        side = math.ceil(math.hypot(w, h)) + 4
        sheet = np.zeros((side, side), dtype=np.uint8)
        row = 0
        for y in np.arange(cap, side, cap * 4):
            x = -cap * 6 * (row % 2)  # stagger alternate rows
            while x < side:
                x += _mark(sheet, mark, x, float(y), cap) + cap * 3
            row += 1
        turn = cv2.getRotationMatrix2D((side / 2, side / 2), mark.angle, 1.0)
        turn[:, 2] -= [(side - w) / 2, (side - h) / 2]
        mask = np.asarray(cv2.warpAffine(sheet, turn, (w, h)), dtype=np.uint8)
    else:
        mask = np.zeros((h, w), dtype=np.uint8)
        probe = _mark(np.zeros((4, 4), dtype=np.uint8), mark, 0, 0, 100)  # width per 100 px cap
        cap = max(6.0, 100 * w * mark.size / probe)
        margin = 0.03 * min(w, h)
        x = margin if "left" in mark.corner else w - margin - w * mark.size
        y = margin if "top" in mark.corner else h - margin - cap * 1.6
        _mark(mask, mark, x, y + cap * 0.3, cap)
    blend(out, mark.ink, mask.astype(np.float32) * (mark.opacity / 255))
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


# 9:16 reframe over a blurred copy ---------------------------------------------


@dataclass(frozen=True)
class Reframe:
    """A 9:16 portrait canvas (1080 x 1920 scaled by ``scale``, 0.4-1.0) whose
    background is the picture enlarged to cover it, blurred with ``sigma`` (15-40
    canvas pixels) and dimmed to ``dim`` (0.55-1.0) of its brightness; the picture
    is fitted to ``width_share`` (1.0, or 0.8-1.0) of the canvas width (less if too
    tall) and centred, or moved by ``offset`` (0.1-0.45 of half the free height, up
    or down; 0 = centred). Optional ``text``: capitals ``text_share`` (0.03-0.06) of the canvas
    width, in the free space above or below the picture or over its lower third,
    optionally on a translucent box."""

    scale: float
    sigma: float
    dim: float
    width_share: float
    offset: float
    text: str
    text_at: str
    text_share: float
    text_box: bool
    ink: RGB
    font: Font
    encoding: Encoding

    @classmethod
    def draw(cls, rng: np.random.Generator, text: bool | None = None) -> Reframe:
        """``text``: force a text overlay on (True) or off (False); None: 50% chance."""
        with_text = chance(rng, 0.5) if text is None else text
        return cls(
            scale=uniform(rng, 0.4, 1.0),
            sigma=uniform(rng, 15, 40),
            dim=uniform(rng, 0.55, 1.0),
            width_share=1.0 if chance(rng, 0.5) else uniform(rng, 0.8, 1.0),
            offset=0.0 if chance(rng, 0.5) else signed(rng, 0.1, 0.45),
            text=words(rng, 2, 6) if with_text else "",
            text_at=pick(rng, ("above", "below", "over")),
            text_share=uniform(rng, 0.03, 0.06),
            text_box=chance(rng, 0.5),
            ink=pick(rng, ((255, 255, 255), (255, 255, 255), (20, 20, 20), colour(rng))),
            font=Font.draw(rng),
            encoding=Encoding.draw(rng, png_share=0.2, quality=(70, 92)),
        )


def reframe_9x16(picture: Pixels, frame: Reframe) -> Pixels:
    """The 9:16 canvas, 432 x 768 to 1080 x 1920 pixels."""
    w, h = round(1080 * frame.scale), round(1920 * frame.scale)
    background = gaussian(cover(picture, w, h), frame.sigma)
    out = np.asarray(np.clip(background.astype(np.float32) * frame.dim, 0, 255), dtype=np.uint8)
    shown = fit(picture, w * frame.width_share, h * 0.9)
    ph, pw = shown.shape[:2]
    free = h - ph
    py = round(free / 2 + frame.offset * free / 2)
    paste(out, shown, (w - pw) // 2, py)
    if frame.text:
        cap = fit_height(frame.text, w * frame.text_share, frame.font, w * 0.86)
        tw = text_width(frame.text, cap, frame.font)
        y = {
            "above": py / 2 - cap / 2,
            "below": (py + ph + h) / 2 - cap / 2,
            "over": py + ph * 0.7,
        }[frame.text_at]
        y = min(max(cap, y), h - 2 * cap)
        x = (w - tw) / 2
        if frame.text_box:
            box = (0, 0, 0) if sum(frame.ink) > 380 else (255, 255, 255)
            region = out[
                max(0, round(y - cap * 0.6)) : round(y + cap * 1.6),
                max(0, round(x - cap * 0.6)) : round(x + tw + cap * 0.6),
            ]
            blend(region, box, 0.55)
        put_text(out, frame.text, x, y, cap, frame.ink, frame.font)
    return out


# 2 x 2 collage -----------------------------------------------------------------


@dataclass(frozen=True)
class Collage:
    """A 2 x 2 grid with the picture in cell ``slot`` (0-3, row-major) and three
    partner photos in the others. Cells are ``cell_width`` (240-540) pixels wide with
    aspect ``aspect`` (width / height; None = the picture's own); tiles are cropped to
    fill the cell (``cover``) or fitted inside it. Gutters are ``gutter`` (0-0.06) of
    the cell width, in colour ``gutter_ink``, around the outside too if ``outer``."""

    slot: int
    cell_width: int
    aspect: float | None
    cover: bool
    gutter: float
    outer: bool
    gutter_ink: RGB
    encoding: Encoding

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Collage:
        return cls(
            slot=int(rng.integers(4)),
            cell_width=int(rng.integers(240, 541)),
            aspect=pick(rng, (None, 1.0, 4 / 3, 3 / 4, 16 / 9)),
            cover=chance(rng, 0.5),
            gutter=0.0 if chance(rng, 0.2) else uniform(rng, 0.005, 0.06),
            outer=chance(rng, 0.5),
            gutter_ink=pick(rng, ((255, 255, 255), (0, 0, 0), colour(rng))),
            encoding=Encoding.draw(rng, png_share=0.3),
        )


def collage_2x2(picture: Pixels, partners: Sequence[Pixels], layout: Collage) -> Pixels:
    """The collage; ``partners`` are the three other tiles in row-major order."""
    if len(partners) != 3:
        raise ValueError(f"a 2 x 2 collage needs 3 partner photos, got {len(partners)}")
    aspect = layout.aspect or picture.shape[1] / picture.shape[0]
    cw = layout.cell_width
    ch = max(8, round(cw / aspect))
    gap = round(cw * layout.gutter)
    edge = gap if layout.outer else 0
    out = canvas(2 * cw + gap + 2 * edge, 2 * ch + gap + 2 * edge, layout.gutter_ink)
    tiles = list(partners)
    tiles.insert(layout.slot, picture)
    for i, tile in enumerate(tiles):
        x0, y0 = edge + (i % 2) * (cw + gap), edge + (i // 2) * (ch + gap)
        if layout.cover:
            paste(out, cover(tile, cw, ch), x0, y0)
        else:
            fitted = fit(tile, cw, ch)
            paste(out, fitted, x0 + (cw - fitted.shape[1]) // 2, y0 + (ch - fitted.shape[0]) // 2)
    return out
