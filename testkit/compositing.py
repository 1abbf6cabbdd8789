"""Geometry and compositing for the edit families, overlays and chrome: resizing to
fit or cover a box, pasting, alpha blending, blur, noise, crops and rotations.

Sizes are pixels; canvases are RGB uint8 (H x W x 3). Functions return new pixels
except :func:`paste` and :func:`blend`, which draw in place.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from testkit.drawing import (
    RGB,
)
from testkit.edits import Pixels


def resized(pixels: Pixels, width: int, height: int) -> Pixels:
    """``pixels`` resampled to exactly ``width`` x ``height`` (area averaging when
    shrinking, bilinear when enlarging)."""
    width, height = max(1, width), max(1, height)
    shrinking = width * height < pixels.shape[0] * pixels.shape[1]
    method = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(pixels, (width, height), interpolation=method), dtype=np.uint8)


def fit(pixels: Pixels, width: float, height: float) -> Pixels:
    """The largest aspect-preserving resize of ``pixels`` inside ``width`` x ``height``."""
    h, w = pixels.shape[:2]
    scale = min(width / w, height / h)
    return resized(pixels, round(w * scale), round(h * scale))


def to_width(pixels: Pixels, width: float) -> Pixels:
    h, w = pixels.shape[:2]
    return resized(pixels, round(width), round(h * width / w))


def cover(pixels: Pixels, width: int, height: int) -> Pixels:
    """``pixels`` scaled to cover ``width`` x ``height`` and centre-cropped to it."""
    h, w = pixels.shape[:2]
    scale = max(width / w, height / h)
    big = resized(pixels, max(width, round(w * scale)), max(height, round(h * scale)))
    top, left = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    return np.ascontiguousarray(big[top : top + height, left : left + width])


def canvas(width: int, height: int, fill: RGB) -> Pixels:
    out = np.empty((height, width, 3), dtype=np.uint8)
    out[:] = fill
    return out


def paste(target: Pixels, tile: Pixels, x: int, y: int) -> None:
    """Copy ``tile`` with its top-left at (x, y), clipped to ``target``."""
    th, tw = tile.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(target.shape[1], x + tw), min(target.shape[0], y + th)
    if x1 > x0 and y1 > y0:
        target[y0:y1, x0:x1] = tile[y0 - y : y1 - y, x0 - x : x1 - x]


def blend(target: Pixels, layer: Pixels | RGB, alpha: npt.NDArray[np.float32] | float) -> None:
    """target = (1 - alpha) target + alpha layer, in place; ``alpha`` in [0, 1], a scalar
    or H x W."""
    a = np.asarray(alpha, dtype=np.float32)
    if a.ndim == 2:
        a = a[..., None]
    top = np.asarray(layer, dtype=np.float32)
    mixed = target.astype(np.float32) * (1 - a) + top * a
    target[:] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def gaussian(pixels: Pixels, sigma: float) -> Pixels:
    """Gaussian blur of ``sigma`` pixels; large sigmas blur a reduced copy (same look,
    a fraction of the cost of a kernel hundreds of pixels wide)."""
    if sigma <= 0:
        return pixels.copy()
    h, w = pixels.shape[:2]
    step = max(1.0, sigma / 4)
    if step > 1.5:
        small = resized(pixels, max(2, round(w / step)), max(2, round(h / step)))
        blurred = cv2.GaussianBlur(small, (0, 0), sigma / step)
        return resized(np.asarray(blurred, dtype=np.uint8), w, h)
    return np.asarray(cv2.GaussianBlur(pixels, (0, 0), sigma), dtype=np.uint8)


def add_noise(pixels: Pixels, sigma: float, rng: np.random.Generator) -> Pixels:
    """Gaussian noise of ``sigma`` grey levels, per channel."""
    grain = rng.standard_normal(pixels.shape, dtype=np.float32) * np.float32(sigma)
    # OpenCV adds, rounds and saturates in one pass (numpy needs three arrays).
    return np.asarray(cv2.add(pixels, grain, dtype=cv2.CV_8U), dtype=np.uint8)


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
