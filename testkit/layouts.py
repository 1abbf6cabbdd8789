"""The picture laid out anew: a 9:16 reframe over a blurred copy of itself, and one
tile of a 2 x 2 collage.

As in :mod:`testkit.overlays`, each kind is a frozen parameter dataclass with a
``draw(rng)`` class method and a render function; sizes are shares of a fixed
canvas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from testkit.compositing import (
    blend,
    canvas,
    cover,
    fit,
    gaussian,
    paste,
)
from testkit.drawing import (
    RGB,
    Encoding,
    Font,
    chance,
    colour,
    fit_height,
    pick,
    put_text,
    signed,
    text_width,
    uniform,
    words,
)
from testkit.edits import Pixels


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
