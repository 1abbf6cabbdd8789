"""Drawing primitives shared by the edit families and the impostors.

Text in two font systems (OpenCV's Hershey vector fonts and Pillow's built-in
TrueType font, ``ImageFont.load_default(size=...)``), filled shapes, and encoding as an
app would (resizing and blending are in :mod:`testkit.compositing`). Sizes are pixels of the
canvas drawn on; a name or docstring saying "share" means a fraction of a stated
reference length. Canvases are RGB uint8 (H x W x 3) or single-channel uint8 masks
(H x W); every function that draws does so in place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from testkit.edits import Pixels, jpeg, png

RGB = tuple[int, int, int]
Points = npt.NDArray[np.float64]
"""Polygon vertices, N x 2, as (x, y) in pixels."""
T = TypeVar("T")

WORDS: tuple[str, ...] = (
    "summer", "night", "friends", "coffee", "weekend", "city", "lights", "beach", "road",
    "trip", "morning", "vibes", "home", "sunset", "garden", "best", "day", "ever", "new",
    "look", "happy", "birthday", "when", "you", "finally", "see", "it", "my", "dog", "cat",
    "just", "wow", "love", "this", "view", "no", "way", "throwback", "monday", "mood",
    "party", "time", "again", "real", "life", "tiny", "moments", "big", "energy", "who",
    "did", "that", "goals", "lunch", "break", "guess", "what", "found", "out", "today",
)  # fmt: skip
"""Caption vocabulary: short everyday words, ASCII only (Hershey fonts have no more)."""
TLDS: tuple[str, ...] = (".com", ".net", ".org", ".io", ".co.uk", ".de", ".app")

HERSHEY_FACES: tuple[int, ...] = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_COMPLEX_SMALL,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
)
BOLD_FACES: tuple[int, ...] = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
)
"""Hershey faces that still read as blocky capitals when stroked heavily (meme text)."""


# Random draws ----------------------------------------------------------------


def pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    """One of ``options``, uniformly."""
    return options[int(rng.integers(len(options)))]


def chance(rng: np.random.Generator, probability: float) -> bool:
    return bool(rng.random() < probability)


def uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def signed(rng: np.random.Generator, low: float, high: float) -> float:
    """A magnitude in [low, high) with a random sign."""
    return uniform(rng, low, high) * pick(rng, (-1.0, 1.0))


def colour(rng: np.random.Generator, low: int = 0, high: int = 255) -> RGB:
    """Each channel uniform in [low, high]."""
    r, g, b = (int(v) for v in rng.integers(low, high + 1, size=3))
    return r, g, b


def words(rng: np.random.Generator, low: int, high: int) -> str:
    """``low`` to ``high`` (inclusive) words of :data:`WORDS`, space-separated."""
    count = int(rng.integers(low, high + 1))
    return " ".join(pick(rng, WORDS) for _ in range(count))


def username(rng: np.random.Generator) -> str:
    """A plausible handle, e.g. ``sunset.coffee_42``."""
    sep = pick(rng, ("", ".", "_"))
    return f"{pick(rng, WORDS)}{sep}{pick(rng, WORDS)}{pick(rng, ('', str(rng.integers(1, 99))))}"


# Text ------------------------------------------------------------------------


@dataclass(frozen=True)
class Font:
    """A text face: an OpenCV Hershey vector font (``face``), or Pillow's built-in
    TrueType font when ``face`` is None. ``weight`` scales the stroke: 1 regular, up to
    about 2.5 heavy (Pillow's font is emboldened with a stroke of its own colour)."""

    face: int | None
    italic: bool = False
    weight: float = 1.0

    @classmethod
    def draw(cls, rng: np.random.Generator, bold: bool = False) -> Font:
        """A random face; ``bold`` picks heavy, blocky faces (for meme text)."""
        weight = uniform(rng, 1.6, 2.4) if bold else uniform(rng, 0.8, 1.6)
        if chance(rng, 0.4):
            return cls(None, False, weight)
        face = pick(rng, BOLD_FACES if bold else HERSHEY_FACES)
        return cls(face, chance(rng, 0.2) and not bold, weight)


def bold(font: Font) -> Font:
    """``font`` with a heavier stroke (user names, titles)."""
    return dataclasses.replace(font, weight=font.weight + 0.6)


@cache
def _pillow_font(size: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise RuntimeError("Pillow was built without FreeType; load_default(size) needs it")
    return font


@cache
def _pillow_cap_ratio() -> float:
    """Cap height of Pillow's default font per pixel of font size."""
    _, top, _, _ = _pillow_font(100).getbbox("H", anchor="ls")
    return -top / 100


@cache
def _hershey_cap(face: int) -> int:
    """Cap height in pixels of a Hershey face at scale 1."""
    (_, height), _ = cv2.getTextSize("H", face, 1.0, 1)
    return int(height)


def _hershey(font: Font, height: float) -> tuple[int, float, int]:
    """Face flags, scale and stroke thickness for capitals ``height`` pixels tall."""
    assert font.face is not None
    face = font.face | (cv2.FONT_ITALIC if font.italic else 0)
    scale = height / _hershey_cap(font.face)
    return face, scale, max(1, round(height * font.weight / 14))


def _pillow(font: Font, height: float) -> tuple[ImageFont.FreeTypeFont, int]:
    """Pillow font and emboldening stroke for capitals ``height`` pixels tall."""
    size = max(4, round(height / _pillow_cap_ratio()))
    return _pillow_font(size), max(0, round((font.weight - 1) * size / 24))


def text_width(text: str, height: float, font: Font) -> int:
    """Width in pixels of ``text`` drawn with capitals ``height`` pixels tall."""
    if font.face is None:
        face, stroke = _pillow(font, height)
        left, _, right, _ = face.getbbox(text, anchor="ls", stroke_width=stroke)
        return int(right - left)
    hface, scale, thickness = _hershey(font, height)
    (width, _), _ = cv2.getTextSize(text, hface, scale, thickness)
    return int(width)


def fit_height(text: str, height: float, font: Font, max_width: float) -> float:
    """``height``, reduced so that ``text`` is at most ``max_width`` pixels wide."""
    width = text_width(text, height, font)
    return height if width <= max_width else max(4.0, height * max_width / width)


def wrap(text: str, height: float, font: Font, width: float, indent: float = 0) -> list[str]:
    """``text`` split at spaces into lines at most ``width`` pixels wide (the first
    ``indent`` pixels narrower); a single over-long word stays whole on its line."""
    lines: list[str] = []
    for word in text.split():
        room = width - (indent if len(lines) <= 1 else 0)
        if lines and text_width(f"{lines[-1]} {word}", height, font) <= room:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def put_text(
    canvas: npt.NDArray[np.uint8],
    text: str,
    x: float,
    y: float,
    height: float,
    ink: RGB,
    font: Font,
    outline: float = 0,
    outline_ink: RGB = (0, 0, 0),
) -> None:
    """Draw ``text`` with the top-left of its capitals at (x, y) pixels and capitals
    ``height`` pixels tall; ``outline`` > 0 draws an ``outline_ink`` edge that many
    pixels wide around the glyphs first. On a mask only ``ink[0]`` is used."""
    baseline = round(y + height)
    if font.face is None:
        _pillow_text(canvas, text, round(x), baseline, height, ink, font, outline, outline_ink)
        return
    face, scale, thickness = _hershey(font, height)
    org = (round(x), baseline)
    if outline > 0:
        edge = thickness + 2 * max(1, round(outline))
        cv2.putText(canvas, text, org, face, scale, outline_ink, edge, cv2.LINE_AA)
    cv2.putText(canvas, text, org, face, scale, ink, thickness, cv2.LINE_AA)


def _pillow_text(
    canvas: npt.NDArray[np.uint8],
    text: str,
    x: int,
    baseline: int,
    height: float,
    ink: RGB,
    font: Font,
    outline: float,
    outline_ink: RGB,
) -> None:
    # Only the text's box goes through PIL: converting a whole 1080 x 2340 canvas per
    # line of text would dominate the cost of a phone screenshot.
    face, stroke = _pillow(font, height)
    edge = stroke + max(1, round(outline)) if outline > 0 else stroke
    left, top, right, bottom = face.getbbox(text, anchor="ls", stroke_width=edge)
    x0, y0 = max(0, x + int(left) - 2), max(0, baseline + int(top) - 2)
    x1 = min(canvas.shape[1], x + int(right) + 2)
    y1 = min(canvas.shape[0], baseline + int(bottom) + 2)
    if x1 <= x0 or y1 <= y0:
        return
    region = Image.fromarray(np.ascontiguousarray(canvas[y0:y1, x0:x1]))
    draw = ImageDraw.Draw(region)
    mask = canvas.ndim == 2
    at = (x - x0, baseline - y0)
    if outline > 0:
        edge_fill = outline_ink[0] if mask else outline_ink
        draw.text(at, text, font=face, fill=edge_fill, anchor="ls", stroke_width=edge)
    fill = ink[0] if mask else ink
    draw.text(at, text, font=face, fill=fill, anchor="ls", stroke_width=stroke, stroke_fill=fill)
    canvas[y0:y1, x0:x1] = np.asarray(region)


# Shapes ----------------------------------------------------------------------


def fill_polygon(canvas: npt.NDArray[np.uint8], points: Points, ink: RGB) -> None:
    cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], ink, cv2.LINE_AA)


def outline_polygon(canvas: npt.NDArray[np.uint8], points: Points, ink: RGB, width: int) -> None:
    pts = [np.round(points).astype(np.int32)]
    cv2.polylines(canvas, pts, True, ink, max(1, width), cv2.LINE_AA)


def circle(
    canvas: npt.NDArray[np.uint8], cx: float, cy: float, radius: float, ink: RGB, width: int = -1
) -> None:
    """A disc (``width`` -1) or a ring ``width`` pixels wide."""
    centre = (round(cx), round(cy))
    cv2.circle(canvas, centre, max(1, round(radius)), ink, width, cv2.LINE_AA)


def rectangle(
    canvas: npt.NDArray[np.uint8], x0: float, y0: float, x1: float, y1: float, ink: RGB
) -> None:
    """A filled axis-aligned rectangle, corners included, in pixels."""
    cv2.rectangle(canvas, (round(x0), round(y0)), (round(x1) - 1, round(y1) - 1), ink, -1)


def rounded_rectangle(
    canvas: npt.NDArray[np.uint8],
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    radius: float,
    ink: RGB,
) -> None:
    """A filled rectangle whose corners are quarter circles of ``radius`` pixels."""
    fill_polygon(canvas, rounded_rectangle_points(x0, y0, x1, y1, radius), ink)


def rounded_rectangle_points(x0: float, y0: float, x1: float, y1: float, radius: float) -> Points:
    r = max(0.0, min(radius, (x1 - x0) / 2, (y1 - y0) / 2))
    corners = (
        (x1 - r, y0 + r, -90),
        (x1 - r, y1 - r, 0),
        (x0 + r, y1 - r, 90),
        (x0 + r, y0 + r, 180),
    )
    arcs = []
    for cx, cy, start in corners:
        angles = np.radians(np.linspace(start, start + 90, 8))
        arcs.append(np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], axis=1))
    return np.concatenate(arcs)


def star_points(cx: float, cy: float, radius: float, inner: float, angle: float) -> Points:
    """A five-pointed star of outer ``radius`` pixels, inner radius ``inner`` x radius,
    turned by ``angle`` degrees."""
    angles = np.radians(angle - 90 + np.arange(10) * 36)
    radii = np.where(np.arange(10) % 2 == 0, radius, radius * inner)
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)


def heart_points(cx: float, cy: float, size: float) -> Points:
    """A heart about ``size`` pixels wide centred on (cx, cy) (the classic curve
    x = 16 sin^3 t, y = 13 cos t - 5 cos 2t - 2 cos 3t - cos 4t)."""
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)) - 2.5
    return np.stack([cx + x * size / 32, cy + y * size / 32], axis=1)


# Encoding --------------------------------------------------------------------


@dataclass(frozen=True)
class Encoding:
    """How an app writes the upload: PNG, or JPEG at ``quality`` (1-100)."""

    png: bool
    quality: int = 90

    @classmethod
    def draw(
        cls, rng: np.random.Generator, png_share: float = 0.0, quality: tuple[int, int] = (75, 95)
    ) -> Encoding:
        """PNG with probability ``png_share``, else JPEG at a quality in ``quality``
        (inclusive)."""
        return cls(chance(rng, png_share), int(rng.integers(quality[0], quality[1] + 1)))

    def encode(self, pixels: Pixels) -> bytes:
        return png(pixels) if self.png else jpeg(pixels, self.quality)
