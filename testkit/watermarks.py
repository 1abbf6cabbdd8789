"""A watermark over a picture: a handle or site name, tiled or in one place.

As in :mod:`testkit.overlays`, :class:`Watermark` is a frozen parameter dataclass
with a ``draw(rng)`` class method, rendered by :func:`watermark`; its sizes are
shares of the picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from testkit.compositing import (
    blend,
)
from testkit.drawing import (
    RGB,
    TLDS,
    WORDS,
    Encoding,
    Font,
    chance,
    circle,
    colour,
    pick,
    put_text,
    signed,
    text_width,
    uniform,
    username,
)
from testkit.edits import Pixels


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
